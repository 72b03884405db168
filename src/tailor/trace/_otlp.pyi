from collections.abc import Callable, Sequence
from typing import ClassVar, TypeVar

T = TypeVar("T")

AttributeValue = str | int | float | bool

class PartSpan:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    upstream: str
    start_ns: int
    end_ns: int
    deadline_ms: int
    attempts: int
    breaker: str
    status: int
    hedged: bool
    cache: str
    error: str
    headers: tuple[tuple[str, str], ...]
    kind: ClassVar[int]
    tracestate: ClassVar[str]
    def __init__(
        self,
        trace_id: str,
        span_id: str,
        parent_id: str,
        name: str,
        upstream: str,
        start_ns: int,
        end_ns: int = 0,
        deadline_ms: int = -1,
        attempts: int = 0,
        breaker: str = "",
        status: int = 0,
        hedged: bool = False,
        cache: str = "",
        error: str = "",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None: ...
    @property
    def attributes(self) -> dict[str, AttributeValue]: ...

class ServerSpan:
    trace_id: str
    span_id: str
    parent_id: str
    start_ns: int
    end_ns: int
    method: str
    route: str
    status: int
    cache: str
    degraded: str
    error: str
    tracestate: str
    kind: ClassVar[int]
    def __init__(
        self,
        trace_id: str,
        span_id: str,
        parent_id: str,
        start_ns: int,
        end_ns: int = 0,
        method: str = "",
        route: str = "",
        status: int = 0,
        cache: str = "",
        degraded: str = "",
        error: str = "",
        tracestate: str = "",
    ) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def attributes(self) -> dict[str, AttributeValue]: ...

def start_part(
    trace_id: str, span_id: str, parent_id: str, name: str, upstream: str, tracestate: str, /
) -> PartSpan: ...
def bind(span: type, part: type[PartSpan], server: type[ServerSpan], /) -> None: ...
def encode(spans: Sequence[object], service: str, version: str, /) -> bytes: ...
def trace_headers(
    trace_id: str, span_id: str, sampled: bool, tracestate: str, /
) -> tuple[tuple[str, str], ...]: ...
def random_id(digits: int, /) -> str: ...
def unsampled_trace(cls: Callable[..., T], tracer: object, trace_id: str | None, /) -> T: ...
