"""Instructions per new connection in tailor's HTTP/1.1 server, counted by valgrind: what a
client that opens a connection per request costs the server, turned away at accept or served.

    python -m benchmarks.accept_cost                     # both scenarios, 300 connections
    python -m benchmarks.accept_cost --connections 100 --scenarios refused

``refused``: the server is not admitting (as while the shed stage is overloaded), so each
connection gets the 503 written straight to its socket at accept. ``served``: each connection
sends one request, a trivial handler answers it (no pipeline: the server's own work), and the
client closes. The server runs in a child under ``valgrind --tool=callgrind`` on a loopback
port; this process opens the connections one at a time, each read to its end. As in
:mod:`benchmarks.instructions`, the child runs twice, the second time with ``--connections``
more, and the difference over ``--connections`` is one connection's count (user-space
instructions; the kernel's side of accept, write, read and close is not in it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import subprocess
import sys

SCENARIOS = ("refused", "served")
#: Connections in the first (baseline) child run.
BASE = 30
_COLLECTED = re.compile(r"Collected : (\d+)")
_REQUEST = b"GET / HTTP/1.1\r\nhost: bench\r\n\r\n"


async def _serve(scenario: str, total: int) -> None:
    from tailor.http import Request, Response
    from tailor.serve.http1 import Http1Server, ServerSettings

    def hello(request: Request) -> Response:
        return Response(200, b"hi")

    done = asyncio.get_running_loop().create_future()
    seen = 0

    class Counting(Http1Server):
        # Each connection ends in forget() when served, in _turn_away() when refused.
        def forget(self, connection: object) -> None:
            super().forget(connection)  # type: ignore[arg-type]
            self._one()

        def _turn_away(self, conn: socket.socket, answer: Response) -> None:
            super()._turn_away(conn, answer)
            self._one()

        def _one(self) -> None:
            nonlocal seen
            seen += 1
            if seen == total and not done.done():
                done.set_result(None)

    admitting = (lambda pending: False) if scenario == "refused" else None
    server = Counting(hello, ServerSettings(admitting=admitting))
    await server.start(host="127.0.0.1", port=0)
    print(f"port {server.port}", flush=True)
    await done
    await server.close(grace_s=5)


def count(scenario: str, connections: int) -> int:
    """Instructions of one child run that handles ``connections`` connections."""
    argv = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, "-m", "benchmarks.accept_cost", "--child", scenario,
        "--connections", str(connections),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    child = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line.startswith("port "):
            raise RuntimeError(f"the child did not start: {line}{child.communicate()[1]}")
        address = ("127.0.0.1", int(line.split()[1]))
        expected = b"HTTP/1.1 503" if scenario == "refused" else b"HTTP/1.1 200"
        for n in range(connections):
            with socket.create_connection(address, timeout=600) as sock:
                sock.sendall(_REQUEST)
                answer = b""
                while expected not in answer or b"\r\n\r\n" not in answer:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    answer += chunk
                if not answer.startswith(expected):
                    raise RuntimeError(f"connection {n}: {answer[:80]!r}")
        _, stderr = child.communicate(timeout=600)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    found = _COLLECTED.search(stderr)
    if child.returncode != 0 or found is None:
        raise RuntimeError(f"{scenario}: the counted run failed:\n{stderr}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.accept_cost", description=__doc__)
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--scenarios", type=lambda s: s.split(","), default=list(SCENARIOS))
    parser.add_argument("--child", choices=SCENARIOS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        import uvloop

        uvloop.run(_serve(args.child, args.connections))
        return 0
    for scenario in args.scenarios:
        base = count(scenario, BASE)
        more = count(scenario, BASE + args.connections)
        per = (more - base) / args.connections
        print(f"{scenario:<8} {per:10,.0f} instructions per connection", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
