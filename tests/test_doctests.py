"""Every example in the docstrings of tailor and of waveform runs (doctest), so none can rot."""

from __future__ import annotations

import doctest
import importlib
import io
import pkgutil

import pytest

import tailor
import waveform

MODULES = [
    package.__name__ + name
    for package in (tailor, waveform)
    for name in [
        "",
        *sorted(
            info.name.removeprefix(package.__name__)
            for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
            if not info.name.endswith(".__main__")  # importing it would serve
        ),
    ]
]


def test_every_module_of_the_package_is_collected() -> None:
    assert {"tailor.app", "tailor.params", "tailor.testing", "tailor.upstream.mock",
            "waveform.services.common"} <= set(MODULES)  # fmt: skip


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_in_a_modules_docstrings_run(name: str) -> None:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report = io.StringIO()
    for test in doctest.DocTestFinder().find(importlib.import_module(name)):
        runner.run(test, out=report.write)
    assert runner.failures == 0, report.getvalue()
