"""Configuration: every mistake is a ConfigError naming the key; files load as TOML or JSON;
a BFF process with a bad config exits 2 naming the key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tailor import ConfigError, build_config, load_config

PROFILE = {"name": "t", "upstreams": {"users": "http://127.0.0.1:9002"}}


def _key_of(data: dict) -> str:
    with pytest.raises(ConfigError) as info:
        build_config(data)
    assert info.value.key in str(info.value)
    return info.value.key


def test_minimal_config_takes_the_defaults() -> None:
    config = build_config({"name": "t"})
    assert config.listen.port == 8080
    assert config.limits.max_body_bytes == 64 * 1024
    assert config.auth.jwt is None


def test_port_out_of_range_names_listen_port() -> None:
    assert _key_of({"name": "t", "listen": {"port": 70000}}) == "listen.port"


def test_value_of_the_wrong_type_names_its_key() -> None:
    assert _key_of({"name": "t", "limits": {"max_body_bytes": "big"}}) == "limits.max_body_bytes"


def test_non_positive_limit_names_its_key() -> None:
    data = {"name": "t", "limits": {"receive_timeout_s": 0}}
    assert _key_of(data) == "limits.receive_timeout_s"


def test_unknown_key_is_named() -> None:
    assert _key_of({"name": "t", "listen": {"prot": 1}}) == "listen.prot"


def test_unknown_top_level_key_is_named() -> None:
    assert _key_of({"name": "t", "upstream": {}}) == "upstream"


def test_missing_required_key_is_named() -> None:
    assert _key_of({}) == "name"


def test_missing_required_nested_key_is_named() -> None:
    data = {"name": "t", "auth": {"jwt": {"issuer": "i"}}}
    assert _key_of(data) == "auth.jwt.audience"


def test_non_http_upstream_url_names_the_upstream() -> None:
    assert _key_of({"name": "t", "upstreams": {"users": "ftp://x"}}) == "upstreams.users"


def test_upstream_url_with_a_query_names_the_upstream() -> None:
    data = {"name": "t", "upstreams": {"users": "http://127.0.0.1:1/?a=1"}}
    assert _key_of(data) == "upstreams.users"


def test_symmetric_jwt_algorithm_is_refused() -> None:
    data = {"name": "t", "auth": {"jwt": {"issuer": "i", "audience": "a", "algorithm": "HS256"}}}
    assert _key_of(data) == "auth.jwt.algorithm"


def test_toml_file_is_merged_over_the_profile(tmp_path: Path) -> None:
    path = tmp_path / "bff.toml"
    path.write_text('[listen]\nport = 9100\n\n[upstreams]\ntracks = "http://127.0.0.1:9003"\n')
    config = load_config(path, PROFILE)
    assert config.listen.port == 9100
    assert config.upstreams == {"users": "http://127.0.0.1:9002", "tracks": "http://127.0.0.1:9003"}


def test_json_file_is_merged_over_the_profile(tmp_path: Path) -> None:
    path = tmp_path / "bff.json"
    path.write_text(json.dumps({"limits": {"max_body_bytes": 10}}))
    config = load_config(path, PROFILE)
    assert config.limits.max_body_bytes == 10
    assert config.limits.max_header_bytes == 8 * 1024  # the rest of the section keeps defaults


def test_bad_key_in_a_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bff.toml"
    path.write_text("[listen]\nport = -1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, PROFILE)
    assert info.value.key == "listen.port"


def test_unparsable_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bff.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError) as info:
        load_config(path, PROFILE)
    assert info.value.key == "<file>"


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "absent.toml", PROFILE)
    assert info.value.key == "<file>"


def test_bff_process_with_a_bad_key_exits_2_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"listen": {"port": 99999}}))
    done = subprocess.run(
        [sys.executable, "-m", "waveform.bffs.mobile", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "listen.port" in done.stderr


def test_server_workers_out_of_range_is_named() -> None:
    assert _key_of({"name": "t", "server": {"workers": 0}}) == "server.workers"


@pytest.mark.parametrize(
    ("key", "value"), [("backlog", 0), ("max_connections", 0), ("backlog", 1_000_000)]
)
def test_a_server_admission_setting_out_of_range_is_named(key: str, value: int) -> None:
    assert _key_of({"name": "t", "server": {key: value}}) == f"server.{key}"


def test_a_shed_target_lag_below_zero_is_named() -> None:
    config = {"name": "t", "resilience": {"shed": {"target_lag_s": -1}}}
    assert _key_of(config) == "resilience.shed.target_lag_s"


def test_an_unknown_event_loop_is_refused_naming_server_loop() -> None:
    from tailor.config import build_config
    from tailor.errors import ConfigError

    with pytest.raises(ConfigError, match=r"server\.loop"):
        build_config({"name": "m", "server": {"loop": "tokio"}})


@pytest.mark.parametrize("section", ["jwt", "api_key"])
def test_a_verdict_cache_of_size_zero_is_refused_naming_its_key(section: str) -> None:
    from tailor.config import build_config
    from tailor.errors import ConfigError

    auth = (
        {"jwt": {"issuer": "i", "audience": "a", "cache_size": 0}}
        if section == "jwt"
        else {"api_key": {"cache_size": 0}}
    )
    with pytest.raises(ConfigError, match=rf"auth\.{section}\.cache_size"):
        build_config({"name": "m", "auth": auth})


@pytest.mark.parametrize("value", [0, -1])
def test_a_jwks_retry_after_failure_that_is_not_positive_names_its_key(value: float) -> None:
    data = {"name": "t", "auth": {"jwt": {"issuer": "i", "audience": "a",
                                          "jwks_retry_after_failure_s": value}}}  # fmt: skip
    assert _key_of(data) == "auth.jwt.jwks_retry_after_failure_s"


def test_the_admin_listener_takes_a_port_of_the_systems_choosing_by_default() -> None:
    assert build_config({"name": "t"}).admin.port == 0


def test_auth_anonymous_beside_an_authenticator_is_refused_naming_it() -> None:
    data = {"name": "t", "auth": {"anonymous": True, "api_key": {}}}
    assert _key_of(data) == "auth.anonymous"


@pytest.mark.parametrize("value", [0, -1])
def test_a_jwt_max_lifetime_that_is_not_positive_names_its_key(value: float) -> None:
    jwt = {"issuer": "i", "audience": "a", "jwks_upstream": "accounts", "max_lifetime_s": value}
    assert _key_of({"name": "t", "auth": {"jwt": jwt}}) == "auth.jwt.max_lifetime_s"


def test_a_grpc_upstream_without_its_service_names_grpc_services() -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({"name": "x", "upstreams": {"users": "grpc://127.0.0.1:9102"}})
    assert caught.value.key == "grpc.services.users"


def test_an_upstream_of_another_scheme_names_its_key() -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({"name": "x", "upstreams": {"users": "ftp://127.0.0.1:9102"}})
    assert caught.value.key == "upstreams.users"


def test_the_grpc_and_connect_upstreams_are_listed() -> None:
    config = build_config(
        {
            "name": "x",
            "upstreams": {
                "users": "grpc://127.0.0.1:9102",
                "catalog": "connect://127.0.0.1:9010",
                "stream": "http://127.0.0.1:9006",
            },
            "grpc": {"services": {"users": "u.v1.Users", "catalog": "c.v1.Catalog"}},
        }
    )
    assert config.grpc_upstreams == ["catalog", "users"]


def test_a_grpcs_upstream_is_a_grpc_upstream() -> None:
    config = build_config(
        {
            "name": "x",
            "upstreams": {"users": "grpcs://users.internal:443"},
            "grpc": {"services": {"users": "u.v1.Users"}},
        }
    )
    assert config.grpc_upstreams == ["users"]


def _grpc_tls_key(**tls: str) -> str:
    return _key_of({"name": "x", "grpc": {"tls": tls}})


def test_a_grpc_ca_file_that_does_not_exist_names_grpc_tls_ca_file(tmp_path: Path) -> None:
    assert _grpc_tls_key(ca_file=str(tmp_path / "none.pem")) == "grpc.tls.ca_file"


def test_a_grpc_client_key_that_cannot_be_read_names_grpc_tls_key_file(tmp_path: Path) -> None:
    cert = tmp_path / "client.crt"
    cert.write_text("x")
    # A directory: unreadable as a file even to root (who reads any mode).
    key = _grpc_tls_key(cert_file=str(cert), key_file=str(tmp_path))
    assert key == "grpc.tls.key_file"


@pytest.mark.parametrize(
    ("given", "missing"), [("cert_file", "key_file"), ("key_file", "cert_file")]
)
def test_a_grpc_client_certificate_or_key_alone_names_the_missing_one(
    tmp_path: Path, given: str, missing: str
) -> None:
    (tmp_path / given).write_text("x")
    assert _grpc_tls_key(**{given: str(tmp_path / given)}) == f"grpc.tls.{missing}"


@pytest.mark.parametrize(
    ("key", "value"), [("keepalive_interval_s", -1), ("keepalive_timeout_s", 0)]
)
def test_a_grpc_keepalive_out_of_range_names_its_key(key: str, value: float) -> None:
    assert _key_of({"name": "x", "grpc": {key: value}}) == f"grpc.{key}"
