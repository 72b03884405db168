"""Every BFF's OpenAPI document: committed and current, valid, served, honoured by the running
BFF (schemathesis), and for the public and partner contracts free of breaking changes."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi import checks

from tailor.govern.command import load_bff
from tailor.govern.diff import diff
from tailor.govern.openapi import render
from tailor.openapi import openapi_document
from waiting import serving
from waveform.seed import partner_demo_key, token_client_secret
from waveform.supervisor import BFFS, TLS_BFFS, TOKEN_SECRET_ENV, Platform, free_ports

DOCS = Path(__file__).parents[3] / "docs" / "openapi"
#: Where each BFF serves its document (its profile's openapi.path).
SERVED_AT = {
    "mobile": "/openapi.json",
    "web": "/api/openapi.json",
    "public": "/v1/openapi.json",
    "partner": "/v1/openapi.json",
    "tv": "/openapi.json",
}
#: The contracts third parties build on: a breaking change needs a new version or a
#: deprecation first (docs/openapi.md).
GATED = ("public", "partner")
#: Examples per operation and generation mode: enough to reach every documented answer of
#: the reference BFFs (200, 204, 400, 401, 403, 404, 429), few enough for seconds per BFF.
EXAMPLES = 15
CHECKS = [
    not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


def _generated(bff: str) -> dict[str, Any]:
    return openapi_document(load_bff(f"waveform.bffs.{bff}.app"))


@pytest.mark.parametrize("bff", list(BFFS))
def test_the_committed_document_is_the_one_the_routes_generate(bff: str) -> None:
    committed = DOCS / f"{bff}.json"
    assert committed.read_text() == render(_generated(bff)), (
        f"{committed} is stale: run `make openapi` (python -m tailor.govern openapi "
        f"waveform.bffs.{bff}.app --write {committed.relative_to(DOCS.parents[1])})"
    )


@pytest.mark.parametrize("bff", list(BFFS))
def test_the_document_is_valid_openapi_3_1(bff: str) -> None:
    document = _generated(bff)
    validate(document)
    assert document["openapi"] == "3.1.0"


@pytest.mark.parametrize("bff", GATED)
def test_the_contract_has_no_breaking_change_from_its_baseline(bff: str) -> None:
    baseline = json.loads((DOCS / "baseline" / f"{bff}.json").read_text())
    failing = [str(c) for c in diff(baseline, _generated(bff)) if c.fails]
    assert not failing, (
        "breaking changes to a published contract: add the new shape under a new version "
        "(/v2) and deprecate the old route first (docs/openapi.md)\n" + "\n".join(failing)
    )


def _verify(platform: Platform) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(platform.certs.ca.cert))


@pytest.mark.parametrize("bff", list(BFFS))
def test_the_running_bff_serves_its_generated_document_without_credentials(
    platform: Platform, bff: str
) -> None:
    verify: ssl.SSLContext | bool = _verify(platform) if bff in TLS_BFFS else True
    response = httpx.get(f"{platform.url(bff)}{SERVED_AT[bff]}", verify=verify, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    served = response.json()
    # The running BFF's config adds what the demo deployment sets (the partner's mutual
    # TLS, the web cookie's plain name): the routes and their schemas are the committed ones.
    assert served["paths"] == _generated(bff)["paths"]
    assert served["components"]["schemas"] == _generated(bff)["components"]["schemas"]


# -- schemathesis against each BFF ------------------------------------------------------------


@pytest.fixture(scope="module")
def own_bffs(
    platform: Platform, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The four BFFs again, each in a process of its own on the platform's services: the
    bad credentials schemathesis sends are charged to their own failed-authentication
    quotas, never to those of the BFFs the rest of the suite shares."""
    workdir = tmp_path_factory.mktemp("openapi-bffs")
    ports = free_ports(len(BFFS))
    urls: dict[str, str] = {}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name, port in zip(BFFS, ports, strict=True):
            config = platform.bff_config(name)
            listen = dict(config["listen"])  # type: ignore[call-overload]
            if "tls_port" in listen:  # TLS beside clear text: the shared BFF holds that port
                del listen["tls_port"], listen["tls"]
            config["listen"] = {**listen, "port": port}
            config["admin"] = {"enabled": False}
            path = workdir / f"{name}.json"
            path.write_text(json.dumps(config))
            env = {
                **os.environ,
                TOKEN_SECRET_ENV: token_client_secret(platform.seed, f"bff-{name}"),
            }
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", f"waveform.bffs.{name}", "--config", str(path)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            scheme = "https" if name in TLS_BFFS else "http"
            urls[name] = f"{scheme}://127.0.0.1:{port}"
        for name, url in urls.items():
            serving(url + SERVED_AT[name], 30, verify=_verify(platform))
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


def _credentials(bff: str, url: str, platform: Platform) -> dict[str, str]:
    """What a real client of ``bff`` sends: alice's token, or the demo partner's API key."""
    if bff == "partner":
        return {"x-api-key": partner_demo_key(platform.seed, "p-acme")}
    path = {"mobile": "/v1/auth/token", "web": "/api/auth/token", "public": "/v1/oauth/token",
            "tv": "/v1/auth/token"}  # fmt: skip
    grant = {"grant_type": "password", "username": "alice", "password": "wave-alice"}
    if bff == "public":
        grant["client_id"] = "acme-player"
    response = httpx.post(url + path[bff], json=grant, timeout=10)
    assert response.status_code == 200, response.text
    return {"authorization": f"Bearer {response.json()['access_token']}"}


def _exercise(operation: Any, mode: GenerationMode, call: dict[str, Any]) -> list[str]:
    """Up to EXAMPLES cases of ``operation`` in ``mode``, each called and checked; the
    failures, each once (Hypothesis would stop at the first)."""
    failures: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases on every run: a failure reproduces
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def exercise(case: Any) -> None:
        try:
            case.call_and_validate(checks=CHECKS, **call)
        except Exception as exc:  # collected, so one run reports every failure
            failures.append(f"{operation.label} ({mode.value}): {exc}")

    try:
        exercise()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # no parameter or body to make invalid
    return failures


@pytest.mark.parametrize("bff", list(BFFS))
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    own_bffs: dict[str, str], platform: Platform, bff: str
) -> None:
    url = own_bffs[bff]
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the demo CA below
    extra: dict[str, Any] = {"verify": str(platform.certs.ca.cert)} if bff in TLS_BFFS else {}
    document = session.get(url + SERVED_AT[bff], **extra).json()
    call = {"base_url": url, "session": session, "headers": _credentials(bff, url, platform)}
    failures = [
        failure
        for result in schemathesis.openapi.from_dict(document).get_all_operations()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        for failure in _exercise(result.ok(), mode, {**call, **extra})
    ]
    assert not failures, "\n\n".join(failures[:5])
