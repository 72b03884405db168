"""SLO specs: typed, and a bad one stops generation naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tailor.errors import ConfigError
from tailor.slo.spec import load, parse

ALERTING = {
    "page": {"webhook_url": "http://127.0.0.1:9095/page"},
    "ticket": {"webhook_url": "http://127.0.0.1:9095/ticket"},
}


def _spec(read: dict[str, Any]) -> dict[str, Any]:
    return {"alerting": ALERTING, "bffs": {"kiosk": {"app": "m", "classes": {"read": read}}}}


def test_a_spec_decodes_into_typed_objectives() -> None:
    spec = parse(_spec({"availability": 0.999, "latency": {"threshold_s": 0.5, "objective": 0.99}}))
    latency = spec.bffs["kiosk"].classes["read"].latency
    assert latency is not None and latency.threshold_s == 0.5


def test_an_objective_of_one_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        parse(_spec({"availability": 1.0}))
    assert caught.value.key == "bffs.kiosk.classes.read.availability"


def test_a_latency_threshold_that_is_no_bucket_bound_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="latency bucket bound") as caught:
        parse(_spec({"latency": {"threshold_s": 0.3, "objective": 0.99}}))
    assert caught.value.key == "bffs.kiosk.classes.read.latency.threshold_s"


def test_a_class_with_no_objective_at_all_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        parse(_spec({}))
    assert caught.value.key == "bffs.kiosk.classes.read"


def test_an_unknown_key_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError) as caught:
        parse(_spec({"availabilty": 0.99}))
    assert "availabilty" in str(caught.value)


def test_a_file_that_is_not_toml_is_refused_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "slo.toml"
    bad.write_text("[alerting\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(bad)
