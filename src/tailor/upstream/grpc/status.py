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

from collections.abc import Sequence
from typing import Any

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
    429: code_pb2.RESOURCE_EXHAUSTED,
    499: code_pb2.CANCELLED,
    501: code_pb2.UNIMPLEMENTED,
    502: code_pb2.UNAVAILABLE,
    503: code_pb2.UNAVAILABLE,
    504: code_pb2.DEADLINE_EXCEEDED,
}
DETAILS_TRAILER = "grpc-status-details-bin"
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


def code_name(code: int) -> str:
    try:
        return str(code_pb2.Code.Name(code))
    except ValueError:
        return f"UNKNOWN_CODE_{code}"


class GrpcStatusError(UpstreamStatusError):
    """A gRPC call ended with a status other than OK (``code``, its ``code_name``), with the
    service's ``message`` and its ``google.rpc.Status`` details, each as a dict with its
    ``@type`` (an unknown detail type keeps only its ``@type``).

    >>> error = GrpcStatusError("users", 5, "user 'u9' does not exist")
    >>> error.status, error.code_name, str(error)
    (404, 'NOT_FOUND', "users: NOT_FOUND: user 'u9' does not exist")
    """

    def __init__(
        self, upstream: str, code: int, message: str, details: Sequence[dict[str, Any]] = ()
    ) -> None:
        super().__init__(upstream, http_status(code))
        self.args = (f"{upstream}: {code_name(code)}: {message}",)
        self.code = code
        self.code_name = code_name(code)
        self.message = message
        self.details = list(details)


def decode_details(raw: bytes | None) -> tuple[str | None, list[dict[str, Any]]]:
    """The message and details of a serialized ``google.rpc.Status`` (a malformed one:
    none)."""
    if not raw:
        return None, []
    try:
        status = status_pb2.Status.FromString(raw)
    except DecodeError:
        return None, []
    details: list[dict[str, Any]] = []
    database = symbol_database.Default()
    for detail in status.details:
        kind = detail.TypeName()
        try:
            message = database.GetSymbol(kind)()
        except KeyError:
            details.append({"@type": detail.type_url})
            continue
        if detail.Unpack(message):
            body = json_format.MessageToDict(message, preserving_proto_field_name=True)
            details.append({"@type": detail.type_url, **body})
    return status.message, details


def encode_status(code: int, message: str, details: Sequence[Any] = ()) -> bytes:
    """A serialized ``google.rpc.Status`` (for a service's trailer), details packed as Any."""
    status = status_pb2.Status(code=code, message=message)
    for detail in details:
        status.details.add().Pack(detail)
    return bytes(status.SerializeToString())
