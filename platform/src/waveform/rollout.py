"""Roll every BFF of a running platform onto a new build of tailor, one BFF at a time.

For each BFF: start the new build beside the old one, on the same listening sockets, admin
port included (the supervisor holds them and hands them to every build it starts:
:class:`waveform.listeners.Listeners`), wait until the admin port answers with the new version
(``tailor_build_info``: the new process is up); then drain the old one
(SIGTERM: it stops accepting and finishes its answers in progress) and watch the new one for
``Gate.window_s``: healthy at every look, and a share of 5xx answers at most
``Gate.max_error_ratio``. The first failure stops the rollout: a new build that never got
healthy is stopped and the old one never stopped serving; one that failed its window is
replaced by the old build again (rolled back). docs/rollout.md.

    python -m waveform rollout --version 1.5.0 [--python /opt/tailor-1.5/bin/python]

>>> result = roll(platform, Build("1.5.0"), Gate(window_s=2))  # doctest: +SKIP
>>> result.ok, [step.bff for step in result.steps]  # doctest: +SKIP
(True, ['mobile', 'web', 'public', 'partner'])
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tailor.observe.build_info import BUILD_INFO, VERSION_ENV
from waveform.control import Emit, Event, call
from waveform.supervisor import BFFS, HOST, Component, Platform, control_path

#: The environment a build sets on the processes it runs (and a rollout replaces).
BUILD_ENV = (VERSION_ENV, "PYTHONPATH")

Say = Callable[[str], None]


@dataclass(frozen=True)
class Build:
    """What a BFF runs: a version (reported as ``tailor_build_info{version}``), the Python
    (a virtualenv's interpreter) and, optionally, a source tree put first on PYTHONPATH.

    >>> Build("1.5.0", pythonpath="/srv/tailor-1.5/src").env({"PYTHONPATH": "/app"})
    {'TAILOR_BUILD_VERSION': '1.5.0', 'PYTHONPATH': '/srv/tailor-1.5/src:/app'}
    """

    version: str
    python: str = sys.executable
    pythonpath: str | None = None

    def env(self, inherited: dict[str, str]) -> dict[str, str]:
        """The build's variables over a process environment ``inherited``."""
        env = {VERSION_ENV: self.version}
        paths = [p for p in (self.pythonpath, inherited.get("PYTHONPATH")) if p]
        if paths:
            env["PYTHONPATH"] = os.pathsep.join(paths)
        return env


@dataclass(frozen=True)
class Gate:
    """When a new build counts as good: healthy within ``health_timeout_s``, then healthy at
    every look (each ``interval_s``) for ``window_s`` after the old one is drained, with at
    most ``max_error_ratio`` of its answers 5xx."""

    window_s: float = 5.0
    max_error_ratio: float = 0.01
    health_timeout_s: float = 20.0
    interval_s: float = 0.25
    drain_timeout_s: float = 20.0


@dataclass
class Step:
    """One BFF's roll: its result, and what its gate window saw."""

    bff: str
    ok: bool
    version: str
    reason: str = ""
    requests: int = 0
    errors: int = 0
    rolled_back: bool = False


@dataclass
class Rollout:
    """The whole rollout: ``ok`` when every BFF asked for is on the new build."""

    version: str
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    @property
    def failed(self) -> Step | None:
        return next((step for step in self.steps if not step.ok), None)


class GateFailed(Exception):
    """A new build did not pass its gate (the message says how)."""


# -- looking at a BFF through its admin port -----------------------------------------------


def healthy(admin_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{admin_url}/healthz", timeout=1) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


@dataclass(frozen=True)
class Scrape:
    """What a BFF's /metrics says about its build and its answers so far."""

    versions: frozenset[str]
    requests: int
    errors: int


def scrape(admin_url: str) -> Scrape:
    """Read ``tailor_build_info`` and ``tailor_requests_total`` (5xx: errors)."""
    with urllib.request.urlopen(f"{admin_url}/metrics", timeout=2) as resp:
        text = resp.read().decode()
    versions: set[str] = set()
    requests = errors = 0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == BUILD_INFO and sample.value == 1:
                versions.add(sample.labels["version"])
            elif sample.name == "tailor_requests_total":
                count = int(sample.value)
                requests += count
                if sample.labels.get("status", "").startswith("5"):
                    errors += count
    return Scrape(frozenset(versions), requests, errors)


# -- rolling -------------------------------------------------------------------------------


def roll(
    platform: Platform,
    build: Build,
    gate: Gate,
    names: Sequence[str] | None = None,
    say: Say = print,
) -> Rollout:
    """Roll ``names`` (default: every BFF running) onto ``build``, one at a time, stopping
    at the first failure."""
    if platform.listeners is None:
        raise ValueError("this platform does not hold its BFFs' sockets (control=False)")
    names = [n for n in BFFS if n in platform.components] if names is None else list(names)
    unknown = [n for n in names if n not in platform.components or n not in BFFS]
    if unknown:
        raise ValueError(f"not BFFs of this platform: {', '.join(unknown)}")
    rollout = Rollout(build.version)
    for name in names:
        step = _roll_one(platform, name, build, gate, say)
        rollout.steps.append(step)
        if not step.ok:
            say(f"rollout stopped at {name}: {step.reason}")
            break
        if not step.reason:  # not skipped as already on the version
            say(
                f"{name}: on {build.version} ({step.requests} requests, "
                f"{step.errors} errors in its window)"
            )
    return rollout


def _roll_one(platform: Platform, name: str, build: Build, gate: Gate, say: Say) -> Step:
    old = platform.components[name]
    try:
        (was,) = scrape(_admin(old)).versions
    except (OSError, ValueError):
        return Step(name, False, build.version, "the running build reports no single version")
    if was == build.version:
        say(f"{name}: already on {build.version}")
        return Step(name, True, build.version, reason="already on it")
    say(f"{name}: starting {build.version} beside {was} (pid {_pid(old)})")
    new = _candidate(old, build)
    try:
        _start(platform, new, build.version, gate)
    except GateFailed as exc:
        _retire(platform, new, gate)
        return Step(name, False, build.version, f"new build not started: {exc}")
    say(f"{name}: {build.version} healthy (pid {_pid(new)}); draining pid {_pid(old)}")
    platform.swap(new)
    _retire(platform, old, gate)
    try:
        requests, errors = _watch(platform, new, gate)
    except GateFailed as exc:
        say(f"{name}: {exc}; rolling back")
        step = Step(name, False, build.version, f"gate failed: {exc}", rolled_back=True)
        _roll_back(platform, old, was, new, gate, step, say)
        return step
    return Step(name, True, build.version, requests=requests, errors=errors)


def _candidate(old: Component, build: Build) -> Component:
    """A process of ``build`` for ``old``'s BFF: the same config and ports (the admin port
    too: the supervisor holds it as it holds the public ones), the build's interpreter and
    environment."""
    env = {k: v for k, v in old.env.items() if k not in BUILD_ENV}
    env.update(build.env({**os.environ, **env}))
    argv = [build.python, *old.argv[1:]]
    return Component(old.name, "bff", old.port, admin_port=old.admin_port, argv=argv, env=env)


def _start(platform: Platform, comp: Component, version: str, gate: Gate) -> None:
    """Start ``comp`` and wait until it answers on the admin port with ``version``.

    The admin port is shared with the build running beside it (one socket, handed to both):
    an answer naming ``version`` is the new process's, its admin listener up, so healthy (a
    rollout never starts a BFF's build beside one of the same version)."""
    try:
        spawned = platform.spawn(comp)
    except OSError as exc:  # e.g. no interpreter at the build's python
        raise GateFailed(f"cannot run {comp.argv[0]}: {exc}") from exc
    if not spawned:
        raise GateFailed("; ".join(comp.stderr) or "it could not start")
    admin = _admin(comp)
    deadline = time.monotonic() + gate.health_timeout_s
    while True:
        assert comp.process is not None
        if platform.stopping:
            raise GateFailed("the platform is stopping")
        code = comp.process.poll()
        if code is not None:
            time.sleep(0.1)  # the stderr drain thread's last lines
            tail = " | ".join(list(comp.stderr)[-3:])
            raise GateFailed(f"it exited with status {code} before it was healthy: {tail}")
        try:
            if version in scrape(admin).versions:
                break
        except (OSError, ValueError):
            pass  # between answers: the old build is draining, or the new one starting
        if time.monotonic() > deadline:
            raise GateFailed(
                f"no answer reporting version {version} within {gate.health_timeout_s:g} s"
            )
        time.sleep(gate.interval_s / 5)
    comp.healthy = comp.supervised = True


def _admin(comp: Component) -> str:
    return f"http://{HOST}:{comp.admin_port}"


def _watch(platform: Platform, comp: Component, gate: Gate) -> tuple[int, int]:
    """Watch ``comp`` for the gate's window: (requests, 5xx answers) it served meanwhile."""
    admin = _admin(comp)
    process = comp.process
    assert process is not None
    first = scrape(admin)
    end = time.monotonic() + gate.window_s
    while time.monotonic() < end:
        time.sleep(gate.interval_s)
        if platform.stopping:
            raise GateFailed("the platform is stopping")
        code = process.poll()
        if code is not None or comp.process is not process:
            raise GateFailed(f"the new build exited (status {code}) within its window")
        if not healthy(admin):
            raise GateFailed("the new build stopped answering /healthz within its window")
    last = scrape(admin)
    requests, errors = last.requests - first.requests, last.errors - first.errors
    if requests and errors / requests > gate.max_error_ratio:
        raise GateFailed(
            f"{errors} of {requests} answers were 5xx (more than {gate.max_error_ratio:.1%})"
        )
    return requests, errors


def _roll_back(
    platform: Platform,
    old: Component,
    version: str,
    new: Component,
    gate: Gate,
    step: Step,
    say: Say,
) -> None:
    """Start ``old``'s build (``version``) again, with its argv, environment and admin port,
    then drain ``new``."""
    if platform.stopping:
        return  # everything is being stopped
    again = Component(
        old.name, "bff", old.port, admin_port=old.admin_port, argv=old.argv, env=dict(old.env)
    )
    try:
        _start(platform, again, version, gate)
    except GateFailed as exc:
        step.reason += f"; the old build did not come back: {exc} (the new one keeps serving)"
        _retire(platform, again, gate)
        return
    platform.swap(again)
    _retire(platform, new, gate)
    say(f"{old.name}: rolled back to {version} (pid {_pid(again)})")


def _retire(platform: Platform, comp: Component, gate: Gate) -> None:
    comp.supervised = False
    platform.retire(comp, gate.drain_timeout_s)


def _pid(comp: Component) -> int | None:
    return comp.process.pid if comp.process is not None else None


# -- the control channel and the command line ----------------------------------------------


def handler(platform: Platform) -> Callable[[Event, Emit], Event]:
    """The control channel's ``rollout`` command on ``platform``."""

    def rollout(request: Event, emit: Emit) -> Event:
        version = request.get("version")
        if not isinstance(version, str) or not version.strip():
            raise ValueError("rollout: 'version' (a non-empty string) is required")
        build = Build(
            version.strip(),
            python=str(request.get("python") or sys.executable),
            pythonpath=request.get("pythonpath") or None,
        )
        gate = Gate(**{k: float(v) for k, v in (request.get("gate") or {}).items()})
        result = roll(platform, build, gate, request.get("bffs"), lambda m: emit({"message": m}))
        failed = result.failed
        return {
            "ok": result.ok,
            "version": result.version,
            "steps": [asdict(step) for step in result.steps],
            "failed": failed.bff if failed else None,
            "reason": failed.reason if failed else "",
            "table": platform.table(),
        }

    return rollout


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m waveform rollout", description=__doc__)
    parser.add_argument("--version", required=True, help="the new build's version")
    parser.add_argument("--python", help="the new build's interpreter (default: this one)")
    parser.add_argument("--pythonpath", help="a source tree put first on the new build's path")
    parser.add_argument("--data-dir", default="var/demo", help="the running platform's")
    parser.add_argument("--bffs", help="comma-separated BFFs to roll (default: all)")
    parser.add_argument("--window", type=float, default=Gate.window_s, help="gate window, s")
    parser.add_argument(
        "--max-error-ratio", type=float, default=Gate.max_error_ratio, help="5xx share allowed"
    )
    args = parser.parse_args(argv)
    request = {
        "command": "rollout",
        "version": args.version,
        "python": args.python,
        "pythonpath": args.pythonpath,
        "bffs": args.bffs.split(",") if args.bffs else None,
        "gate": {"window_s": args.window, "max_error_ratio": args.max_error_ratio},
    }
    try:
        answer = call(control_path(Path(args.data_dir)), request, lambda e: print(e["message"]))
    except ConnectionError as exc:
        print(f"rollout: {exc}", file=sys.stderr)
        return 2
    if answer.get("event") == "error":
        print(f"rollout: {answer.get('message')}", file=sys.stderr)
        return 2
    print(answer["table"])
    if not answer["ok"]:
        print(f"rollout FAILED at {answer['failed']}: {answer['reason']}", file=sys.stderr)
        return 1
    rolled = ", ".join(step["bff"] for step in answer["steps"])
    print(f"rollout done: {rolled} on {answer['version']}")
    return 0
