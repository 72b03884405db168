"""The same BFF served as a real process through RSGI (granian), ASGI (uvicorn, granian) and
tailor's own HTTP/1.1 server answers identically, and never names its server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).parent
SRC = HERE.parents[2] / "src"

SERVERS = {
    "granian-rsgi": ["-m", "granian", "--interface", "rsgi", "--factory", "--no-ws"],
    "granian-asgi": ["-m", "granian", "--interface", "asgi", "--factory", "--no-ws"],
    # uvicorn adds its own "server: uvicorn" unless told not to; that is a deployment flag.
    "uvicorn-asgi": ["-m", "uvicorn", "--factory", "--no-server-header", "--lifespan", "on"],
    # tailor's own server, the default: through tailor.serve.run (see http1_app.py).
    "http1": ["-m", "http1_app"],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(kind: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    args = [
        sys.executable,
        *SERVERS[kind],
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "entry_app:create",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(SRC)])}
    proc = subprocess.Popen(
        args, cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # bounded readiness poll
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            httpx.get(f"{url}/hello/ready", timeout=0.5)
            return proc, url
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{kind} did not become ready")


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    started: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    try:
        for kind in SERVERS:
            started[kind] = _start(kind)
        yield {kind: url for kind, (_, url) in started.items()}
    finally:
        for proc, _ in started.values():
            proc.terminate()
        for proc, _ in started.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


#: A refusal names the request id: every entry point is sent the same one.
SAME_ID = {"x-request-id": "entry-point-0001"}


def _answers(
    servers: dict[str, str], method: str, path: str, **kwargs
) -> dict[str, httpx.Response]:
    return {
        kind: httpx.request(method, f"{url}{path}", timeout=5, **kwargs)
        for kind, url in servers.items()
    }


def _same(answers: dict[str, httpx.Response]) -> tuple[int, dict]:
    seen = {(r.status_code, r.headers.get("content-type"), r.content) for r in answers.values()}
    assert len(seen) == 1, seen
    [(status, _, _)] = seen
    return status, next(iter(answers.values())).json()


def test_a_route_answers_the_same_on_every_entry_point(servers) -> None:
    status, body = _same(_answers(servers, "GET", "/hello/ann", params={"a": "1"}))
    assert status == 200
    assert body == {"hello": "ann", "q": {"a": "1"}}


def test_a_repeated_header_reaches_the_handler_joined_on_every_entry_point(servers) -> None:
    headers = [("x-tag", "a"), ("x-tag", "b"), ("x-other", "c")]
    status, body = _same(_answers(servers, "GET", "/header/x-tag", headers=headers))
    assert (status, body) == (200, {"value": "a, b"})


def test_an_unknown_route_is_the_same_404_on_every_entry_point(servers) -> None:
    # the problem names the request id, the one sent, so bodies compare byte for byte
    answers = _answers(servers, "GET", "/nope", headers=SAME_ID)
    status, body = _same(answers)
    assert status == 404
    assert body["title"] == "Not Found"
    assert all(r.headers["content-type"] == "application/problem+json" for r in answers.values())


def test_an_oversized_body_is_the_same_413_on_every_entry_point(servers) -> None:
    status, _ = _same(_answers(servers, "POST", "/echo", content=b"x" * 100, headers=SAME_ID))
    assert status == 413


def test_a_small_body_is_echoed_the_same_on_every_entry_point(servers) -> None:
    status, body = _same(_answers(servers, "POST", "/echo", content=b"hello"))
    assert (status, body) == (200, {"body": "hello"})


def test_a_chunked_body_is_read_on_every_entry_point(servers) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"ab"
        yield b"cd"

    for kind, url in servers.items():
        response = httpx.post(f"{url}/echo", content=chunks(), timeout=5)
        assert response.json() == {"body": "abcd"}, kind


@pytest.mark.parametrize("path", ["/hello/ann", "/nope", "/leaky"])
def test_no_entry_point_names_its_server(servers, path) -> None:
    for kind, response in _answers(servers, "GET", path).items():
        assert response.headers.get("server", "") == "", (kind, response.headers)
        assert "x-powered-by" not in response.headers, kind
