"""Consumer-driven contracts: the committed pacts are what the BFFs' plans make today, every
service verifies each one that names it against its running process, and a service that
renames a field a BFF reads fails that verification."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tailor.govern.__main__ import main
from tailor.govern.command import load_bff
from tailor.govern.contracts import pact_parties, verify, write_pacts
from waveform.contracts import MODULES, SeededServices, interactions
from waveform.supervisor import Platform

PACTS = Path(__file__).parents[3] / "contracts" / "pacts"
PACT_FILES = sorted(PACTS.glob("*.json"))
PROVIDERS = sorted({pact_parties(f)[1] for f in PACT_FILES})


@pytest.fixture(scope="module")
def services(platform: Platform) -> SeededServices:
    return SeededServices(platform)


def test_the_committed_contracts_are_what_the_plans_make_today(
    services: SeededServices, tmp_path: Path
) -> None:
    written = write_pacts(interactions(services), tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in PACTS.glob("*.json"))
    for path in written:
        committed = json.loads((PACTS / path.name).read_text())
        assert json.loads(path.read_text()) == committed, (
            f"{path.name} is stale: python -m waveform.contracts --write contracts/pacts"
        )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_service_verifies_every_contract_that_names_it(
    services: SeededServices, provider: str
) -> None:
    pacts = [f for f in sorted(PACTS.glob("*.json")) if pact_parties(f)[1] == provider]
    verdicts = [verify(f, services) for f in pacts]
    assert [(v.consumer, v.report) for v in verdicts if not v.ok] == []


def _renamed(value: Any, old: str, new: str) -> Any:
    if isinstance(value, dict):
        return {(new if k == old else k): _renamed(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, old, new) for v in value]
    return value


@pytest.fixture
def users_renaming_display_name(services: SeededServices) -> Iterator[str]:
    """The users service as it would answer after renaming ``display_name`` to ``name``: a
    loopback proxy that rewrites its JSON answers."""
    upstream = services.url("users")

    class Renaming(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            request = urllib.request.Request(upstream + self.path, headers=headers)
            with urllib.request.urlopen(request, timeout=10) as answer:
                body = json.dumps(_renamed(json.loads(answer.read()), "display_name", "name"))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Renaming)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_service_renaming_a_consumed_field_fails_verification(
    services: SeededServices, users_renaming_display_name: str
) -> None:
    verdict = verify(PACTS / "mobile-users.json", services, url=users_renaming_display_name)
    assert not verdict.ok
    assert "display_name" in verdict.report


def test_the_contracts_command_lists_every_consumer_and_provider(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["contracts", str(PACTS)]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].split() == ["consumer", "provider", "result"]
    assert [r.split()[:2] for r in rows[1:]] == [list(pact_parties(f)[:2]) for f in PACT_FILES]


def test_every_part_of_every_plan_is_an_interaction_of_its_bffs_contracts() -> None:
    committed = {
        (pact["consumer"]["name"], i["description"])
        for pact in (json.loads(f.read_text()) for f in PACT_FILES)
        for i in pact["interactions"]
    }
    parts = {
        (bff.config.name, f"{route.method} {route.template}: {part.name}")
        for bff in (load_bff(m) for m in MODULES)
        for route in bff.router.routes
        if route.method == "GET"  # a command re-reads with its screen's plan: covered there
        for part in (route.plan.parts if route.plan is not None else ())
    }
    assert parts == committed
