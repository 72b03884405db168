"""Calls per route and client on /metrics: the busiest versions by name, the rest as
"other", so the series stay bounded whatever versions clients send."""

from __future__ import annotations

from tailor.clients import ClientInfo
from tailor.clients.usage import MAX_TRACKED, ClientUsage


def client(version: str, platform: str = "ios") -> ClientInfo:
    return ClientInfo("waveform", platform, version, (1, 0, 0, 0))


def samples(usage: ClientUsage) -> dict[tuple[str, str, str], float]:
    family = next(iter(usage.collect()))
    return {
        (s.labels["route"], s.labels["platform"], s.labels["version"]): s.value
        for s in family.samples
        if s.name.endswith("_total")
    }


def count(usage: ClientUsage, route: str, info: ClientInfo, n: int) -> None:
    for _ in range(n):
        usage.route(route).first(info)


def test_only_the_busiest_versions_get_a_label_and_the_rest_are_other() -> None:
    usage = ClientUsage(top=2, deprecations={})
    for version, n in [("4.3", 5), ("4.2", 3), ("4.1", 2), ("4.0", 1)]:
        count(usage, "/v1/home", client(version), n)
    assert samples(usage) == {
        ("/v1/home", "ios", "4.3"): 5,
        ("/v1/home", "ios", "4.2"): 3,
        ("/v1/home", "ios", "other"): 3,
    }


def test_versions_are_ranked_per_route_and_platform() -> None:
    usage = ClientUsage(top=1, deprecations={})
    count(usage, "/v1/home", client("4.3", "ios"), 2)
    count(usage, "/v1/home", client("3.9", "android"), 1)
    count(usage, "/v2/home", client("5.0", "ios"), 1)
    assert set(samples(usage)) == {
        ("/v1/home", "ios", "4.3"),
        ("/v1/home", "android", "3.9"),
        ("/v2/home", "ios", "5.0"),
    }


def test_the_clients_tracked_per_route_are_bounded() -> None:
    usage = ClientUsage(top=3, deprecations={})
    for i in range(MAX_TRACKED + 50):
        usage.route("/v1/home").first(client(f"1.{i}"))
    assert len(usage.route("/v1/home").counts) <= MAX_TRACKED + 1
    assert sum(samples(usage).values()) == MAX_TRACKED + 50
