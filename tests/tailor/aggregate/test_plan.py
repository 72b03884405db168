"""Plan validation: mistakes in a plan are ConfigErrors at import time, naming the part."""

from __future__ import annotations

import pytest

from tailor import ConfigError, Inputs, Part, Plan
from tailor.aggregate import UnknownPart


def test_duplicate_part_names_are_refused() -> None:
    with pytest.raises(ConfigError) as info:
        Plan((Part("me", "users", "/a", into=dict), Part("me", "users", "/b", into=dict)))
    assert info.value.key == "plan.me"


def test_needing_an_unknown_part_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        Plan((Part("tracks", "catalog", "/t", into=dict, needs=("stream",)),))
    assert info.value.key == "plan.tracks.needs"
    assert "stream" in str(info.value)


def test_a_dependency_cycle_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        Plan(
            (
                Part("a", "s", "/a", into=dict, needs=("c",)),
                Part("b", "s", "/b", into=dict, needs=("a",)),
                Part("c", "s", "/c", into=dict, needs=("b",)),
            )
        )
    assert "cycle" in str(info.value)


def test_a_part_needing_itself_is_a_cycle() -> None:
    with pytest.raises(ConfigError):
        Plan((Part("a", "s", "/a", into=dict, needs=("a",)),))


def test_order_puts_every_part_after_the_parts_it_needs() -> None:
    plan = Plan(
        (
            Part("people", "s", "/p", into=dict, needs=("tracks", "stream")),
            Part("tracks", "s", "/t", into=dict, needs=("stream",)),
            Part("stream", "s", "/s", into=dict),
        )
    )
    assert [p.name for p in plan.order] == ["stream", "tracks", "people"]


def test_plan_lists_the_upstreams_it_calls() -> None:
    plan = Plan((Part("a", "users", "/a", into=dict), Part("b", "catalog", "/b", into=dict)))
    assert plan.upstreams == {"users", "catalog"}


def test_path_template_encodes_each_variable_as_one_segment() -> None:
    part = Part("u", "users", "/users/{id}", into=dict)
    assert part.build_path(Inputs({"id": "a/../b c"}, {})) == "/users/a%2F..%2Fb%20c"


def test_callable_params_read_the_results_of_needed_parts() -> None:
    part = Part("t", "s", "/t", into=dict, params=lambda i: {"owner": i["me"]["id"]})
    assert part.build_params(Inputs({}, {"me": {"id": "u1"}})) == {"owner": "u1"}


def test_reading_the_result_of_a_part_not_needed_names_it_and_the_fix() -> None:
    part = Part("t", "s", "/t", into=dict, params=lambda i: {"owner": i["me"]["id"]})
    with pytest.raises(UnknownPart) as info:
        part.build_params(Inputs({}, {}))
    assert "'me'" in str(info.value) and "needs" in str(info.value)


@pytest.mark.parametrize("timeout_s", [0.0, -1.0, float("nan")])
def test_a_part_without_a_positive_timeout_is_refused(timeout_s: float) -> None:
    with pytest.raises(ConfigError) as info:
        Part("me", "users", "/me", into=dict, timeout_s=timeout_s)
    assert info.value.key == "plan.me.timeout_s"
