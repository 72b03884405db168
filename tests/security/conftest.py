"""The security suite's fixtures: the whole platform (with Redis) as real processes, tokens
signed with the accounts service's real key (to prove each claim check on its own, not just
signature checks), an echo upstream, and helpers that assert an RFC 9457 denial.

Every test here is one attack; it passes when the attack is refused."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tailor.config import deep_merge
from waveform.seed import partner_demo_key
from waveform.supervisor import Platform, _die_with_parent, free_ports

SCALE = 300
ISSUER = "waveform-accounts"


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data_dir = tmp_path_factory.mktemp("security-platform")
    with Platform(data_dir, ephemeral=True, scale=SCALE, redis=True, startup_timeout=40) as p:
        assert not p.failures, [f.describe() for f in p.failures.values()]
        yield p


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def assert_denied(response: httpx.Response, status: int) -> dict[str, Any]:
    """A problem+json with ``status`` and no stack trace; returns the body without its
    ``request_id`` (so two denials can be compared for sameness)."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert "Traceback" not in response.text and 'File "' not in response.text
    problem.pop("request_id", None)
    return problem


# -- credentials -----------------------------------------------------------------------------


def login(http: httpx.Client, base: str, path: str, username: str, **extra: str) -> dict[str, Any]:
    response = http.post(
        f"{base}{path}",
        json={"grant_type": "password", "username": username, "password": f"wave-{username}",
              **extra},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return dict(response.json())


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def mobile_token(platform: Platform, http: httpx.Client) -> str:
    return str(login(http, platform.url("mobile"), "/v1/auth/token", "alice")["access_token"])


@pytest.fixture(scope="session")
def web_token(platform: Platform, http: httpx.Client) -> str:
    return str(login(http, platform.url("web"), "/api/auth/token", "alice")["access_token"])


@pytest.fixture(scope="session")
def public_user_token(platform: Platform, http: httpx.Client) -> str:
    body = login(http, platform.url("public"), "/v1/oauth/token", "alice", client_id="acme-player")
    return str(body["access_token"])


def app_token(http: httpx.Client, platform: Platform, client_id: str, secret: str) -> str:
    response = http.post(
        f"{platform.url('public')}/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id,
              "client_secret": secret},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


class AccountsKey:
    """The accounts service's own signing key, read from its data dir: lets a test mint a
    token that is correctly signed but wrong in exactly one claim."""

    def __init__(self, platform: Platform, http: httpx.Client) -> None:
        pem = (platform.data_dir / "accounts-signing-key.pem").read_bytes()
        key = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        self.private = key
        self.public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        jwks = http.get(
            f"{platform.url('accounts')}/.well-known/jwks.json",
            headers=bearer(platform.internal_token("accounts")),
        ).json()
        n = key.public_key().public_numbers().n
        import base64

        for entry in jwks["keys"]:
            raw = base64.urlsafe_b64decode(entry["n"] + "=" * (-len(entry["n"]) % 4))
            if int.from_bytes(raw, "big") == n:
                self.kid = entry["kid"]
                break
        else:
            raise AssertionError("the key file is not in the JWKS")

    def claims(self, audience: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        base: dict[str, Any] = {
            "iss": ISSUER, "aud": audience, "sub": "u1", "iat": now, "nbf": now,
            "exp": now + 600, "scope": "user", "client_id": "waveform-ios", "jti": "t",
        }  # fmt: skip
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    def sign(self, audience: str, *, headers: dict[str, Any] | None = None, **claims: Any) -> str:
        return jwt.encode(
            self.claims(audience, **claims),
            self.private,
            algorithm="RS256",
            headers={"kid": self.kid, **(headers or {})},
        )


@pytest.fixture(scope="session")
def accounts_key(platform: Platform, http: httpx.Client) -> AccountsKey:
    return AccountsKey(platform, http)


# -- partners --------------------------------------------------------------------------------


def partner_client(platform: Platform, cert: Path | None = None, key: Path | None = None,
                   ) -> httpx.Client:  # fmt: skip
    """An https client trusting the demo CA, presenting a client certificate if given."""
    context = ssl.create_default_context(cafile=str(platform.certs.ca.cert))
    if cert is not None and key is not None:
        context.load_cert_chain(str(cert), str(key))
    return httpx.Client(verify=context, timeout=10)


@pytest.fixture(scope="session")
def acme_key(platform: Platform) -> str:
    return partner_demo_key(platform.seed, "p-acme")


# -- an echo upstream and a listener that must stay silent -------------------------------------


class Echo:
    """A loopback HTTP server that records every request's headers and answers with a body
    every consumed struct of the BFFs can decode."""

    BODY = json.dumps({"id": "u2", "username": "echo", "display_name": "Echo",
                       "avatar_url": "x", "country": "DE", "items": []}).encode()  # fmt: skip

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        echo = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                echo.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(Echo.BODY)))
                self.end_headers()
                self.wfile.write(Echo.BODY)

            do_POST = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SilentListener:
    """A listening socket that nobody should ever connect to (a ``jku`` / ``x5u`` target).
    ``connections()`` counts what is waiting in its backlog, without blocking."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/jwks.json"

    def connections(self) -> int:
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def silent() -> Iterator[SilentListener]:
    listener = SilentListener()
    yield listener
    listener.close()


class ExtraBFF:
    """One more instance of a platform BFF as its own process, with config overrides (another
    web instance sharing Redis, a mobile BFF whose services are an echo, or one with a small
    quota)."""

    def __init__(
        self,
        platform: Platform,
        name: str,
        upstreams: dict[str, str] | None = None,
        overrides: dict[str, Any] | None = None,
    ):
        port, admin = free_ports(2)
        config = deep_merge(platform.bff_config(name), overrides or {})
        config["listen"] = {"host": "127.0.0.1", "port": port}
        config["admin"] = {"host": "127.0.0.1", "port": admin}
        if upstreams:
            config["upstreams"] = {**dict(config["upstreams"]), **upstreams}  # type: ignore[arg-type]
        path = platform.data_dir / f"bff-{name}-extra-{port}.json"
        path.write_text(json.dumps(config))
        env = {**platform.components[name].env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"waveform.bffs.{name}", "--config", str(path)],
            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
            # Ends with the test run even when it is killed before teardown (a timeout).
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        # Its stderr is read to the end (the platform's BFFs log a line per request): a pipe
        # nobody reads would block the BFF once full.
        self.tail: list[str] = []
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._drainer.join(timeout=5)  # the pipe's last lines: why it exited
                raise AssertionError("".join(self.tail)[-2000:])
            try:
                if httpx.get(f"http://127.0.0.1:{admin}/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.close()
        raise AssertionError(f"the extra {name} BFF did not become healthy")

    def _drain(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.tail.append(line.decode(errors="replace"))

    def close(self) -> None:
        # The whole group: granian's workers are children of the process we started.
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def second_web(platform: Platform) -> Iterator[ExtraBFF]:
    bff = ExtraBFF(platform, "web")
    yield bff
    bff.close()


@pytest.fixture(scope="session")
def echo() -> Iterator[Echo]:
    server = Echo()
    yield server
    server.close()


@pytest.fixture(scope="session")
def echoed_mobile(platform: Platform, echo: Echo) -> Iterator[ExtraBFF]:
    """A mobile BFF whose data services are the echo (accounts and tokens stay real)."""
    services = ("users", "tracks", "playlists", "social", "stream", "recommendations", "catalog")
    bff = ExtraBFF(platform, "mobile", {s: echo.url for s in services})
    yield bff
    bff.close()
