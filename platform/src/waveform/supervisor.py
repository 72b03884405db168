"""Start, watch and stop the whole reference platform as separate processes.

Every component (Redis when asked for, ten services, then the BFFs) is its own subprocess in
its own process group. The supervisor waits for each ``/healthz`` (Redis: PING), reports a
component that fails to start or dies later (name, exit code, last stderr lines) without
stopping the others, and on stop (or SIGINT/SIGTERM in ``demo``) terminates every process
group it started.

It heals: a component that was healthy once and then dies is started again after a backoff
(``restart_backoff``: 0.5 s doubling to 8 s, counted over the crashes in the window), each
restart logged and counted (:meth:`Platform.restarts`, :meth:`Platform.table`). One that
crashes ``give_up_after`` times within ``crash_window_s`` is given up on, with a message that
says so. A component that never became healthy at startup (a bad config) is not retried: it
would fail the same way again.

>>> with Platform(data_dir=tmp, ephemeral=True, components="services") as p:  # doctest: +SKIP
...     users = p.url("users")          # "http://127.0.0.1:<port>"
...     p.kill("media")                 # SIGKILL one child; p.failures then names it
...     p.wait_for_restart("media")     # ... and it is back, healthy, after 0.5 s
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, TextIO

from waveform.bffs.upstreams import grpc_settings
from waveform.certs import DemoCerts, ensure_demo_certs
from waveform.control import SOCKET_NAME, ControlChannel
from waveform.listeners import Listeners
from waveform.ports import free_ports
from waveform.protos import SERVICES as GRPC_SERVICES
from waveform.redis_server import RedisServer
from waveform.seed import DEFAULT_SCALE, DEFAULT_SEED, token_client_secret
from waveform.services import SERVICES

HOST = "127.0.0.1"
#: BFF name -> (port, admin port).
BFFS: dict[str, tuple[int, int]] = {
    "mobile": (8081, 8181),
    "web": (8082, 8182),
    "public": (8083, 8183),
    "partner": (8084, 8184),
    "tv": (8085, 8185),
}
#: BFFs served over TLS (the partner API: mutual TLS with the demo partner CA).
TLS_BFFS = frozenset({"partner"})
#: BFFs that also listen with TLS on a port of their own (listen.tls_port): the mobile BFF,
#: h2 over TLS beside HTTP/1.1 and h2c on its port.
TLS_PORTS: dict[str, int] = {"mobile": 8441}
#: The dashboard of all BFFs (``python -m tailor dashboard``, docs/dashboard.md).
DASHBOARD_PORT = 8180
STDERR_TAIL = 20
#: How a BFF's access line (tailor.stages.access_log) starts.
ACCESS_LINE = '{"request_id":'
#: The environment variable a BFF reads its token-exchange client secret from.
TOKEN_SECRET_ENV = "WAVEFORM_TOKEN_EXCHANGE_SECRET"
#: The token-service client tests and operators use for direct service calls.
OPS_CLIENT = "waveform-ops"
#: How the BFFs call the services that have a proto (waveform.protos): "grpc" (gRPC over
#: HTTP/2), "connect" (the Connect protocol over HTTP/1.1) or "http" (JSON). Those services
#: serve all three; the suites run in another mode with e.g. WAVEFORM_UPSTREAMS=grpc.
UPSTREAMS_ENV = "WAVEFORM_UPSTREAMS"
#: The BFFs that take commands (their profiles switch the idempotency stage on).
COMMAND_BFFS = frozenset({"web", "mobile", "public"})
#: How long a draining BFF keeps an idle connection open (server.drain_idle_s), when the
#: platform can roll its BFFs (control=True).
DRAIN_IDLE_S = 1.0
#: A gRPC port is its service's port plus this (users 9102, catalog 9110).
GRPC_PORT_OFFSET = 100
UPSTREAM_MODES = ("http", "grpc", "connect")
#: The demo's mode (``--upstreams``): gRPC over HTTP/2, on tailor's own client and the services'
#: in-loop server. Since the services left grpcio's server it costs the BFF what the Connect
#: protocol does, about 1.2x a JSON home (docs/grpc.md).
DEMO_UPSTREAMS = "grpc"


@dataclass(frozen=True)
class Failure:
    """Why a component is not running."""

    name: str
    exit_code: int | None
    stderr_tail: list[str]
    # "start" (never became healthy), "runtime" (died after; restarted when healing) or
    # "gave up" (kept crashing: no more restarts)
    phase: str

    def describe(self) -> str:
        tail = "\n".join(f"    | {line}" for line in self.stderr_tail[-10:])
        code = "no exit code" if self.exit_code is None else f"exit code {self.exit_code}"
        return f"{self.name} failed ({self.phase}, {code})" + (f"\n{tail}" if tail else "")


@dataclass
class Component:
    """One process: what to run, where it listens, and its running state."""

    name: str
    kind: str  # "redis", "service", "bff" or "tool" (the dashboard)
    port: int
    admin_port: int | None = None
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    stderr: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=200))
    healthy: bool = False
    # Healing: set once healthy (only such a component is restarted), the restarts done, the
    # recent crashes (monotonic times), when the next start is due, and whether it was given up.
    supervised: bool = False
    restarts: int = 0
    crashes: collections.deque[float] = field(default_factory=collections.deque)
    started_at: float = 0.0
    restart_at: float | None = None
    gave_up: bool = False

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def health_url(self) -> str:
        return f"http://{HOST}:{self.admin_port or self.port}/healthz"


def port_in_use(port: int) -> bool:
    """True when something already listens on (or holds) ``HOST:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return True
    return False


def _die_with_parent() -> None:
    """In the child: own process group, and SIGTERM if the supervisor dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Platform:
    """The running platform; a context manager.

    ``components``: ``"all"`` (services then BFFs), ``"services"``, or an iterable of
    names. ``ephemeral=True`` picks free ports (tests); otherwise ports are the defaults
    (services 9001-9010, mobile 8081/8181, web 8082/8182) shifted by ``base_port - 9001``
    when ``base_port`` is given. ``env`` maps a component name (or ``"*"``) to extra
    environment variables, e.g. ``{"media": {"WAVEFORM_FAULT_DELAY_MS": "300"}}``.
    ``startup_timeout`` bounds the wait for every /healthz (services, then BFFs).
    ``echo_stderr`` copies children's stderr to ours, prefixed by name; ``log`` receives
    the supervisor's own reports (start summary, failures). Every component's stderr (its
    log) is also appended to ``data_dir/logs/<component>.log`` (:meth:`log_path`).

    ``tracing_endpoint`` (an OTLP/HTTP traces URL) turns tracing on everywhere: the BFFs'
    ``tracing`` config and the services' OpenTelemetry SDK (``OTEL_*`` variables) export
    there, sampling new traces at ``tracing_sample_ratio`` (a caller's decision is kept).

    ``die_with_parent`` (Linux) makes each child receive SIGTERM when the *thread* that
    started it exits, so a killed supervisor leaves no orphans: call :meth:`start` from a
    long-lived thread (the main thread), or pass ``False``.

    ``redis=True`` runs a real redis-server as the first component (persistent: its
    append-only file is under ``data_dir/redis``), supervised like the others.
    ``heal=False`` only reports a crash; otherwise a crashed component is restarted after
    ``restart_backoff`` (first delay, cap) and given up on after ``give_up_after`` crashes
    within ``crash_window_s``.
    ``dashboard=True`` adds ``python -m tailor dashboard`` over every BFF's admin port as the
    component ``dashboard`` (refreshing every ``dashboard_refresh_s``), started after them.
    ``control=True`` serves the control channel (:mod:`waveform.control`, a Unix socket under
    ``data_dir``: ``python -m waveform rollout``) and holds the BFFs' listening sockets, handing
    them to every process started for a BFF (:mod:`waveform.rollout`).
    ``tls_listeners=True`` gives the mobile BFF its TLS listener (h2 and HTTP/1.1, the demo
    certificate) on a port of its own, ``tls_ports``, beside its clear-text one.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        scale: int = DEFAULT_SCALE,
        seed: int = DEFAULT_SEED,
        components: str | Iterable[str] = "all",
        ephemeral: bool = False,
        base_port: int | None = None,
        env: Mapping[str, Mapping[str, str]] | None = None,
        startup_timeout: float = 20.0,
        echo_stderr: bool = False,
        log: TextIO | None = None,
        python: str = sys.executable,
        die_with_parent: bool = True,
        redis: bool = False,
        tls_listeners: bool = False,
        heal: bool = True,
        restart_backoff: tuple[float, float] = (0.5, 8.0),
        give_up_after: int = 5,
        crash_window_s: float = 60.0,
        upstreams: str | None = None,
        tracing_endpoint: str | None = None,
        tracing_sample_ratio: float = 1.0,
        dashboard: bool = False,
        dashboard_refresh_s: float = 5.0,
        control: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.upstreams = upstreams or os.environ.get(UPSTREAMS_ENV) or "http"
        if self.upstreams not in UPSTREAM_MODES:
            raise ValueError(f"upstreams must be one of {UPSTREAM_MODES}, not {self.upstreams!r}")
        self.tracing_endpoint = tracing_endpoint
        self.tracing_sample_ratio = tracing_sample_ratio
        self.scale = scale
        self.seed = seed
        self.startup_timeout = startup_timeout
        self.echo_stderr = echo_stderr
        self.python = python
        self.die_with_parent = die_with_parent
        self.heal = heal
        #: Start the BFFs of TLS_PORTS with their TLS listener too (the demo does).
        self.tls_listeners = tls_listeners
        self.restart_backoff = restart_backoff
        self.give_up_after = give_up_after
        self.crash_window_s = crash_window_s
        self._log = log
        self._env = {k: dict(v) for k, v in (env or {}).items()}
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.failures: dict[str, Failure] = {}
        self.components: dict[str, Component] = {}
        # redis: a real redis-server for change events (services) and shared state (BFFs:
        # state.redis_url, sessions among it: hence persistent); started first, stopped last.
        self.redis = RedisServer(data_dir=self.data_dir / "redis", persist=True) if redis else None
        if self.redis is not None:
            argv = self.redis.argv()
            self.components["redis"] = Component("redis", "redis", self.redis.port, argv=argv)
        names = self._select(components)
        self._plan(names, ephemeral, base_port)
        if dashboard:
            self._plan_dashboard(ephemeral, base_port, dashboard_refresh_s)
        self._watcher: threading.Thread | None = None
        # control: hold the BFFs' listening sockets and serve the control channel
        # (waveform.control; its commands: rollout)
        self.listeners: Listeners | None = None
        self.control: ControlChannel | None = None
        if control:
            from waveform import rollout

            self.listeners = Listeners(HOST)
            self.control = ControlChannel(
                control_path(self.data_dir).parent, {"rollout": rollout.handler(self)}
            )

    # -- planning --------------------------------------------------------------------------

    @staticmethod
    def _select(components: str | Iterable[str]) -> list[str]:
        everything = [*SERVICES, *BFFS]
        if components == "all":
            return everything
        if components == "services":
            return list(SERVICES)
        if components == "bffs":
            return list(BFFS)
        wanted = [components] if isinstance(components, str) else list(components)
        unknown = set(wanted) - set(everything)
        if unknown:
            raise ValueError(f"unknown components: {', '.join(sorted(unknown))}")
        return [n for n in everything if n in wanted]

    def _plan(self, names: list[str], ephemeral: bool, base_port: int | None) -> None:
        ports: dict[str, int] = {}
        admin: dict[str, int] = {}
        # Every service gets a port even when not started, so BFF configs and catalog's
        # upstream URLs are complete (an unstarted upstream simply refuses connections).
        grpc_ports: dict[str, int] = {}
        if ephemeral:
            pool = free_ports(len(SERVICES) + 2 * len(BFFS) + len(TLS_PORTS) + len(GRPC_SERVICES))
            for name in SERVICES:
                ports[name] = pool.pop()
            for name in BFFS:
                ports[name], admin[name] = pool.pop(), pool.pop()
            self.tls_ports = {name: pool.pop() for name in TLS_PORTS}
            for name in GRPC_SERVICES:
                grpc_ports[name] = pool.pop()
        else:
            shift = 0 if base_port is None else base_port - SERVICES["accounts"]
            for name, port in SERVICES.items():
                ports[name] = port + shift
            for name, (port, admin_port) in BFFS.items():
                ports[name], admin[name] = port + shift, admin_port + shift
            self.tls_ports = {name: port + shift for name, port in TLS_PORTS.items()}
            for name in GRPC_SERVICES:
                grpc_ports[name] = ports[name] + GRPC_PORT_OFFSET
        self.ports = ports
        self.grpc_ports = grpc_ports
        common = [
            "--host",
            HOST,
            "--data-dir",
            str(self.data_dir),
            "--scale",
            str(self.scale),
            "--seed",
            str(self.seed),
            "--tokens",
            self._url("tokens"),
        ]
        if self.redis is not None:
            common += ["--redis-url", self.redis.url]
        for name in names:
            if name in SERVICES:
                argv = [
                    self.python,
                    "-m",
                    f"waveform.services.{name}",
                    "--port",
                    str(ports[name]),
                    *common,
                ]
                if name in grpc_ports:
                    argv += ["--grpc-port", str(grpc_ports[name])]
                if name == "catalog":
                    argv += [
                        "--tracks",
                        self._url("tracks"),
                        "--rights",
                        self._url("rights"),
                        "--media",
                        self._url("media"),
                        "--social",
                        self._url("social"),
                    ]
                comp = Component(name, "service", ports[name], argv=argv)
            else:
                config = self.data_dir / f"bff-{name}.json"
                argv = [self.python, "-m", f"waveform.bffs.{name}", "--config", str(config)]
                comp = Component(name, "bff", ports[name], admin_port=admin[name], argv=argv)
            comp.env = {**self._tracing_env(), **self._env.get("*", {}), **self._env.get(name, {})}
            if comp.kind == "bff":
                comp.env.setdefault(TOKEN_SECRET_ENV, token_client_secret(self.seed, f"bff-{name}"))
            self.components[name] = comp

    def _plan_dashboard(self, ephemeral: bool, base_port: int | None, refresh_s: float) -> None:
        """The dashboard over the BFFs planned so far (a tool: after them, no admin port)."""
        shift = 0 if base_port is None else base_port - SERVICES["accounts"]
        port = free_ports(1)[0] if ephemeral else DASHBOARD_PORT + shift
        bffs = [c for c in self.components.values() if c.kind == "bff"]
        argv = [self.python, "-m", "tailor", "dashboard", "--host", HOST, "--port", str(port)]
        argv += ["--refresh", str(refresh_s)]
        for comp in bffs:
            argv += ["--target", f"{comp.name}=http://{HOST}:{comp.admin_port}"]
        self.components["dashboard"] = Component("dashboard", "tool", port, argv=argv)
        self.ports["dashboard"] = port

    def _tracing_env(self) -> dict[str, str]:
        if self.tracing_endpoint is None:
            return {}
        return {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": self.tracing_endpoint,
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": str(self.tracing_sample_ratio),
            "OTEL_BSP_SCHEDULE_DELAY": "200",  # ms: spans reach the collector soon
        }

    def _url(self, name: str) -> str:
        scheme = "https" if name in TLS_BFFS else "http"
        return f"{scheme}://{HOST}:{self.ports[name]}"

    @property
    def certs(self) -> DemoCerts:
        """The demo CA, server and partner client certificates (made on first use)."""
        return ensure_demo_certs(self.data_dir / "certs")

    def bff_config(self, name: str) -> dict[str, object]:
        """The JSON config a BFF is started with."""
        config = edge_security_config(name, self._base_bff_config(name), self)
        if self.listeners is not None:
            # Rollouts: a draining build answers the requests already on their way to it
            # (docs/rollout.md).
            config["server"] = {"drain_idle_s": DRAIN_IDLE_S}
        return config

    def _base_bff_config(self, name: str) -> dict[str, object]:
        comp = self.components[name]
        # With a Redis, a command's Idempotency-Key is known to every instance of its BFF.
        shared_keys = self.redis is not None and name in COMMAND_BFFS
        return {
            "listen": {"host": HOST, "port": comp.port},
            "admin": {"host": HOST, "port": comp.admin_port},
            "upstreams": {svc: self.upstream_url(svc) for svc in SERVICES},
            "grpc": grpc_settings(),
            "state": {"redis_url": self.redis.url} if self.redis is not None else {},
            **({"commands": {"idempotency": {"backend": "redis"}}} if shared_keys else {}),
            "token_exchange": {"client_id": f"bff-{name}", "client_secret_env": TOKEN_SECRET_ENV},
            "logs": {"access": True},  # one JSON line per request, into logs/<name>.log
            "tracing": {}
            if self.tracing_endpoint is None
            else {
                "endpoint": self.tracing_endpoint,
                "sample_ratio": self.tracing_sample_ratio,
                "export_interval_s": 0.2,
            },
        }

    # -- public API ------------------------------------------------------------------------

    def url(self, name: str) -> str:
        """Base URL of a component, e.g. ``http://127.0.0.1:9002``."""
        if name not in self.ports:
            raise KeyError(name)
        return self._url(name)

    def internal_token(self, audience: str, subject: str = "tests", scope: str = "") -> str:
        """A real internal token from the running token service, for calling a service
        directly (tests, operators): exchanged as the ``waveform-ops`` client.

        >>> headers = {"authorization": f"Bearer {p.internal_token('users', 'u1')}"}
        ... # doctest: +SKIP
        """
        import base64
        from urllib.parse import urlencode

        secret = token_client_secret(self.seed, OPS_CLIENT)
        basic = base64.b64encode(f"{OPS_CLIENT}:{secret}".encode()).decode()
        form = {
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": subject,
            "subject_token_type": "urn:waveform:subject",
            "audience": audience,
            **({"scope": scope} if scope else {}),
        }
        request = urllib.request.Request(
            f"{self._url('tokens')}/token",
            data=urlencode(form).encode(),
            method="POST",
            headers={
                "authorization": f"Basic {basic}",
                "content-type": "application/x-www-form-urlencoded",
            },
        )
        with urllib.request.urlopen(request, timeout=5) as resp:
            token: str = json.loads(resp.read())["access_token"]
        return token

    def upstream_url(self, service: str) -> str:
        """Where the BFFs call ``service``: its gRPC port in gRPC mode when it has one."""
        if self.upstreams == "grpc" and service in self.grpc_ports:
            return f"grpc://{HOST}:{self.grpc_ports[service]}"
        if self.upstreams == "connect" and service in self.grpc_ports:
            return f"connect://{HOST}:{self.ports[service]}"
        return self._url(service)

    def admin_url(self, name: str) -> str:
        """Admin base URL of a BFF (where its /healthz is)."""
        comp = self.components.get(name)
        if comp is None or comp.admin_port is None:
            raise KeyError(f"{name} has no admin port")
        return f"http://{HOST}:{comp.admin_port}"

    def log_path(self, name: str) -> Path:
        """The file a component's log (its stderr) is appended to."""
        return self.data_dir / "logs" / f"{name}.log"

    def process(self, name: str) -> subprocess.Popen[bytes] | None:
        return self.components[name].process

    def is_running(self, name: str) -> bool:
        proc = self.components[name].process
        return proc is not None and proc.poll() is None

    def stderr_tail(self, name: str, lines: int = STDERR_TAIL) -> list[str]:
        return list(self.components[name].stderr)[-lines:]

    def running(self) -> list[str]:
        return [n for n in self.components if self.is_running(n)]

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to a component's process group (tests use this to crash one)."""
        proc = self.components[name].process
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)

    def restarts(self, name: str) -> int:
        """How many times the supervisor has brought ``name`` back after a crash."""
        return self.components[name].restarts

    def wait_for_failure(self, name: str, timeout: float = 5.0) -> Failure:
        """Block until the watcher has recorded ``name`` as failed."""
        self._wait(lambda: name in self.failures, timeout, f"{name} was not reported as failed")
        return self.failures[name]

    def wait_for_restart(self, name: str, count: int = 1, timeout: float = 20.0) -> None:
        """Block until ``name`` has been restarted ``count`` times in all and is healthy."""
        comp = self.components[name]
        self._wait(
            lambda: comp.restarts >= count and comp.healthy,
            timeout,
            f"{name} was not restarted {count} time(s)",
        )

    def wait_for_give_up(self, name: str, timeout: float = 30.0) -> Failure:
        """Block until the supervisor has given up on ``name``; the failure it recorded."""
        comp = self.components[name]
        self._wait(lambda: comp.gave_up, timeout, f"{name} was not given up on")
        return self.failures[name]

    def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if done():
                    return
            time.sleep(0.02)
        raise TimeoutError(f"{what} within {timeout} s")

    def start(self) -> Platform:
        """Start services concurrently, wait for health, then BFFs; returns self."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        deadline = began + self.startup_timeout
        if self.redis is not None:
            (self.data_dir / "redis").mkdir(exist_ok=True)
            redis = self.components["redis"]
            self._spawn(redis)
            self._await_health([redis], deadline)
        services = [c for c in self.components.values() if c.kind == "service"]
        bffs = [c for c in self.components.values() if c.kind == "bff"]
        for comp in services:
            self._spawn(comp)
        self._await_health(services, deadline)
        for comp in bffs:
            (self.data_dir / f"bff-{comp.name}.json").write_text(
                json.dumps(self.bff_config(comp.name), indent=2)
            )
            self._spawn(comp)
        self._await_health(bffs, deadline)
        tools = [c for c in self.components.values() if c.kind == "tool"]
        for comp in tools:
            self._spawn(comp)
        self._await_health(tools, deadline)
        self._say(
            f"platform: {len(self.running())}/{len(self.components)} components up "
            f"in {time.monotonic() - began:.1f} s"
        )
        self._watcher = threading.Thread(target=self._watch, name="platform-watch", daemon=True)
        self._watcher.start()
        if self.control is not None:
            self.control.start()
            self._say(f"control channel: {self.control.path}")
        return self

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM every process group, then SIGKILL what is left after ``grace`` s; Redis
        last (the others may still write to it while they stop)."""
        self._stopping.set()
        if self.control is not None:
            self.control.stop()
        if self._watcher is not None:
            self._watcher.join()  # no restart may start behind our back
        comps = self.components.values()
        self._terminate([c for c in comps if c.kind != "redis"], grace)
        self._terminate([c for c in comps if c.kind == "redis"], grace)
        if self.listeners is not None:
            self.listeners.close()

    @staticmethod
    def _terminate(comps: Sequence[Component], grace: float) -> None:
        procs = [c.process for c in comps if c.process is not None]
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        end = time.monotonic() + grace
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, end - time.monotonic()))
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for proc in procs:
            # Any grandchild left in the group goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

    # -- rollouts (waveform.rollout) --------------------------------------------------------

    @property
    def stopping(self) -> bool:
        """:meth:`stop` has begun (a rollout in progress gives up)."""
        return self._stopping.is_set()

    def spawn(self, comp: Component) -> bool:
        """Start a process for ``comp`` (not yet one of :attr:`components`)."""
        return self._spawn(comp)

    def swap(self, new: Component) -> Component:
        """Make ``new`` the supervised process of its component; the one it replaces (no
        longer supervised: stopping it is the caller's)."""
        with self._lock:
            old = self.components[new.name]
            old.supervised = False
            self.components[new.name] = new
        return old

    def retire(self, comp: Component, grace: float) -> None:
        """Stop a process :meth:`swap` replaced (SIGTERM: it drains), SIGKILL after
        ``grace`` s."""
        self._terminate([comp], grace)

    def __enter__(self) -> Platform:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def table(self) -> str:
        """Names, URLs and states, one component per line."""
        rows = []
        for comp in self.components.values():
            state = "up" if comp.healthy and self.is_running(comp.name) else "FAILED"
            if comp.gave_up:
                state = "GAVE UP"
            elif comp.restart_at is not None or (comp.supervised and not comp.healthy):
                state = "restarting"
            admin = f"  admin {self.admin_url(comp.name)}" if comp.admin_port else ""
            restarts = f"  ({comp.restarts} restarts)" if comp.restarts else ""
            url = self.redis.url if comp.kind == "redis" and self.redis else comp.url
            rows.append(f"  {comp.name:<16} {state:<10} {url}{admin}{restarts}")
        return "\n".join(rows)

    # -- internals -------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        if self._log is not None:
            print(text, file=self._log, flush=True)

    def _spawn(self, comp: Component) -> bool:
        """Start ``comp``'s process; False (and recorded) when its port is taken."""
        # A port held by someone else would answer our health check for us: refuse early.
        held = self.listeners
        ports = [comp.port, comp.admin_port]
        taken = [
            p for p in ports if p is not None and not (held and held.holds(p)) and port_in_use(p)
        ]
        fds: list[int] = []
        if held is not None and comp.kind == "bff" and not taken:
            try:
                fds = held.fds(self._listen_ports(comp))
            except OSError:
                taken = [comp.port]
        if taken:
            comp.stderr.append(f"port {taken[0]} is already in use (another demo running?)")
            self._record(comp, "start", None)
            return False
        comp.started_at = time.monotonic()
        env = {**os.environ, **comp.env, "PYTHONUNBUFFERED": "1"}
        if fds:
            env.update(Listeners.env(fds))
        comp.process = subprocess.Popen(
            comp.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            cwd=str(self.data_dir),
            start_new_session=True,
            preexec_fn=_die_with_parent if self.die_with_parent else None,
            pass_fds=fds,
        )
        assert comp.process.stderr is not None
        path = self.log_path(comp.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        threading.Thread(
            target=self._drain,
            args=(comp, comp.process.stderr, path),
            name=f"stderr-{comp.name}",
            daemon=True,
        ).start()
        return True

    def _listen_ports(self, comp: Component) -> list[int]:
        """The ports a BFF listens on: its port, its TLS one when it has one, its admin."""
        tls = self.tls_ports.get(comp.name) if self.tls_listeners else None
        return [p for p in (comp.port, tls, comp.admin_port) if p is not None]

    def _drain(self, comp: Component, pipe: IO[bytes], path: Path) -> None:
        # Appended, so a restarted component's log goes on in the same file. The in-memory
        # tail (what a failure report quotes) keeps the component's own messages: a BFF's
        # access lines, one per request, are in the file only.
        with path.open("a", encoding="utf-8", buffering=1) as logfile:
            for raw in iter(pipe.readline, b""):
                line = raw.decode(errors="replace").rstrip()
                if not line.startswith(ACCESS_LINE):
                    comp.stderr.append(line)
                logfile.write(line + "\n")
                if self.echo_stderr:
                    print(f"[{comp.name}] {line}", file=sys.stderr, flush=True)
        pipe.close()

    def _await_health(self, comps: Sequence[Component], deadline: float) -> None:
        pending = [c for c in comps if c.process is not None]
        while pending and time.monotonic() < deadline:
            for comp in list(pending):
                assert comp.process is not None
                code = comp.process.poll()
                if code is not None:
                    pending.remove(comp)
                    self._record(comp, "start", code)
                elif self._is_healthy(comp):
                    comp.healthy = comp.supervised = True
                    pending.remove(comp)
            if pending:
                time.sleep(0.05)
        for comp in pending:
            self._record(comp, "start", None)
            self.kill(comp.name, signal.SIGTERM)

    def _record(self, comp: Component, phase: str, code: int | None) -> None:
        if code is not None and comp.process is not None:
            # Let the drain thread catch the last lines before reporting them.
            time.sleep(0.05)
        failure = Failure(comp.name, code, list(comp.stderr)[-STDERR_TAIL:], phase)
        with self._lock:
            self.failures[comp.name] = failure
        self._say(failure.describe())

    def _is_healthy(self, comp: Component) -> bool:
        if comp.kind == "redis":
            return self.redis is not None and self.redis.answers()
        return _healthy(comp.health_url)

    def _watch(self) -> None:
        while not self._stopping.wait(0.1):
            for comp in self.components.values():
                if self._stopping.is_set():
                    return
                if comp.supervised and not comp.gave_up and comp.process is not None:
                    self._tend(comp, time.monotonic())

    def _tend(self, comp: Component, now: float) -> None:
        """One look at a supervised component: start it when due, notice it came back
        healthy, or handle its crash."""
        assert comp.process is not None
        if comp.restart_at is not None:
            if now >= comp.restart_at:
                comp.restart_at = None
                if not self._spawn(comp):
                    self._crashed(comp, None, now)
            return
        code = comp.process.poll()
        if code is not None:
            self._crashed(comp, code, now)
        elif not comp.healthy:
            if self._is_healthy(comp):
                with self._lock:
                    comp.healthy = True
                    comp.restarts += 1
                    self.failures.pop(comp.name, None)
                self._say(f"supervisor: {comp.name} is back (restart {comp.restarts})")
            elif now - comp.started_at > self.startup_timeout:
                self.kill(comp.name)  # hung on its way up: a crash, seen on the next look

    def _crashed(self, comp: Component, code: int | None, now: float) -> None:
        """Report a crash, then schedule the restart or give up."""
        comp.healthy = False
        self._record(comp, "runtime", code)
        crashes = comp.crashes
        crashes.append(now)
        while crashes and crashes[0] <= now - self.crash_window_s:
            crashes.popleft()
        if not self.heal:
            comp.supervised = False  # reported, and left down
            return
        if len(crashes) >= self.give_up_after:
            failure = Failure(comp.name, code, list(comp.stderr)[-STDERR_TAIL:], "gave up")
            with self._lock:
                self.failures[comp.name] = failure
                comp.gave_up = True
            self._say(
                f"supervisor: giving up on {comp.name}: it crashed {len(crashes)} times "
                f"within {self.crash_window_s:g} s; it stays down until the platform restarts"
            )
            return
        first, cap = self.restart_backoff
        delay = min(first * 2 ** (len(crashes) - 1), cap)
        comp.restart_at = now + delay
        self._say(
            f"supervisor: restarting {comp.name} in {delay:g} s "
            f"(crash {len(crashes)} of {self.give_up_after} allowed within "
            f"{self.crash_window_s:g} s)"
        )


def edge_security_config(name: str, config: dict[str, object], p: Platform) -> dict[str, object]:
    """Per-BFF edge security for a plain-http loopback deployment: the web session cookie
    without the ``__Host-`` prefix (browsers refuse it without Secure, and Secure cookies
    are not sent over http), origins on this host and port, and for the partner BFF TLS with
    the demo certificates and mutual TLS against the demo partner CA; for the mobile BFF, TLS
    (h2 and HTTP/1.1) on a port of its own beside the clear-text one."""
    port = p.ports[name]
    if name == "web":
        state = config.get("state")
        redis = isinstance(state, dict) and state.get("redis_url")
        config["auth"] = {
            "session": {
                "cookie_name": "waveform-session",
                "secure": False,
                "allowed_origins": [f"http://{HOST}:{port}", f"http://localhost:{port}"],
                "store": "redis" if redis else "memory",
            }
        }
    elif name == "partner":
        certs = p.certs
        base = config.get("listen")
        listen: dict[str, object] = dict(base) if isinstance(base, dict) else {}
        listen["tls"] = {
            "cert_file": str(certs.server.cert),
            "key_file": str(certs.server.key),
            "client_ca_file": str(certs.ca.cert),
            "client_cert": "optional",
        }
        config["listen"] = listen
        config["auth"] = {"mtls": {}}
    if p.tls_listeners and name in p.tls_ports:
        certs = p.certs
        base = config.get("listen")
        tls_listen: dict[str, object] = dict(base) if isinstance(base, dict) else {}
        tls_listen["tls"] = {"cert_file": str(certs.server.cert), "key_file": str(certs.server.key)}
        tls_listen["tls_port"] = p.tls_ports[name]
        config["listen"] = tls_listen
    return config


def control_path(data_dir: Path) -> Path:
    """Where a platform started with ``control=True`` on ``data_dir`` serves its channel."""
    return data_dir.resolve() / "control" / SOCKET_NAME


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


# -- demo ------------------------------------------------------------------------------

TOKEN_CURL = (
    "curl -s -X POST {mobile}/v1/auth/token -H 'content-type: application/json' "
    '-d \'{{"grant_type":"password","username":"alice",'
    '"password":"wave-alice"}}\''
)


def demo_banner(p: Platform) -> str:
    mobile = p.url("mobile") if "mobile" in p.ports else "http://127.0.0.1:8081"
    token_cmd = TOKEN_CURL.format(mobile=mobile)
    grab = (
        "TOKEN=$(" + token_cmd + " | python3 -c "
        "'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')"
    )
    return "\n".join(
        [
            "waveform is running:",
            p.table(),
            "",
            "Log in as alice (password wave-alice; also bob, carol, dave, erin: wave-<name>):",
            f"  {token_cmd}",
            "Capture the token and call the home endpoint:",
            f"  {grab}",
            f'  curl -s {mobile}/v1/home -H "authorization: Bearer $TOKEN"',
            *http2_banner(p),
            "",
            *web_client_banner(p),
            *edge_banner(p),
            f"Each component's log: {p.log_path('<component>')}",
            "Ctrl-C stops everything.",
        ]
    )


def web_client_banner(p: Platform) -> list[str]:
    """Where the web BFF's single-page client is, and how to see live updates in it."""
    if "web" not in p.components:
        return []
    web = p.url("web")
    return [
        f"The web client: open {web}/ in a browser and log in as alice (password wave-alice).",
        f"  Log in as bob (wave-bob) at http://localhost:{p.ports['web']}/ (another origin: a",
        "  session of its own) or in a private window, and post a track: it appears in",
        "  alice's New activity banner; alice's like of a track of bob's appears in his.",
        "",
    ]


def http2_banner(p: Platform) -> list[str]:
    """The same home over HTTP/2: h2 over TLS (the demo CA) and h2c on the mobile port."""
    if "mobile" not in p.components or not p.tls_listeners:
        return []
    tls = f"https://localhost:{p.tls_ports['mobile']}"
    return [
        "The same home over HTTP/2, with TLS (demo CA) and in clear text (h2c):",
        f"  curl -s --http2 --cacert {p.certs.ca.cert} {tls}/v1/home "
        '-H "authorization: Bearer $TOKEN"',
        f"  curl -s --http2-prior-knowledge {p.url('mobile')}/v1/home "
        '-H "authorization: Bearer $TOKEN"',
    ]


def edge_banner(p: Platform) -> list[str]:
    """How to call the public and partner BFFs (the partner demo key and certificates)."""
    lines: list[str] = []
    if "public" in p.components:
        lines += [
            "Public API as the app acme-player (OAuth2 client credentials), then a track:",
            f"  APP=$(curl -s -X POST {p.url('public')}/v1/oauth/token -d grant_type="
            "client_credentials -d client_id=acme-player -d client_secret=acme-secret"
            " | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
            f'  curl -s {p.url("public")}/v1/tracks/t1 -H "authorization: Bearer $APP"',
            f"  contract: {p.url('public')}/v1/openapi.json",
            "",
        ]
    if "partner" in p.components:
        from waveform.seed import partner_demo_key

        certs = p.certs
        acme = certs.client("p-acme")
        partner = p.url("partner")
        lines += [
            "Partner API (TLS, demo CA) as Acme Records, with its demo API key:",
            f"  curl -s --cacert {certs.ca.cert} {partner}/v1/tracks/t1 "
            f"-H 'x-api-key: {partner_demo_key(p.seed, 'p-acme')}'",
            "or with its client certificate (mutual TLS):",
            f"  curl -s --cacert {certs.ca.cert} --cert {acme.cert} --key {acme.key} "
            f"{partner}/v1/partner",
            "",
        ]
    return lines


def demo(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m waveform demo")
    parser.add_argument("--scale", type=int, default=DEFAULT_SCALE)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--data-dir", default="var/demo")
    parser.add_argument(
        "--base-port",
        type=int,
        default=None,
        help="port for accounts; every default port shifts with it",
    )
    parser.add_argument("--ephemeral", action="store_true", help="pick free ports")
    parser.add_argument("--services-only", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="echo every child's stderr")
    parser.add_argument(
        "--upstreams",
        choices=UPSTREAM_MODES,
        default=DEMO_UPSTREAMS,
        help="how the BFFs call the services with a proto (users, catalog)",
    )
    parser.add_argument(
        "--trace-endpoint", default=None, help="an OTLP/HTTP traces URL every component exports to"
    )
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    platform = Platform(
        args.data_dir,
        scale=args.scale,
        seed=args.seed,
        components="services" if args.services_only else "all",
        ephemeral=args.ephemeral,
        base_port=args.base_port,
        echo_stderr=args.verbose,
        log=sys.stdout,
        redis=True,
        tls_listeners=True,
        upstreams=args.upstreams,
        tracing_endpoint=args.trace_endpoint,
        dashboard=not args.services_only,
        control=True,
    )
    try:
        platform.start()
        print(demo_banner(platform), flush=True)
        while not stop.wait(0.5):
            if not platform.running():
                print("every component has exited", flush=True)
                return 1
    finally:
        print("stopping...", flush=True)
        platform.stop()
    return 0
