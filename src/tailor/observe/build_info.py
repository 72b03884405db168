"""``tailor_build_info{version, python}``: which tailor build a BFF runs, on its admin port.

The dashboard shows it per BFF and highlights version skew; a rollout checks it to know a BFF
came back on the new build. The version is the installed distribution's, unless the
environment says otherwise (``TAILOR_BUILD_VERSION``): a deployment that builds tailor from a
commit names that commit, and a test rolls a platform onto a "new build" without
reinstalling anything.
"""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import CollectorRegistry, Gauge

#: The environment variable that overrides the reported version (rollouts, tests).
VERSION_ENV = "TAILOR_BUILD_VERSION"
#: The metric's name (a rollout and the dashboard read it by this name).
BUILD_INFO = "tailor_build_info"


def build_version() -> str:
    """The tailor build this process runs: ``$TAILOR_BUILD_VERSION``, else the installed
    distribution's version, else ``"unknown"`` (running from a source tree).

    >>> os.environ[VERSION_ENV] = "1.2.3-rc1"
    >>> build_version()
    '1.2.3-rc1'
    >>> del os.environ[VERSION_ENV]
    """
    override = os.environ.get(VERSION_ENV, "").strip()
    if override:
        return override
    try:
        return version("tailor")
    except PackageNotFoundError:
        return "unknown"


def register_build_info(registry: CollectorRegistry) -> Gauge:
    """Add the gauge, always 1, with the build's version and the Python that runs it.

    >>> registry = CollectorRegistry()
    >>> _ = register_build_info(registry)
    >>> registry.get_sample_value(BUILD_INFO, {"version": build_version(),
    ...                                        "python": platform.python_version()})
    1.0
    """
    gauge = Gauge(
        BUILD_INFO,
        "The tailor build this BFF runs (always 1): version and Python version as labels.",
        ["version", "python"],
        registry=registry,
    )
    gauge.labels(build_version(), platform.python_version()).set(1)
    return gauge
