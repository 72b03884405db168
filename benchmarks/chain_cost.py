"""Instructions per stage of a chain of ten links, by how a link finishes a ready response.

    python -m benchmarks.chain_cost            # needs valgrind

Each shape is run under ``valgrind --tool=callgrind`` twice, with 2,000 and 12,000 calls of a
chain of ten links over a handler that answers at once; the difference divided by 100,000 is
the cost of one link. Shapes: ``pass`` (a link that only hands on), ``inline`` (checks for a
ready response and calls its finishing function itself), ``then`` (the same through
:func:`tailor.chain.then`), ``try`` (a ``try`` around the next link, inline), ``rescue``
(through :func:`tailor.chain.rescue` in a link) and ``partial`` (``partial(rescue, ...)`` as the
link, as the errors stage builds it). docs/benchmarks.md quotes the figures.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Callable
from functools import partial

from tailor.chain import Chain, Outcome, rescue, then
from tailor.http import Request, Response

LINKS = 10
_COLLECTED = re.compile(r"Collected : (\d+)")
_READY = Response(200)


def _bottom(request: Request) -> Outcome:
    return _READY


def _finish(response: Response, arg: int) -> Response:
    return response


def _mapped(exc: Exception, request: Request) -> Outcome:
    return _READY


def _pass(next_handler: Chain) -> Chain:
    def link(request: Request) -> Outcome:
        return next_handler(request)

    return link


def _inline(next_handler: Chain) -> Chain:
    def link(request: Request) -> Outcome:
        outcome = next_handler(request)
        if isinstance(outcome, Response):
            return _finish(outcome, 1)
        return outcome

    return link


def _then(next_handler: Chain) -> Chain:
    def link(request: Request) -> Outcome:
        return then(next_handler(request), _finish, 1)

    return link


def _try(next_handler: Chain) -> Chain:
    def link(request: Request) -> Outcome:
        try:
            outcome = next_handler(request)
        except Exception as exc:
            return _mapped(exc, request)
        return outcome

    return link


def _rescue(next_handler: Chain) -> Chain:
    def link(request: Request) -> Outcome:
        return rescue(_mapped, next_handler, request)

    return link


def _partial(next_handler: Chain) -> Chain:
    return partial(rescue, _mapped, next_handler)


SHAPES: dict[str, Callable[[Chain], Chain]] = {
    "pass": _pass,
    "inline": _inline,
    "then": _then,
    "try": _try,
    "rescue": _rescue,
    "partial": _partial,
}


def run(shape: str, calls: int) -> None:
    """The child: ``calls`` requests through ten links of ``shape``."""
    chain: Chain = _bottom
    for _ in range(LINKS):
        chain = SHAPES[shape](chain)
    request = Request("GET", "/", "", {}, "127.0.0.1")
    for _ in range(calls):
        chain(request)


def count(shape: str, calls: int) -> int:
    argv = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, "-m", "benchmarks.chain_cost", "--child", shape, "--calls", str(calls),
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=True)
    found = _COLLECTED.search(done.stderr)
    if found is None:
        raise RuntimeError(f"{shape}: no count in valgrind's output:\n{done.stderr}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chain_cost", description=__doc__)
    parser.add_argument("--child", choices=list(SHAPES), help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run(args.child, args.calls)
        return 0
    for shape in SHAPES:
        per_link = (count(shape, 12_000) - count(shape, 2_000)) / (10_000 * LINKS)
        print(f"{shape:<8} {per_link:8,.0f} instructions per link", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
