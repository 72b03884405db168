"""Consumer-driven contracts (Pact V4) from a BFF's plans and consumed structs.

Each part of each route's plan is one interaction: the request the part makes for example
variables (its path, query and headers, computed by the part itself), and the answer it
needs, which is the part's consumed struct: every field it decodes, matched by type, with a
real answer of the provider as the example. The provider state names the world the examples
come from and the caller they are seen by. A provider verifies each contract that names it
against its running process (:func:`verify`); a field it renamed or dropped fails there, not
in production.

    python -m tailor.govern contracts contracts/pacts                       # the contracts
    python -m tailor.govern contracts contracts/pacts --verify waveform.contracts:providers

The second form verifies every contract against the providers the context manager yields and
prints the matrix, consumer x provider x result, like a broker's can-i-deploy; it exits 1
unless every contract passed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import msgspec

from tailor.aggregate.plan import NO_FALLBACK, Inputs
from tailor.govern.command import Command
from tailor.routing import Route

#: What a contract's metadata says about how it was made (``subject``: the example caller).
NAMESPACE = "tailor"

#: Fetch one example answer: (upstream, path, query, headers) -> the JSON body of a 200.
Fetch = Callable[[str, str, Mapping[str, str | int], Sequence[tuple[str, str]]], bytes]


@dataclass(frozen=True, slots=True)
class Interaction:
    """One part's call and the answer it needs, for one route of one BFF."""

    consumer: str
    provider: str
    description: str
    state: str
    state_params: Mapping[str, str]
    path: str
    query: Mapping[str, str]
    headers: Sequence[tuple[str, str]]
    example: msgspec.Struct


def plan_interactions(
    consumer: str,
    route: Route,
    variables: Mapping[str, str],
    fetch: Fetch,
    *,
    state: str,
    state_params: Mapping[str, str],
) -> list[Interaction]:
    """The interactions of ``route``'s plan, run part by part in its order with ``variables``;
    ``fetch`` gives each call's example answer, which the parts after it read. A part that
    decides to make no call (its params are ``None``) has no interaction."""
    assert route.plan is not None, "only a route with a plan has parts"
    results: dict[str, Any] = {}
    inputs = Inputs(variables, results)
    found = []
    for part in route.plan.order:
        params = part.build_params(inputs)
        if params is None:
            results[part.name] = None if part.fallback is NO_FALLBACK else part.fallback
            continue
        path = part.build_path(inputs)
        headers = tuple(part.headers(inputs)) if part.headers is not None else ()
        value = msgspec.json.decode(fetch(part.upstream, path, params, headers), type=part.into)
        results[part.name] = value
        if isinstance(value, msgspec.Struct):
            found.append(
                Interaction(
                    consumer,
                    part.upstream,
                    f"{route.method} {route.template}: {part.name}",
                    state,
                    dict(state_params),
                    path,
                    {k: str(v) for k, v in params.items()},
                    headers,
                    value,
                )
            )
    return found


def expected_body(value: Any) -> Any:
    """The answer a consumer needs, as Pact matchers: every field of the struct it decodes,
    matched by type (``like``); a list by its first item, and at least one (``each_like``).
    ``None`` values are left out: the consumer reads them as absent."""
    from pact import match

    if isinstance(value, msgspec.Struct):
        return {
            name: expected_body(v)
            for name in value.__struct_fields__
            if (v := getattr(value, name)) is not None
        }
    if isinstance(value, list):
        return match.each_like(expected_body(value[0]), min=1) if value else match.type([])
    return match.like(value)


def write_pacts(interactions: Sequence[Interaction], directory: Path) -> list[Path]:
    """One V4 pact file per consumer and provider, replaced whole; their paths."""
    from pact import Pact

    pairs: dict[tuple[str, str], list[Interaction]] = {}
    for i in interactions:
        pairs.setdefault((i.consumer, i.provider), []).append(i)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for (consumer, provider), items in sorted(pairs.items()):
        pact = Pact(consumer, provider).with_specification("V4")
        subjects = sorted({i.state_params.get("subject", "") for i in items})
        pact.with_metadata(NAMESPACE, {"subject": ",".join(subjects)})
        for i in items:
            (
                pact.upon_receiving(i.description)
                .given(i.state, dict(i.state_params))
                .with_request("GET", i.path)
                .with_query_parameters(dict(i.query))
                .with_headers(list(i.headers), "Request")
                .will_respond_with(200)
                .with_body(expected_body(i.example), "application/json")
            )
        target = directory / f"{consumer}-{provider}.json"
        target.unlink(missing_ok=True)
        pact.write_file(directory, overwrite=True)
        written.append(target)
    return written


# -- verification ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """One contract's verification: ``ok``, or what failed (the verifier's report)."""

    consumer: str
    provider: str
    ok: bool
    report: str = ""


class Providers(Protocol):
    """Where each provider runs and how the verifier reaches it as the contract's caller."""

    def url(self, provider: str) -> str: ...

    def headers(self, provider: str, subject: str) -> Mapping[str, str]: ...

    def state(self, state: str, params: Mapping[str, Any]) -> None: ...


def pact_parties(pact_file: Path) -> tuple[str, str, str]:
    """(consumer, provider, example subject) of a pact file."""
    data = json.loads(pact_file.read_text())
    subject = data.get("metadata", {}).get(NAMESPACE, {}).get("subject", "")
    return data["consumer"]["name"], data["provider"]["name"], subject


def verify(pact_file: Path, providers: Providers, *, url: str | None = None) -> Verdict:
    """Replay ``pact_file``'s interactions against its provider (at ``url`` when given), each
    after its provider state is set up by ``providers.state``."""
    from urllib.parse import urlsplit

    from pact import Verifier

    consumer, provider, subject = pact_parties(pact_file)
    base = url or providers.url(provider)
    # The verifier's host must be the one it connects to: it sends that as its address.
    verifier = Verifier(provider, host=urlsplit(base).hostname).add_transport(url=base)
    verifier.add_source(pact_file)
    verifier.set_request_timeout(30_000)  # a slow answer is not a broken contract
    verifier.add_custom_headers(dict(providers.headers(provider, subject)))

    def set_up(state: str, parameters: dict[str, Any] | None) -> None:
        providers.state(state, parameters or {})  # pact passes arguments by these names

    verifier.state_handler(set_up, teardown=False)
    try:
        verifier.verify()
    except RuntimeError:
        return Verdict(consumer, provider, False, verifier.output(strip_ansi=True))
    return Verdict(consumer, provider, True)


def matrix(verdicts: Sequence[Verdict]) -> str:
    """The can-i-deploy table: one row per consumer and provider, and its result."""
    rows = [("consumer", "provider", "result")] + [
        (v.consumer, v.provider, "verified" if v.ok else "FAILED") for v in verdicts
    ]
    widths = [max(len(r[c]) for r in rows) for c in range(3)]
    lines = ("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
    return "\n".join(line.rstrip() for line in lines)


def _providers(target: str) -> AbstractContextManager[Providers]:
    module, _, name = target.partition(":")
    made: AbstractContextManager[Providers] = getattr(importlib.import_module(module), name)()
    return made


def pact_files(directory: Path) -> Iterator[Path]:
    return iter(sorted(directory.glob("*.json")))


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pacts", type=Path, help="the directory of pact files")
    parser.add_argument("--verify", metavar="TARGET", help="module:callable yielding Providers")


def _run(args: argparse.Namespace) -> int:
    files = list(pact_files(args.pacts))
    if args.verify is None:
        parties = [pact_parties(f)[:2] for f in files]
        print(matrix([Verdict(c, p, False) for c, p in parties]).replace("FAILED", "-"))
        return 0
    with _providers(args.verify) as providers:
        verdicts = [verify(f, providers) for f in files]
    print(matrix(verdicts))
    for v in verdicts:
        if not v.ok:
            print(f"\n{v.consumer} -> {v.provider}:\n{v.report}", file=sys.stderr)
    return 0 if all(v.ok for v in verdicts) else 1


COMMAND = Command(
    "contracts", "list the Pact contracts, or verify them and print the matrix", _configure, _run
)


__all__ = [
    "Fetch",
    "Interaction",
    "Providers",
    "Verdict",
    "expected_body",
    "matrix",
    "plan_interactions",
    "verify",
    "write_pacts",
]
