"""The one compiled module: tailor.trace._otlp, the OTLP encoder (docs/observability.md).

Everything else about the distribution is in pyproject.toml; setuptools reads both.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "tailor.trace._otlp",
            ["src/tailor/trace/_otlp.c"],
            extra_compile_args=["-O2", "-Wall", "-Werror=implicit-function-declaration"],
        )
    ]
)
