"""examples/hello_bff.py runs as the README shows: ``python hello_bff.py`` serves it on
tailor's own server, and a client reaches it over a socket."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import hello_bff
import httpx
import pytest

SERVING = re.compile(r"serving on 127\.0\.0\.1:(\d+)")


@pytest.fixture(scope="module")
def hello(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The example started as a process, on a port the kernel picks (read from its log)."""
    config = Path(tmp_path_factory.mktemp("hello")) / "hello.json"
    config.write_text(json.dumps({"listen": {"port": 0}, "admin": {"enabled": False}}))
    proc = subprocess.Popen(
        [sys.executable, "hello_bff.py", "--config", str(config)],
        cwd=Path(hello_bff.__file__).parent,  # run from its folder, as the README does
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    try:
        for line in proc.stderr:  # the log, up to the line naming the bound port
            found = SERVING.search(line)
            if found:
                break
        else:
            raise AssertionError(f"hello_bff.py exited with {proc.wait()} before serving")
        threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe open
        yield f"http://127.0.0.1:{found.group(1)}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


def test_the_hello_bff_answers_its_route_over_a_socket(hello: str) -> None:
    response = httpx.get(f"{hello}/hello/ada", params={"greeting": "hi"}, timeout=5)
    assert response.status_code == 200
    assert response.json() == {"greeting": "hi", "name": "ada"}


def test_the_hello_bff_refuses_a_malformed_query_parameter_naming_it(hello: str) -> None:
    response = httpx.get(f"{hello}/hello/ada", params={"greeting": "a b"}, timeout=5)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["parameter"] == "greeting"
