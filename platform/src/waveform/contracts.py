"""The platform's consumer-driven contracts: each BFF's plans, run part by part against the
seeded services for an example caller, written as Pact V4 files under ``contracts/pacts``.

    python -m waveform.contracts --write contracts/pacts       # (re)generate the contracts
    python -m tailor.govern contracts contracts/pacts --verify waveform.contracts:providers

Examples use the seed's fixtures (stable for every seed and scale): alice (u1) and her
playlist p1, bob's public track t1 and bob (u2); the partner Acme (p-acme) and its track t1.
The provider state is "the seeded world": a provider verifies a contract once it was seeded
with the same seed and scale (the state handler checks that), and the verifier calls it with
an internal token about the example caller, as the BFF would.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tailor.app import BFF
from tailor.govern.command import load_bff
from tailor.govern.contracts import Fetch, Interaction, plan_interactions, write_pacts
from waveform.supervisor import BFFS, Platform

STATE = "the seeded world"
PACTS = Path("contracts/pacts")
#: Each BFF as ``python -m tailor.govern`` loads it: built from its profile, not started.
MODULES = tuple(f"waveform.bffs.{name}.app" for name in BFFS)

#: Per BFF: the example caller's variables, and each route's own (its path parameters).
EXAMPLES: dict[str, tuple[dict[str, str], dict[str, dict[str, str]]]] = {
    "mobile": (
        {"user_id": "u1"},
        {"/v1/tracks/{id}": {"id": "t1"}, "/v1/users/{id}": {"id": "u2"},
         "/v1/playlists/{id}": {"id": "p1"}},
    ),
    "web": (
        {"user_id": "u1", "cursor": ""},
        {"/api/tracks/{id}": {"id": "t1"}, "/api/users/{id}": {"id": "u2"},
         "/api/playlists/{id}": {"id": "p1"}},
    ),
    "public": (
        {"user_id": "u1", "kind": "user"},
        {"/v1/tracks/{id}": {"id": "t1"}, "/v1/users/{id}": {"id": "u2"},
         "/v1/playlists/{id}": {"id": "p1"},
         "/v1/catalog/tracks/{track_id}": {"track_id": "t1"},
         "/v1/catalog/tracks": {"ids": "t1,t3"}},
    ),
    "partner": (
        {"partner_id": "p-acme", "limit": "50", "cursor": ""},
        {"/v1/tracks/{id}": {"id": "t1"}},
    ),
    "tv": ({"user_id": "u1"}, {"/v1/screens/tracks/{id}": {"id": "t1"}}),
}  # fmt: skip


class SeededServices:
    """The services of a running platform as contract providers (tailor.govern.contracts)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._tokens: dict[tuple[str, str], str] = {}

    def url(self, provider: str) -> str:
        return self.platform.url(provider)

    def headers(self, provider: str, subject: str) -> Mapping[str, str]:
        key = (provider, subject)
        if key not in self._tokens:
            self._tokens[key] = self.platform.internal_token(provider, subject)
        return {"authorization": f"Bearer {self._tokens[key]}"}

    def state(self, state: str, params: Mapping[str, Any]) -> None:
        """Set up ``state``: the services were seeded at start, so check it is this world."""
        if state != STATE:
            raise ValueError(f"unknown provider state {state!r}")
        world = {"seed": str(self.platform.seed), "scale": str(self.platform.scale)}
        wanted = {k: str(params.get(k)) for k in world}
        if wanted != world:
            raise ValueError(f"the contract needs the world {wanted}, the provider has {world}")

    def fetch(self, subject: str) -> Fetch:
        """Example answers as ``subject`` sees them: the call the BFF would make, with an
        internal token about that caller."""

        def get(
            upstream: str,
            path: str,
            params: Mapping[str, str | int],
            headers: Sequence[tuple[str, str]],
        ) -> bytes:
            query = f"?{urlencode(params)}" if params else ""
            request = urllib.request.Request(
                f"{self.url(upstream)}{path}{query}",
                headers={**dict(headers), **self.headers(upstream, subject)},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                body: bytes = response.read()
            return body

        return get


def interactions(services: SeededServices, built: Sequence[BFF] | None = None) -> list[Interaction]:
    """Every part of every route's plan of every BFF, for its example caller."""
    found: list[Interaction] = []
    for bff in built if built is not None else [load_bff(m) for m in MODULES]:
        name = bff.config.name
        caller, per_route = EXAMPLES[name]
        subject = caller.get("user_id") or caller["partner_id"]
        params = {"seed": str(services.platform.seed), "scale": str(services.platform.scale),
                  "subject": subject}  # fmt: skip
        for route in bff.router.routes:
            # A command route's plan is its screen's (the answer after a playlist edit is the
            # playlist screen): the GET route's interactions cover it.
            if route.plan is None or route.method != "GET":
                continue
            variables = {**caller, **per_route.get(route.template, {})}
            found += plan_interactions(
                name, route, variables, services.fetch(subject),
                state=STATE, state_params=params,
            )  # fmt: skip
    return found


@contextmanager
def providers() -> Iterator[SeededServices]:
    """The seeded services on free loopback ports, for ``tailor.govern contracts --verify``."""
    with (
        tempfile.TemporaryDirectory(prefix="waveform-contracts-") as data_dir,
        Platform(data_dir, components="services", ephemeral=True) as platform,
    ):
        yield SeededServices(platform)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m waveform.contracts", description=__doc__)
    parser.add_argument("--write", type=Path, default=PACTS, help="the directory of pact files")
    args = parser.parse_args(argv)
    with providers() as services:
        written = write_pacts(interactions(services), args.write)
    print(json.dumps([str(p) for p in written], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
