"""``python -m waveform rollout`` on a running platform (real services, BFFs, Redis), under a
bounded load of kept-alive and new connections to every BFF.

The platform is shared by the module; each test reads the versions it starts from.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from load_generator import Load, Target
from platforms import started

from waveform.rollout import Build, Gate, Rollout, roll, scrape
from waveform.seed import partner_demo_key
from waveform.supervisor import BFFS, Platform, control_path

#: The gate a test rolls with: short, and no 5xx allowed.
GATE = ["--window", "1.5", "--max-error-ratio", "0"]
ROLL_TIMEOUT_S = 150


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with started(
        tmp_path_factory,
        "rollout",
        scale=200,
        redis=True,
        tls_listeners=True,
        control=True,
        startup_timeout=60,
    ) as p:
        yield p


def _post(url: str, body: bytes, content_type: str) -> dict[str, str]:
    request = urllib.request.Request(url, data=body, headers={"content-type": content_type})
    with urllib.request.urlopen(request, timeout=10) as resp:
        answer: dict[str, str] = json.loads(resp.read())
    return answer


def _login(platform: Platform, bff: str, path: str) -> dict[str, str]:
    body = json.dumps({"grant_type": "password", "username": "alice", "password": "wave-alice"})
    token = _post(f"{platform.url(bff)}{path}", body.encode(), "application/json")
    return {"authorization": f"Bearer {token['access_token']}"}


def _targets(platform: Platform) -> list[Target]:
    """One authenticated route per BFF, each through its aggregation to the services."""
    app = _post(
        f"{platform.url('public')}/v1/oauth/token",
        b"grant_type=client_credentials&client_id=acme-player&client_secret=acme-secret",
        "application/x-www-form-urlencoded",
    )
    tls = ssl.create_default_context(cafile=str(platform.certs.ca.cert))
    key = {"x-api-key": partner_demo_key(platform.seed, "p-acme")}
    ports = platform.ports
    return [
        Target("mobile", ports["mobile"], "/v1/home", _login(platform, "mobile", "/v1/auth/token")),
        Target("web", ports["web"], "/api/me", _login(platform, "web", "/api/auth/token")),
        Target("public", ports["public"], "/v1/tracks/t1",
               {"authorization": f"Bearer {app['access_token']}"}),
        Target("partner", ports["partner"], "/v1/tracks/t1", key, tls),
    ]  # fmt: skip


def _versions(platform: Platform) -> dict[str, frozenset[str]]:
    return {name: scrape(platform.admin_url(name)).versions for name in BFFS}


def _rollout(platform: Platform, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "waveform", "rollout", "--data-dir", str(platform.data_dir)]
    return subprocess.run(
        [*argv, *GATE, *args], capture_output=True, text=True, timeout=ROLL_TIMEOUT_S
    )


def _report(load: Load) -> str:
    per_bff = ", ".join(f"{name} {t.ok + t.failed}" for name, t in load.tallies.items())
    retried = sum(t.retried for t in load.tallies.values())
    return f"requests: {load.total} ({per_bff}); failed {load.failed}; keep-alive retries {retried}"


def test_the_platform_serves_its_control_channel_under_its_data_directory(
    platform: Platform,
) -> None:
    path = control_path(platform.data_dir)
    assert path.is_socket()
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_a_rollout_under_load_moves_every_bff_to_the_new_build_with_no_failed_request(
    platform: Platform,
) -> None:
    version = "9.1.0-roll"
    admin = {name: platform.admin_url(name) for name in BFFS}
    with Load(_targets(platform)) as load:
        load.wait_for(more=5)
        done = _rollout(platform, "--version", version)
        load.wait_for(more=5)  # and it still flows
    print(done.stdout, done.stderr, _report(load), sep="\n")
    assert done.returncode == 0, done.stdout + done.stderr
    for name in BFFS:
        assert f"{name}: on {version}" in done.stdout
    assert _versions(platform) == {name: frozenset({version}) for name in BFFS}
    assert {name: platform.admin_url(name) for name in BFFS} == admin  # scrapers keep theirs
    assert load.failed == 0, {n: t.reasons for n, t in load.tallies.items()}
    assert all(t.ok > 0 for t in load.tallies.values())
    assert not platform.failures, [f.describe() for f in platform.failures.values()]


def test_a_build_that_fails_its_health_gate_stops_the_rollout_and_the_old_build_keeps_serving(
    platform: Platform, tmp_path: Path
) -> None:
    broken = tmp_path / "broken-build"
    (broken / "tailor").mkdir(parents=True)
    (broken / "tailor" / "__init__.py").write_text('raise SystemExit("this build is broken")\n')
    before = _versions(platform)
    with Load(_targets(platform)) as load:
        load.wait_for(more=5)
        done = _rollout(platform, "--version", "9.2.0-broken", "--pythonpath", str(broken))
        load.wait_for(more=5)  # and it still flows
    print(done.stdout, done.stderr, _report(load), sep="\n")
    assert done.returncode == 1, done.stdout + done.stderr
    first = next(iter(BFFS))
    assert f"rollout FAILED at {first}: new build not started" in done.stderr
    assert "this build is broken" in done.stderr
    assert "starting 9.2.0-broken" not in done.stdout.split(f"rollout stopped at {first}")[-1]
    assert _versions(platform) == before
    assert load.failed == 0, {n: t.reasons for n, t in load.tallies.items()}


#: A build whose every call to a service fails (as a transport bug would): it starts and is
#: healthy, then answers 5xx.
_FAILING_CALLS = """
from tailor.errors import UpstreamUnavailable
from tailor.upstream.client import UpstreamClient


async def _call(self, upstream, *args, **kwargs):
    raise UpstreamUnavailable(upstream, "this build cannot call anything")


UpstreamClient._call = _call
"""


def test_a_build_that_fails_its_error_rate_gate_is_rolled_back_and_the_old_build_serves(
    platform: Platform, tmp_path: Path
) -> None:
    failing = tmp_path / "failing-build"
    failing.mkdir()
    (failing / "sitecustomize.py").write_text(_FAILING_CALLS)
    before = _versions(platform)
    with Load(_targets(platform)[:1]) as load:  # mobile, which the failing build answers 5xx
        load.wait_for(more=5)
        done = _rollout(
            platform, "--version", "9.3.0-failing", "--pythonpath", str(failing), "--bffs", "mobile"
        )
        failed_meanwhile = load.failed
        load.wait_for(more=5)  # served again, by the old build
        stop_failed = load.failed
    print(done.stdout, done.stderr, _report(load), sep="\n")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "rollout FAILED at mobile: gate failed:" in done.stderr
    assert "answers were 5xx" in done.stderr
    assert f"mobile: rolled back to {sorted(before['mobile'])[0]}" in done.stdout
    assert _versions(platform) == before
    assert failed_meanwhile > 0  # the gate saw what the clients saw
    assert stop_failed == failed_meanwhile  # and nothing failed once rolled back


def test_a_bff_already_on_the_version_is_left_alone(platform: Platform) -> None:
    (version,) = _versions(platform)["mobile"]
    process = platform.process("mobile")
    done = _rollout(platform, "--version", version, "--bffs", "mobile")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"mobile: already on {version}" in done.stdout
    assert platform.process("mobile") is process and platform.is_running("mobile")


def test_stopping_the_platform_ends_a_rollout_in_progress(
    tmp_path: Path,
) -> None:
    hangs = tmp_path / "hanging-python"  # a build whose BFF never comes up
    hangs.write_text("#!/bin/sh\nwhile :; do sleep 1; done\n")
    hangs.chmod(0o755)
    said: list[str] = []
    started = threading.Event()

    def say(message: str) -> None:
        said.append(message)
        if "starting" in message:
            started.set()

    results: list[Rollout] = []
    p = Platform(tmp_path / "data", ephemeral=True, components=["public"], control=True)
    with p:
        assert not p.failures, [f.describe() for f in p.failures.values()]
        build = Build("9.4.0-hangs", python=str(hangs))
        runner = threading.Thread(
            target=lambda: results.append(roll(p, build, Gate(health_timeout_s=300), say=say))
        )
        runner.start()
        assert started.wait(30)
    runner.join(30)  # the platform stopped: the rollout did not wait out its 300 s
    assert not runner.is_alive()
    (step,) = results[0].steps
    assert step.reason == "new build not started: the platform is stopping"
