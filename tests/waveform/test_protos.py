"""The platform's protos pass buf's lint and break nothing against the committed baseline
(buf-baseline.json beside them: rebuild it with buf build when a change is meant to break).
buf comes from scripts/install-buf, which make runs at install time."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from waveform.protos import ROOT, descriptor_set

BUF = Path(__file__).resolve().parents[2] / "build" / "buf" / "node_modules" / ".bin" / "buf"
pytestmark = pytest.mark.skipif(not BUF.exists(), reason="buf not installed: scripts/install-buf")


def buf(*args: str) -> subprocess.CompletedProcess[str]:
    image = str(descriptor_set())
    argv = [str(BUF), args[0], image, "--path", "waveform", "--config", str(ROOT / "buf.yaml")]
    return subprocess.run([*argv, *args[1:]], capture_output=True, text=True, timeout=60)


def test_the_protos_pass_buf_lint() -> None:
    done = buf("lint")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_protos_break_nothing_against_the_committed_baseline() -> None:
    done = buf("breaking", "--against", str(ROOT / "buf-baseline.json"))
    assert done.returncode == 0, done.stdout + done.stderr
