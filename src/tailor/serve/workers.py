"""Run a BFF on tailor's own HTTP/1.1 server (:mod:`tailor.serve.http1`) in one or more worker
processes.

The parent builds the BFF from its factory and checks it (:meth:`tailor.app.BFF.check`), so a
bad config or a route no authenticator covers stops startup once, with one message, before any
worker exists. It then binds the listening socket and forks the workers, which all accept on it
(the kernel spreads connections between them). Each worker inherits the parent's BFF, with the
config the parent validated, and starts it (:meth:`~tailor.app.BFF.startup`) after the fork,
so no event loop, connection pool or thread crosses a fork. With one worker the parent serves
itself: one process, as under granian.

Signals: SIGTERM or SIGINT stops accepting, lets answers in progress finish for up to
``server.shutdown_grace_s``, then shuts the BFF down (background jobs, pools, admin). The parent
passes them on to its workers and waits for them. A worker that dies on its own is replaced;
one that keeps dying within seconds of starting (a bug at startup) stops the whole server
rather than loop forever. A worker whose parent is gone (killed with SIGKILL, or by the OOM
killer) stops as if sent SIGTERM: nobody else would stop it, and it would keep the port.

The soft limit on open files is raised to the hard one before binding: each connection is a
file, and a soft limit of 1,024 (common under systemd) would refuse connections long before
the machine runs out of anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import resource
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tailor.config import Config
from tailor.errors import ConfigError
from tailor.serve.collector import collect_every, tune_collector
from tailor.serve.http1 import Http1Server, settings_from
from tailor.serve.inherited import inherited_listener

if TYPE_CHECKING:
    from tailor.app import BFF

log = logging.getLogger("tailor.serve")

#: A worker that dies sooner than this after starting counts as failing at startup.
QUICK_DEATH_S = 5.0
#: Startup failures in a row before the server gives up.
MAX_QUICK_DEATHS = 5
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
#: How often a worker checks that its parent is still there.
PARENT_CHECK_S = 1.0


def bind(host: str, port: int, backlog: int) -> socket.socket:
    """The listening socket, bound before any worker starts (so a port in use stops
    startup with a clear error, once), with an accept queue of ``backlog``; or the one a
    supervisor handed down for ``host:port``
    (:func:`tailor.serve.inherited.inherited_listener`)."""
    inherited = inherited_listener(host, port)
    if inherited is not None:
        inherited.setblocking(False)
        return inherited
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def load_factory(factory: str) -> Any:
    """``"package.module:function"`` -> the function."""
    module_name, _, attr = factory.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def load_bff(factory: str, configure: Callable[[Config], Config]) -> BFF:
    """The factory's BFF, serving with ``configure(its config)``, checked as its startup would
    check it: :class:`~tailor.errors.ConfigError` naming the key or route otherwise."""
    bff: BFF = load_factory(factory)()
    bff.config = configure(bff.config)
    bff.check()
    return bff


def raise_open_files_limit() -> None:
    """The soft limit on open files, up to the hard one (which only root could raise)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):  # e.g. an unlimited hard limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def serve(bff: BFF) -> int:
    """Serve ``bff`` as its config says (``listen``, ``server``) until SIGTERM or SIGINT; the
    exit status."""
    config = bff.config
    raise_open_files_limit()
    listen = config.listen
    ports = [listen.port] if listen.tls_port is None else [listen.port, listen.tls_port]
    socks: list[socket.socket] = []
    for port in ports:
        try:
            socks.append(bind(listen.host, port, config.server.backlog))
        except OSError as exc:
            print(f"{config.name}: cannot listen on {listen.host}:{port}: {exc}", file=sys.stderr)
            return 1
        except ConfigError as exc:
            print(f"{config.name}: {exc}", file=sys.stderr)
            return 2
    sock, *tls_sock = socks  # listen.tls_port's, when there is one
    if config.server.workers == 1:
        return run_worker(bff, sock, tls_sock=tls_sock)
    return _supervise(bff, sock, tls_sock)


def run_worker(
    bff: BFF,
    sock: socket.socket,
    parent: int | None = None,
    tls_sock: list[socket.socket] | None = None,
) -> int:
    """One worker: its own event loop, started BFF and server on the shared socket (and on
    ``listen.tls_port``'s, ``tls_sock``); it stops when process ``parent`` (its supervisor, if
    forked) is gone."""
    try:
        if bff.config.server.loop == "uvloop":
            import uvloop

            uvloop.run(_serve(bff, sock, parent, tls_sock))
        else:
            asyncio.run(_serve(bff, sock, parent, tls_sock))
    except ConfigError as exc:
        # What only building the chain checks (the settings of stages the BFF added) stops
        # the worker as a bad file would.
        print(f"{bff.config.name}: {exc}", file=sys.stderr)
        return 2
    return 0


def _watch_parent(loop: asyncio.AbstractEventLoop, parent: int, stop: asyncio.Event) -> None:
    if os.getppid() != parent:  # adopted: the supervisor died
        log.warning("worker %d: the supervisor (pid %d) is gone; stopping", os.getpid(), parent)
        stop.set()
    else:
        loop.call_later(PARENT_CHECK_S, _watch_parent, loop, parent, stop)


async def _serve(
    bff: BFF,
    sock: socket.socket,
    parent: int | None = None,
    tls_sock: list[socket.socket] | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    config = bff.config
    bff.startup(loop=loop)
    tune_collector(config.server)  # this process is a server worker: tune its GC
    server = Http1Server(bff.respond, settings_from(config, bff.admitting, shedding=bff.shedding))
    await server.start(sock=sock)
    servers = [server]
    if tls_sock:
        tls_settings = settings_from(config, bff.admitting, tls_port=True, shedding=bff.shedding)
        tls_server = Http1Server(bff.respond, tls_settings)
        await tls_server.start(sock=tls_sock[0])
        servers.append(tls_server)
    interval = config.server.gc_interval_s
    collecting = loop.create_task(collect_every(interval)) if interval > 0 else None
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if parent is not None:
        _watch_parent(loop, parent, stop)
    log.info("%s: serving on %s:%d (pid %d)", config.name, *sock.getsockname()[:2], os.getpid())
    await stop.wait()
    grace = config.server.shutdown_grace_s
    await asyncio.gather(*(s.close(grace) for s in servers))
    if collecting is not None:
        collecting.cancel()
    await bff.shutdown()


def _supervise(bff: BFF, sock: socket.socket, tls_sock: list[socket.socket]) -> int:
    config = bff.config
    children: dict[int, float] = {}  # pid -> when it started
    stopping = False

    def spawn() -> None:
        # Signals wait until the fork is done on both sides: a SIGTERM landing in between would
        # otherwise miss the new worker (the parent not knowing its pid yet) or run the
        # parent's handler inside the child.
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            if stopping:  # a stop came while starting: a worker started now would never hear it
                return
            parent = os.getpid()
            pid = os.fork()
            if pid == 0:  # the worker
                for signum in _STOP_SIGNALS:
                    signal.signal(signum, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
                code = 1
                try:
                    code = run_worker(bff, sock, parent, tls_sock)
                except BaseException:
                    log.exception("worker %d failed", os.getpid())
                finally:
                    os._exit(code)
            children[pid] = time.monotonic()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):  # it has just exited
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(config.server.workers):
        spawn()
    quick_deaths = 0
    status = 0
    while children:
        try:
            pid, _ = os.wait()
        except ChildProcessError:
            break
        started = children.pop(pid, None)
        if started is None or stopping:
            continue
        quick_deaths = quick_deaths + 1 if time.monotonic() - started < QUICK_DEATH_S else 0
        if quick_deaths >= MAX_QUICK_DEATHS:
            log.error("%s: workers keep failing at startup; stopping", config.name)
            status = 1
            stop(signal.SIGTERM, None)
            continue
        log.warning("%s: worker %d died; starting another", config.name, pid)
        spawn()
    sock.close()
    for extra in tls_sock:
        extra.close()
    return status
