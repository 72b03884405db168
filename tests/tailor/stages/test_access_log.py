"""The access log: one JSON line per request with what finds it again and nothing of the
caller's; a denial names the stage that answered and why."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from harness import AUDIENCE, ISSUER, bearer, call, jwks, sign

from tailor import Request, Response, json_response
from tailor.config import deep_merge
from tailor.stages.access_log import LOGGER

ON = {"logs": {"access": True}}


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def json(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger(LOGGER)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def _jwt(accounts_url: str) -> dict[str, Any]:
    jwt = {"issuer": ISSUER, "audience": AUDIENCE, "jwks_upstream": "accounts"}
    return {"auth": {"jwt": jwt}, "upstreams": {"accounts": accounts_url}, **ON}


def _bff(make_bff, config: dict[str, Any] | None = None):
    bff = make_bff(deep_merge(ON, config or {}))

    @bff.get("/open/{id}", auth=False)
    async def open_(request: Request) -> Response:
        return json_response({})

    return bff


async def test_each_request_writes_one_json_line(make_bff, lines: Lines) -> None:
    bff = _bff(make_bff)
    response = await call(bff, "GET", "/open/u1")
    [line] = lines.json()
    assert line["request_id"] == response.header("x-request-id")
    assert (line["method"], line["route"], line["status"]) == ("GET", "/open/{id}", 200)
    assert line["caller"] == "anonymous" and line["duration_ms"] >= 0
    assert "stage" not in line and "degraded" not in line


async def test_a_traced_request_logs_its_trace_id(make_bff, lines: Lines) -> None:
    bff = _bff(make_bff, {"tracing": {"endpoint": "http://127.0.0.1:9/v1/traces"}})
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    await call(bff, "GET", "/open/u1", headers={"traceparent": f"00-{trace}-{'1' * 16}-00"})
    assert lines.json()[0]["trace_id"] == trace


async def test_a_denial_names_the_stage_that_answered_and_why(
    make_bff, upstream, lines: Lines
) -> None:
    bff = make_bff(_jwt(upstream.url))

    @bff.get("/me")
    async def me(request: Request) -> Response:
        return json_response({})

    await call(bff, "GET", "/me")
    await call(bff, "GET", "/nowhere")
    denied, missing = lines.json()
    assert (denied["status"], denied["stage"]) == (401, "authenticate")
    assert denied["reason"] == "a credential is required"
    assert (missing["status"], missing["stage"], missing["route"]) == (404, "route", "<unmatched>")


async def test_an_authenticated_caller_is_logged_by_kind_never_by_who(
    make_bff, upstream, lines: Lines
) -> None:
    upstream.script("GET", "/.well-known/jwks.json", json=jwks("k1"))
    bff = make_bff(_jwt(upstream.url))

    @bff.get("/me")
    async def me(request: Request) -> Response:
        return json_response({})

    token = sign(sub="alice@example.com")
    await call(
        bff,
        "GET",
        "/me",
        query={"email": "bob@example.com", "password": "hunter2"},
        headers={**bearer(token), "cookie": "session=s3cr3t-cookie"},
    )
    [raw] = lines.lines
    assert json.loads(raw)["caller"] == "user"
    for secret in (token, "alice@example.com", "bob@example.com", "hunter2", "s3cr3t-cookie"):
        assert secret not in raw


async def test_access_logs_are_off_unless_asked_for(make_bff, lines: Lines) -> None:
    bff = make_bff()

    @bff.get("/open", auth=False)
    async def open_(request: Request) -> Response:
        return json_response({})

    await call(bff, "GET", "/open")
    assert "AccessLogStage" not in bff.stages and lines.lines == []


async def test_without_a_handler_of_the_applications_the_line_goes_to_stderr(
    make_bff, capsys: pytest.CaptureFixture[str]
) -> None:
    bff = _bff(make_bff)
    response = await call(bff, "GET", "/open/u1")
    [raw] = capsys.readouterr().err.splitlines()
    assert json.loads(raw)["request_id"] == response.header("x-request-id")
