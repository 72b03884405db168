"""The platform's logs: every component's log is a file under the data directory, each BFF
writes one JSON line per request, and no line anywhere holds a credential or PII."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from waiting import until
from waveform.services import SERVICES
from waveform.supervisor import BFFS, Platform

from .caller import Caller

PII_KEYS = ("email", "date_of_birth", "phone", "password_hash", "last_login_ip")


def _line_with(path: Path, needle: str, within_s: float = 10.0) -> str:
    """The line of ``path`` holding ``needle``, once the supervisor has written it."""
    return until(
        lambda: next((line for line in path.read_text().splitlines() if needle in line), ""),
        within_s, f"a line with {needle} in {path}", pause_s=0.02,
    )  # fmt: skip


def test_every_component_logs_to_a_file_under_the_data_directory(platform: Platform) -> None:
    for name in [*SERVICES, *BFFS]:
        path = platform.log_path(name)
        assert path.parent == platform.data_dir / "logs" and path.exists(), name


def test_a_bff_logs_one_json_line_per_request(platform: Platform, mobile_alice: Caller) -> None:
    response = mobile_alice.get("/v1/home")
    rid = response.headers["x-request-id"]
    line = json.loads(_line_with(platform.log_path("mobile"), rid))
    assert (line["route"], line["status"], line["caller"]) == ("/v1/home", 200, "user")
    assert line["method"] == "GET" and line["duration_ms"] > 0 and len(line["trace_id"]) == 32


def test_a_denial_is_logged_with_its_stage_and_reason(
    platform: Platform, http: httpx.Client
) -> None:
    response = http.get(f"{platform.url('mobile')}/v1/home")
    assert response.status_code == 401
    line = json.loads(_line_with(platform.log_path("mobile"), response.headers["x-request-id"]))
    assert (line["stage"], line["reason"]) == ("authenticate", "a credential is required")


def test_no_log_line_holds_a_credential_or_pii(
    platform: Platform, http: httpx.Client, mobile_alice: Caller, web_alice: Caller
) -> None:
    web = platform.url("web")
    with httpx.Client(timeout=10) as browser:  # its own cookie jar: the shared client keeps none
        session = browser.post(
            f"{web}/api/session",
            json={"username": "bob", "password": "wave-bob"},
            headers={"origin": web},
        )
    cookie = session.headers["set-cookie"].split(";")[0]
    secrets = [
        mobile_alice.token,
        web_alice.token,
        "wave-alice",
        "wave-bob",
        cookie.split("=", 1)[1],
    ]
    last = http.get(f"{web}/api/me", headers={"cookie": cookie})
    mobile_alice.get("/v1/home")
    for user in ("u1", "u2", "u3"):
        record = http.get(f"{platform.url('users')}/users/{user}").json()
        secrets += [str(record[k]) for k in PII_KEYS if record.get(k)]
        account = http.get(f"{platform.url('accounts')}/accounts/{user}").json()
        secrets += [str(account[k]) for k in PII_KEYS if account.get(k)]
    _line_with(platform.log_path("web"), last.headers["x-request-id"])  # the logs are written
    logs = {name: platform.log_path(name).read_text() for name in [*SERVICES, *BFFS]}
    assert sum(len(text.splitlines()) for text in logs.values()) > 10
    for name, text in logs.items():
        for secret in secrets:
            assert secret not in text, f"{name}'s log holds a secret or PII"
