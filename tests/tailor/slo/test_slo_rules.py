"""Rules and routing from a spec: classes taken from the BFF, selectors exact, and the
``python -m tailor slo`` command (write, check, bad spec)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tailor.errors import ConfigError
from tailor.govern.command import load_bff
from tailor.observe.metrics import Metrics
from tailor.slo.cli import main
from tailor.slo.rules import ALERTS, availability_ratio, classes_of, latency_ratio
from tailor.slo.spec import parse

HERE = Path(__file__).parent
MODULE = "slo_bff"
OBJECTIVE = {"availability": 0.999}
SPEC = f"""
[alerting]
page = {{ webhook_url = "http://127.0.0.1:9095/page" }}
ticket = {{ webhook_url = "http://127.0.0.1:9095/ticket" }}

[bffs.kiosk]
app = "{MODULE}"
[bffs.kiosk.classes]
read = {{ availability = 0.999, latency = {{ threshold_s = 0.25, objective = 0.99 }} }}
write = {{ availability = 0.99 }}
auth = {{ availability = 0.999 }}
"""


@pytest.fixture(autouse=True)
def _importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HERE))


def _objectives(classes: dict[str, Any]) -> Any:
    alerting = {"page": {"webhook_url": "http://h/p"}, "ticket": {"webhook_url": "http://h/t"}}
    spec = parse({"alerting": alerting, "bffs": {"kiosk": {"app": MODULE, "classes": classes}}})
    return spec.bffs["kiosk"]


def test_route_classes_come_from_the_bffs_profile_and_methods() -> None:
    groups = classes_of(
        "kiosk", load_bff(MODULE), _objectives(dict.fromkeys(("read", "write", "auth"), OBJECTIVE))
    )
    assert {g.route_class: g.routes for g in groups} == {
        "read": (("GET", "/v1/feed.json"), ("GET", "/v1/items/{id}")),
        "write": (("POST", "/v1/items"),),
        "auth": (("POST", "/v1/login"),),
    }


def test_a_route_class_without_objectives_is_refused() -> None:
    with pytest.raises(ConfigError, match="'auth' has no objectives"):
        classes_of("kiosk", load_bff(MODULE), _objectives({"read": OBJECTIVE, "write": OBJECTIVE}))


def test_objectives_for_a_class_with_no_route_are_refused_naming_it() -> None:
    classes = dict.fromkeys(("read", "write", "auth", "admin"), OBJECTIVE)
    with pytest.raises(ConfigError) as caught:
        classes_of("kiosk", load_bff(MODULE), _objectives(classes))
    assert caught.value.key == "bffs.kiosk.classes.admin"


def _route_regex(expr: str) -> re.Pattern[str]:
    """The first route matcher of a PromQL expression, as the regex Prometheus compiles."""
    found = re.search(r'route=~"((?:[^"\\]|\\.)*)"', expr)
    assert found is not None
    return re.compile(found.group(1).replace("\\\\", "\\"))


def test_a_class_selector_matches_its_templates_and_nothing_else() -> None:
    groups = classes_of(
        "kiosk", load_bff(MODULE), _objectives(dict.fromkeys(("read", "write", "auth"), OBJECTIVE))
    )
    read = _route_regex(availability_ratio(groups[0], "5m"))
    assert read.fullmatch("/v1/items/{id}") and read.fullmatch("/v1/feed.json")
    assert not read.fullmatch("/v1/feedxjson") and not read.fullmatch("/v1/items")


def test_latency_counts_requests_slower_than_the_bucket_bound_as_written() -> None:
    groups = classes_of(
        "kiosk", load_bff(MODULE), _objectives(dict.fromkeys(("read", "write", "auth"), OBJECTIVE))
    )
    assert 'le="0.25"' in latency_ratio(groups[0], 0.25, "1h")
    assert 'le="1.0"' in latency_ratio(groups[0], 1.0, "1h")


def test_the_command_writes_rules_for_every_class_and_sli(tmp_path: Path) -> None:
    spec = tmp_path / "slo.toml"
    spec.write_text(SPEC)
    assert main([str(spec), "--out", str(tmp_path)]) == 0
    groups = yaml.safe_load((tmp_path / "prometheus/slo.yml").read_text())["groups"]
    budgets = {
        (r["labels"]["route_class"], r["labels"]["slo"]): r["expr"]
        for r in groups[0]["rules"]
        if r.get("record") == "tailor:slo_error_budget"
    }
    assert budgets == {
        ("read", "availability"): "vector(0.001)",
        ("read", "latency"): "vector(0.01)",
        ("write", "availability"): "vector(0.01)",
        ("auth", "availability"): "vector(0.001)",
    }
    assert [r["alert"] for r in groups[-1]["rules"]] == [a.name for a in ALERTS]


def test_the_prometheus_config_scrapes_the_profiles_admin_port_as_the_job(tmp_path: Path) -> None:
    spec = tmp_path / "slo.toml"
    spec.write_text(SPEC)
    assert main([str(spec), "--out", str(tmp_path)]) == 0
    config = yaml.safe_load((tmp_path / "prometheus/prometheus.yml").read_text())
    assert config["scrape_configs"] == [
        {"job_name": "kiosk", "static_configs": [{"targets": ["127.0.0.1:8199"]}]}
    ]


def test_check_fails_on_a_stale_file_and_passes_once_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "slo.toml"
    spec.write_text(SPEC)
    assert main([str(spec), "--out", str(tmp_path), "--check"]) == 1
    assert "alertmanager.yml is out of date" in capsys.readouterr().err
    assert main([str(spec), "--out", str(tmp_path)]) == 0
    assert main([str(spec), "--out", str(tmp_path), "--check"]) == 0


def test_a_bad_spec_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "slo.toml"
    spec.write_text(SPEC.replace("write = { availability = 0.99 }", "write = { availability = 2 }"))
    assert main([str(spec), "--out", str(tmp_path)]) == 2
    assert "bffs.kiosk.classes.write.availability" in capsys.readouterr().err
    assert not (tmp_path / "alertmanager.yml").exists()


def test_the_rules_read_series_a_bff_really_exports_with_the_labels_they_match() -> None:
    metrics = Metrics("kiosk")
    metrics.requests.series("/v1/items/{id}", "GET", 503).record(0.3)
    exposed = generate_latest(metrics.registry).decode()
    samples = [s for f in text_string_to_metric_families(exposed) for s in f.samples]
    groups = classes_of(
        "kiosk", load_bff(MODULE), _objectives(dict.fromkeys(("read", "write", "auth"), OBJECTIVE))
    )
    wanted = {
        "tailor_requests_total": {"route", "method", "status"},
        "tailor_request_duration_seconds_bucket": {"route", "le"},
        "tailor_request_duration_seconds_count": {"route"},
    }
    for name, labels in wanted.items():
        assert any(s.name == name and set(s.labels) == labels for s in samples), name
        assert name in availability_ratio(groups[0], "5m") + latency_ratio(groups[0], 0.25, "5m")
    le = re.search(r'le="([^"]+)"', latency_ratio(groups[0], 0.25, "5m"))
    assert le is not None
    assert any(s.labels.get("le") == le.group(1) for s in samples)
