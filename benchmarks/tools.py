"""The tools a run needs (nginx and its echo module, wrk, a C compiler for the open-loop
generator, node + the peer's npm packages) and the machine facts printed next to the numbers."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

NODE_DIR = Path(__file__).parent / "peers" / "node"
#: the module's ``echo_sleep`` holds each answer of the latency scenario's upstream
ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")
APT_PACKAGES = [
    "nginx-light",
    "libnginx-mod-http-echo",
    "wrk",
    "gcc",
    "libc6-dev",
    "nghttp2-client",
]
#: the latency scenario's open-loop generator, compiled on first use into BUILD_DIR
OPENLOOP_SOURCE = Path(__file__).parent / "peers" / "openloop.c"
BUILD_DIR = Path(__file__).parent / ".build"
CFLAGS = ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror"]


class MissingTool(SystemExit):
    """A tool is missing and could not be installed: say exactly what to install."""


def _say(text: str) -> None:
    print(f"bench: {text}", flush=True)


def _missing_apt() -> list[str]:
    missing = [tool for tool in ("nginx", "wrk", "cc", "h2load") if shutil.which(tool) is None]
    return missing + ([] if ECHO_MODULE.is_file() else [f"the nginx echo module ({ECHO_MODULE})"])


def ensure_tools() -> None:
    """nginx, its echo module, wrk, h2load and a C compiler from apt (installed when root), node and
    npm, the peer's packages, and the open-loop generator compiled."""
    missing = _missing_apt()
    if missing:
        if os.geteuid() == 0 and shutil.which("apt-get"):
            _say(f"installing {' '.join(APT_PACKAGES)} (missing: {', '.join(missing)})")
            subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
            subprocess.run(
                ["apt-get", "install", "-y", "-q", *APT_PACKAGES],
                check=True,
                stdout=subprocess.DEVNULL,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            )
        missing = _missing_apt()
        if missing:
            raise MissingTool(
                f"bench: missing {', '.join(missing)}; install them with\n"
                f"    sudo apt-get install -y {' '.join(APT_PACKAGES)}"
            )
    for tool in ("node", "npm", "taskset"):
        if shutil.which(tool) is None:
            hint = "util-linux" if tool == "taskset" else "nodejs npm (Node >= 20)"
            raise MissingTool(f"bench: missing {tool}; install {hint}")
    if not (NODE_DIR / "node_modules").is_dir():
        _say("npm ci in benchmarks/peers/node")
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR,
            check=True,
        )
    openloop_binary()  # a compile error shows now, not after the closed-loop scenarios


def openloop_binary() -> Path:
    """benchmarks/peers/openloop.c compiled, once per version of the source and flags (the
    file name carries their hash, so an edit rebuilds and an unchanged source never does)."""
    key = hashlib.sha256(OPENLOOP_SOURCE.read_bytes() + " ".join(CFLAGS).encode()).hexdigest()
    exe = BUILD_DIR / f"openloop-{key[:16]}"
    if exe.is_file():
        return exe
    BUILD_DIR.mkdir(exist_ok=True)
    # built under a name of its own, then renamed: a concurrent run never sees half a binary
    tmp = exe.with_name(f"{exe.name}.{os.getpid()}.tmp")
    done = subprocess.run(
        ["cc", *CFLAGS, "-o", str(tmp), str(OPENLOOP_SOURCE)], capture_output=True, text=True
    )
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise MissingTool(f"bench: compiling {OPENLOOP_SOURCE} failed:\n{done.stderr}")
    os.replace(tmp, exe)
    for old in BUILD_DIR.glob("openloop-*"):  # earlier versions' builds
        if old != exe and not old.name.endswith(".tmp"):
            old.unlink(missing_ok=True)
    return exe


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0].strip() if text else "?"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _pkg(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def _node_pkg(name: str) -> str:
    try:
        data = json.loads((NODE_DIR / "node_modules" / name / "package.json").read_text())
        return str(data["version"])
    except (OSError, KeyError, ValueError):
        return "?"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews the numbers."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def machine_facts() -> dict[str, str]:
    return {
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "node": _version(["node", "--version"]),
        "nginx": _version(["nginx", "-v"]).removeprefix("nginx version: "),
        "wrk": _version(["wrk", "--version"]).split(" [")[0],
        "tailor": _pkg("tailor"),
        "granian": _pkg("granian"),
        "httptools": _pkg("httptools"),
        "uvloop": _pkg("uvloop"),
        "msgspec": _pkg("msgspec"),
        "fastapi": _pkg("fastapi"),
        "pydantic": _pkg("pydantic"),
        "httpx": _pkg("httpx"),
        "aiohttp": _pkg("aiohttp"),
        "uvicorn": _pkg("uvicorn"),
        "fastify": _node_pkg("fastify"),
        "undici": _node_pkg("undici"),
    }
