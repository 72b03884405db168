"""Reading W3C trace context: a valid traceparent is continued, anything else is no parent
(the stage then starts a new trace); a malformed tracestate is dropped."""

from __future__ import annotations

import pytest

from tailor.trace._otlp import trace_headers
from tailor.trace.context import parse_traceparent, valid_tracestate

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


def test_a_valid_traceparent_names_the_trace_the_parent_and_the_sampled_flag() -> None:
    parent = parse_traceparent(f"00-{TRACE}-{SPAN}-01")
    assert parent == (TRACE, SPAN, True)


def test_an_unsampled_flag_is_read_as_not_sampled() -> None:
    parent = parse_traceparent(f"00-{TRACE}-{SPAN}-00")
    assert parent is not None and parent.sampled is False


def test_a_later_version_with_more_fields_is_still_read() -> None:
    assert parse_traceparent(f"01-{TRACE}-{SPAN}-01-what-comes-next") == (TRACE, SPAN, True)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        f"00-{TRACE.upper()}-{SPAN}-01",  # upper-case hex
        f"ff-{TRACE}-{SPAN}-01",  # version ff is invalid
        f"00-{'0' * 32}-{SPAN}-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent id
        f"00-{TRACE}-{SPAN}-01-extra",  # version 00 has exactly four fields
        f"00-{TRACE[:-1]}-{SPAN}-01",  # short trace id
        f"00-{TRACE}-{SPAN}-0x",  # flags not hex
        f"00_{TRACE}_{SPAN}_01",  # wrong separators
    ],
)
def test_an_invalid_traceparent_gives_no_parent(value: str) -> None:
    assert parse_traceparent(value) is None


def test_a_wellformed_tracestate_is_passed_on() -> None:
    assert valid_tracestate("vendor=abc, other@sys=x-y") == "vendor=abc,other@sys=x-y"


@pytest.mark.parametrize(
    "value", ["no-equals-sign", "UPPER=1", "k=v\n", "a=1," * 33, "k=" + "v" * 600]
)
def test_a_malformed_tracestate_is_dropped(value: str) -> None:
    assert valid_tracestate(value) == ""


@pytest.mark.parametrize("sampled", [False, True])
def test_a_traceparent_written_is_read_back(sampled: bool) -> None:
    [(name, value)] = trace_headers(TRACE, SPAN, sampled, "")
    assert name == "traceparent" and parse_traceparent(value) == (TRACE, SPAN, sampled)


def test_a_tracestate_is_written_after_the_traceparent_when_there_is_one() -> None:
    state = "vendor=abc"
    assert trace_headers(TRACE, SPAN, False, state) == (
        ("traceparent", f"00-{TRACE}-{SPAN}-00"),
        ("tracestate", state),
    )
