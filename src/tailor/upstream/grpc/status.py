"""gRPC status codes and ``google.rpc.Status`` details, in tailor's terms.

A non-OK status becomes the HTTP status a JSON service would have answered (the mapping of
``google/rpc/code.proto``), so the resilient transport and the client treat it exactly as
they treat HTTP: the breaker counts 5xx, only 502/503/504 are retried. ``UNAVAILABLE`` and
``DEADLINE_EXCEEDED`` are raised at once as :class:`~tailor.errors.UpstreamUnavailable` and
:class:`~tailor.errors.UpstreamTimeout`, as a refused connection or a timeout over HTTP.
Any other code is carried to the client as a :class:`GrpcStatusError`, with the message and
details of the call's ``grpc-status-details-bin`` trailer when it sent one.

>>> http_status(5), code_name(5)
(404, 'NOT_FOUND')
>>> http_status(42), code_name(42)  # a code gRPC does not define: the service is broken
(502, 'UNKNOWN_CODE_42')
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import msgspec
from google.protobuf import json_format, symbol_database
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2

from tailor.errors import UpstreamStatusError

#: gRPC code -> HTTP status (google/rpc/code.proto's own table).
_HTTP = {
    code_pb2.CANCELLED: 499,
    code_pb2.UNKNOWN: 500,
    code_pb2.INVALID_ARGUMENT: 400,
    code_pb2.DEADLINE_EXCEEDED: 504,
    code_pb2.NOT_FOUND: 404,
    code_pb2.ALREADY_EXISTS: 409,
    code_pb2.PERMISSION_DENIED: 403,
    code_pb2.UNAUTHENTICATED: 401,
    code_pb2.RESOURCE_EXHAUSTED: 429,
    code_pb2.FAILED_PRECONDITION: 400,
    code_pb2.ABORTED: 409,
    code_pb2.OUT_OF_RANGE: 400,
    code_pb2.UNIMPLEMENTED: 501,
    code_pb2.INTERNAL: 500,
    code_pb2.UNAVAILABLE: 503,
    code_pb2.DATA_LOSS: 500,
}
#: HTTP status -> gRPC code, for a service answering a gRPC call from its JSON route.
_FROM_HTTP = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    403: code_pb2.PERMISSION_DENIED,
    404: code_pb2.NOT_FOUND,
    409: code_pb2.ABORTED,
    412: code_pb2.FAILED_PRECONDITION,
    428: code_pb2.FAILED_PRECONDITION,
    429: code_pb2.RESOURCE_EXHAUSTED,
    499: code_pb2.CANCELLED,
    501: code_pb2.UNIMPLEMENTED,
    502: code_pb2.UNAVAILABLE,
    503: code_pb2.UNAVAILABLE,
    504: code_pb2.DEADLINE_EXCEEDED,
}
DETAILS_TRAILER = "grpc-status-details-bin"
CANCELLED = int(code_pb2.CANCELLED)
DEADLINE_EXCEEDED = int(code_pb2.DEADLINE_EXCEEDED)
UNAVAILABLE = int(code_pb2.UNAVAILABLE)
#: The code of a status that names no code gRPC defines (a Connect error's unknown code name):
#: like any undefined code, a broken service's answer, 502.
UNDEFINED = -1
#: The Connect protocol's code names (lower snake case) -> gRPC codes.
CONNECT_CODES = {
    str(name).lower(): int(number)
    for name, number in code_pb2.Code.items()
    if number != code_pb2.OK
}
# The detail types of google/rpc/error_details.proto are known by name once imported.
_KNOWN_DETAILS = error_details_pb2.DESCRIPTOR


def http_status(code: int) -> int:
    """The HTTP status for a gRPC code; 502 for a code gRPC does not define."""
    return _HTTP.get(code, 502)


def code_for_http(status: int) -> int:
    """The gRPC code for an HTTP status a JSON route answered."""
    if status in _FROM_HTTP:
        return int(_FROM_HTTP[status])
    return int(code_pb2.INVALID_ARGUMENT if 400 <= status < 500 else code_pb2.INTERNAL)


def http_code(status: int) -> int:
    """The gRPC code of an HTTP status with no status of its own (the Connect protocol's
    table for a body that is not a Connect error)."""
    return int(_FROM_HTTP_CONNECT.get(status, code_pb2.UNKNOWN))


_FROM_HTTP_CONNECT = {
    400: code_pb2.INTERNAL,
    401: code_pb2.UNAUTHENTICATED,
    403: code_pb2.PERMISSION_DENIED,
    404: code_pb2.UNIMPLEMENTED,
    429: code_pb2.UNAVAILABLE,
    502: code_pb2.UNAVAILABLE,
    503: code_pb2.UNAVAILABLE,
    504: code_pb2.UNAVAILABLE,
}


def connect_name(code: int) -> str:
    """The Connect protocol's name of a gRPC code (``not_found``)."""
    return code_name(code).lower()


def code_name(code: int) -> str:
    if code == UNDEFINED:
        return "UNDEFINED"
    try:
        return str(code_pb2.Code.Name(code))
    except ValueError:
        return f"UNKNOWN_CODE_{code}"


def exact_status(code: int, details: Sequence[dict[str, Any]]) -> int:
    """The HTTP status of a call's failure: the one its ``google.rpc.ErrorInfo`` names in
    ``metadata["http_status"]`` (as waveform's services do: code.proto's table cannot tell a
    412 from a 428, both FAILED_PRECONDITION) when it is a 4xx of that very code, else the
    table's.

    >>> info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo",
    ...         "metadata": {"http_status": "412"}}
    >>> exact_status(9, [info]), exact_status(5, [info]), exact_status(9, [])
    (412, 404, 400)
    """
    for detail in details:
        if not str(detail.get("@type", "")).endswith("/google.rpc.ErrorInfo"):
            continue
        metadata = detail.get("metadata")
        named = metadata.get("http_status") if isinstance(metadata, dict) else None
        if isinstance(named, str) and named.isdigit():
            status = int(named)
            if 400 <= status < 500 and code_for_http(status) == code:
                return status
    return http_status(code)


class GrpcStatusError(UpstreamStatusError):
    """A gRPC call ended with a status other than OK (``code``, its ``code_name``), with the
    service's ``message`` and its ``google.rpc.Status`` details, each as a dict with its
    ``@type`` (an unknown detail type keeps only its ``@type``). Its ``status`` is
    :func:`exact_status`'s.

    >>> error = GrpcStatusError("users", 5, "user 'u9' does not exist")
    >>> error.status, error.code_name, str(error)
    (404, 'NOT_FOUND', "users: NOT_FOUND: user 'u9' does not exist")
    """

    def __init__(
        self, upstream: str, code: int, message: str, details: Sequence[dict[str, Any]] = ()
    ) -> None:
        super().__init__(upstream, exact_status(code, details))
        self.args = (f"{upstream}: {code_name(code)}: {message}",)
        self.code = code
        self.code_name = code_name(code)
        self.message = message
        self.details = list(details)


class ConnectDetail(msgspec.Struct):
    type: str
    value: str  # base64 of the serialized message, unpadded


class ConnectError(msgspec.Struct):
    """The JSON body of a Connect error."""

    code: str
    message: str = ""
    details: list[ConnectDetail] = msgspec.field(default_factory=list)


def decode_any(kind: str, value: str | bytes) -> dict[str, Any]:
    """One detail (its type name and serialized message, base64 text or bytes) as a dict with
    its ``@type``; an unknown type keeps only that."""
    type_url = kind if "/" in kind else f"type.googleapis.com/{kind}"
    name = type_url.rsplit("/", 1)[-1]
    try:
        raw = value if isinstance(value, bytes) else base64.b64decode(value + "==")
        message = symbol_database.Default().GetSymbol(name)()
        message.ParseFromString(raw)
    except (KeyError, ValueError, DecodeError):
        return {"@type": type_url}
    body = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return {"@type": type_url, **body}


def decode_details(raw: bytes | None) -> tuple[str | None, list[dict[str, Any]]]:
    """The message and details of a serialized ``google.rpc.Status`` (a malformed one:
    none)."""
    if not raw:
        return None, []
    try:
        status = status_pb2.Status.FromString(raw)
    except DecodeError:
        return None, []
    details = [decode_any(d.type_url, d.value) for d in status.details]
    return status.message, details


def encode_status(code: int, message: str, details: Sequence[Any] = ()) -> bytes:
    """A serialized ``google.rpc.Status`` (for a service's trailer), details packed as Any."""
    status = status_pb2.Status(code=code, message=message)
    for detail in details:
        status.details.add().Pack(detail)
    return bytes(status.SerializeToString())


def encode_message(message: str) -> bytes:
    """A status message as the ``grpc-message`` field carries it: UTF-8, percent-encoded
    outside printable ASCII and for ``%`` itself (the gRPC over HTTP/2 spec).

    >>> encode_message("user 'u9' is 100% gone: é")
    b"user 'u9' is 100%25 gone: %C3%A9"
    """
    raw = message.encode()
    if all(0x20 <= byte <= 0x7E and byte != 0x25 for byte in raw):
        return raw
    return b"".join(
        bytes((byte,)) if 0x20 <= byte <= 0x7E and byte != 0x25 else b"%%%02X" % byte
        for byte in raw
    )
