"""``tailor.serve.run.main`` as a real process (through ``python -m http1_app``): a BFF whose
route no authenticator covers stops startup with status 2 and one message naming the route,
before any worker starts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SRC = HERE.parents[2] / "src"


def test_a_route_no_authenticator_covers_stops_startup_with_status_2_naming_it() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["--port", str(port), "--workers", "2", "main_app:unauthenticated"]
    done = subprocess.run(
        [sys.executable, "-m", "http1_app", *args],
        cwd=HERE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(SRC)])},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr.count("route GET /v1/me requires authentication") == 1
    assert "Traceback" not in done.stderr
