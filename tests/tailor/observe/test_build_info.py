"""Build info: every BFF's metrics say which tailor build it runs."""

from __future__ import annotations

import platform
from importlib.metadata import version

import pytest

from tailor.observe.build_info import BUILD_INFO, VERSION_ENV
from tailor.observe.metrics import Metrics


def _labels(metrics: Metrics) -> dict[str, str]:
    for family in metrics.registry.collect():
        if family.name == BUILD_INFO:
            (sample,) = family.samples
            assert sample.value == 1.0
            return dict(sample.labels)
    raise AssertionError(f"{BUILD_INFO} is not exposed")


def test_build_info_reports_the_installed_distribution_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(VERSION_ENV, raising=False)
    assert _labels(Metrics("mobile")) == {
        "version": version("tailor"),
        "python": platform.python_version(),
    }


def test_build_info_version_is_overridden_by_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(VERSION_ENV, "2.0.0-canary")
    assert _labels(Metrics("mobile"))["version"] == "2.0.0-canary"
