"""The supervisor reports failed components and keeps the rest serving."""

from __future__ import annotations

import io
import signal
import socket
from pathlib import Path

import httpx
import pytest
import redis

from waveform.supervisor import Platform, demo_banner, free_ports


def test_crashed_service_is_reported_and_the_rest_keep_serving(tmp_path: Path) -> None:
    with Platform(
        tmp_path,
        ephemeral=True,
        scale=200,
        components=["tokens", "users", "tracks", "media"],
        heal=False,
    ) as p:
        assert not p.failures
        p.kill("tracks", signal.SIGKILL)
        failure = p.wait_for_failure("tracks")
        assert failure.phase == "runtime" and failure.exit_code == -signal.SIGKILL
        assert "tracks" in failure.describe()
        for name, path in (("users", "/users/u1"), ("media", "/media/t1")):
            token = {"authorization": f"Bearer {p.internal_token(name)}"}
            assert httpx.get(f"{p.url(name)}{path}", headers=token).status_code == 200
        assert sorted(p.running()) == ["media", "tokens", "users"]


def test_component_failing_to_start_is_reported_with_its_stderr(tmp_path: Path) -> None:
    with Platform(
        tmp_path,
        ephemeral=True,
        scale=200,
        components=["users", "media"],
        env={"media": {"WAVEFORM_FAULT_DELAY_MS": "not-a-number"}},
    ) as p:
        failure = p.failures["media"]
        assert failure.phase == "start" and failure.exit_code not in (None, 0)
        assert any("ValueError" in line for line in failure.stderr_tail)
        assert httpx.get(f"{p.url('users')}/healthz").status_code == 200


def test_stop_leaves_no_process_behind(tmp_path: Path) -> None:
    p = Platform(tmp_path, ephemeral=True, scale=200, components=["users"])
    with p:
        proc = p.process("users")
        assert proc is not None and proc.poll() is None
    assert proc.poll() is not None
    assert not p.running()


def test_bff_config_names_every_upstream(tmp_path: Path) -> None:
    p = Platform(tmp_path, ephemeral=True)
    config = p.bff_config("mobile")
    upstreams = config["upstreams"]
    assert isinstance(upstreams, dict) and len(upstreams) == 11  # ten services + tokens
    assert upstreams["catalog"] == p.url("catalog")
    assert config["admin"] == {
        "host": "127.0.0.1",
        "port": int(p.admin_url("mobile").rsplit(":", 1)[1]),
    }
    assert config["listen"] == {"host": "127.0.0.1", "port": int(p.url("mobile").rsplit(":", 1)[1])}


def test_default_ports_and_banner(tmp_path: Path) -> None:
    p = Platform(tmp_path)
    assert p.url("accounts") == "http://127.0.0.1:9001"
    assert p.url("catalog") == "http://127.0.0.1:9010"
    assert p.url("mobile") == "http://127.0.0.1:8081"
    assert p.admin_url("web") == "http://127.0.0.1:8182"
    banner = demo_banner(p)
    assert "/v1/auth/token" in banner and "/v1/home" in banner and "wave-alice" in banner
    assert "open http://127.0.0.1:8082/ in a browser" in banner  # the web client


def test_free_ports_are_distinct() -> None:
    ports = free_ports(12)
    assert len(set(ports)) == 12


def test_port_already_in_use_is_reported_not_mistaken_for_health(tmp_path: Path) -> None:
    p = Platform(tmp_path, ephemeral=True, scale=200, components=["users", "media"])
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", p.ports["media"]))
        squatter.listen()
        with p:
            assert "already in use" in p.failures["media"].describe()
            assert p.process("media") is None
            assert p.running() == ["users"]


def test_a_killed_service_is_restarted_healthy_and_the_restart_reported(tmp_path: Path) -> None:
    log = io.StringIO()
    with Platform(
        tmp_path, ephemeral=True, scale=200, components=["tokens", "users"], log=log
    ) as p:
        p.kill("users", signal.SIGKILL)
        p.wait_for_restart("users")
        token = {"authorization": f"Bearer {p.internal_token('users')}"}
        assert httpx.get(f"{p.url('users')}/users/u1", headers=token).status_code == 200
        assert p.restarts("users") == 1 and "users" not in p.failures
        assert "restarting users in 0.5 s" in log.getvalue()
        assert "supervisor: users is back (restart 1)" in log.getvalue()
        assert "(1 restarts)" in p.table()


def test_a_component_that_crashes_at_once_every_time_is_given_up_on(tmp_path: Path) -> None:
    log = io.StringIO()
    with Platform(
        tmp_path,
        ephemeral=True,
        scale=200,
        components=["users"],
        log=log,
        restart_backoff=(0.1, 0.4),
        give_up_after=3,
    ) as p:
        # From now on every start of users dies at once (its fault config does not parse).
        p.components["users"].env["WAVEFORM_FAULT_DELAY_MS"] = "not-a-number"
        p.kill("users", signal.SIGKILL)
        failure = p.wait_for_give_up("users")
        assert failure.phase == "gave up" and failure.exit_code not in (None, 0)
        assert "giving up on users: it crashed 3 times within 60 s" in log.getvalue()
        assert p.restarts("users") == 0 and not p.is_running("users")
        assert "GAVE UP" in p.table()


def test_a_killed_redis_is_restarted_with_what_was_written_to_it(tmp_path: Path) -> None:
    with Platform(tmp_path, ephemeral=True, scale=200, components=["tokens"], redis=True) as p:
        assert p.redis is not None
        with redis.Redis.from_url(p.redis.url) as r:
            r.set("waveform:test", "kept")
        p.kill("redis", signal.SIGKILL)
        p.wait_for_restart("redis")
        with redis.Redis.from_url(p.redis.url) as r:
            assert r.get("waveform:test") == b"kept"


def test_in_grpc_mode_the_bffs_call_the_services_with_a_proto_over_grpc(tmp_path: Path) -> None:
    p = Platform(tmp_path, ephemeral=True, components=["mobile"], upstreams="grpc")
    upstreams = p.bff_config("mobile")["upstreams"]
    assert isinstance(upstreams, dict)
    assert upstreams["users"] == f"grpc://127.0.0.1:{p.grpc_ports['users']}"
    assert upstreams["stream"] == p.url("stream")


def test_an_unknown_upstream_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="upstreams"):
        Platform(tmp_path, ephemeral=True, components=["mobile"], upstreams="soap")
