"""The pure-Python OTLP encoder tailor used before its C module (session 12), kept as the
reference its output is compared with byte for byte (tests/tailor/trace/test_otlp.py): tests
only, never imported by tailor."""

from __future__ import annotations

import struct
from collections.abc import Sequence

from tailor.trace.span import CLIENT, SERVER, AnySpan, AttributeValue, PartSpan, ServerSpan

#: start_time_unix_nano (7) and end_time_unix_nano (8), fixed64 each, with their tags.
_times = struct.Struct("<BQBQ").pack
#: kind (6): SERVER and CLIENT, tag and value.
_KINDS = {kind: b"\x30" + bytes((kind,)) for kind in range(6)}
#: span_id (2, 8 bytes: its tag and length as one little-endian short) and the two times.
_ids_times = struct.Struct("<H8sBQBQ").pack
_IDS_TIMES_SIZE = struct.calcsize("<H8sBQBQ")
#: What a Part span's cached head and fields are made of: name, upstream, deadline_ms,
#: attempts, breaker, status, hedged, cache, error, and the length of its ids block.
_PartKey = tuple[str, str, int, int, str, int, bool, str, str, int]
#: A server span's: method, route, status, cache, degraded, error, tracestate, ids block.
_ServerKey = tuple[str, str, int, str, str, str, str, int]
_double = struct.Struct("<d").pack
_SMALL = [bytes((n,)) for n in range(128)]
#: Attribute fields kept encoded, by (key, value): names, routes, statuses and outcome words
#: repeat on every span. Cleared when it grows past this, so it stays bounded whatever comes.
_CACHE_LIMIT = 4096


def varint(n: int) -> bytes:
    if n < 0x80:
        return _SMALL[n] if n >= 0 else varint(n + (1 << 64))  # int64: two's complement
    if n < 0x4000:  # a span's length, most often: two bytes without the loop
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


#: A span's tag in the ScopeSpans (2) and its length, for the lengths spans have.
_HEADS = 1024
_SPAN_HEADS = [b"\x12" + varint(n) for n in range(_HEADS)]


def field(tag: bytes, data: bytes) -> bytes:
    """A length-delimited field (a string, bytes or a message) with its encoded ``tag``."""
    n = len(data)
    return tag + (_SMALL[n] if n < 0x80 else varint(n)) + data


def any_value(value: AttributeValue) -> bytes:
    """An ``AnyValue`` message."""
    if isinstance(value, str):
        return field(b"\x0a", value.encode())
    if isinstance(value, bool):  # before int: a bool is an int
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        return b"\x18" + varint(value)
    return b"\x21" + _double(value)


def key_value(tag: bytes, key: str, value: AttributeValue) -> bytes:
    """A ``KeyValue`` message as the field ``tag`` of its parent."""
    return field(tag, field(b"\x0a", key.encode()) + field(b"\x12", any_value(value)))


def _error(message: str) -> bytes:
    """A failed span's ``Status`` (field 15): ``message`` (2) and ``code`` (3) ERROR (2)."""
    return field(b"\x7a", field(b"\x12", message.encode()) + b"\x18\x02")


class OtlpEncoder:
    """Spans of one service as an ``ExportTraceServiceRequest``."""

    def __init__(self, service: str, version: str = "") -> None:
        resource = b"".join(
            key_value(b"\x0a", k, v)
            for k, v in (("service.name", service), ("telemetry.sdk.name", "tailor"))
        )
        scope = field(b"\x0a", b"tailor") + (field(b"\x12", version.encode()) if version else b"")
        self._resource = field(b"\x0a", resource)
        self._scope = field(b"\x0a", scope)
        # key -> value -> the encoded field. Per key, so a lookup hashes no tuple; a bool is
        # kept apart from the int it equals (True == 1) under the key's bool table.
        self._attributes: dict[str, dict[AttributeValue, bytes]] = {}
        self._size = 0
        self._names: dict[str, bytes] = {}
        # A Part or server span's head (tag, length) and every field but its ids and times, by
        # the values they encode and the length of the ids block (a root span has no parent).
        self._fronts: dict[_PartKey | _ServerKey, bytes] = {}

    def encode(self, spans: Sequence[AnySpan]) -> bytes:
        # One loop, no call per span or per attribute: every instruction here is the worker's
        # (docs/observability.md counts them per home).
        encoded: list[bytes] = []
        add = encoded.append
        join = b"".join
        names = self._names
        cache = self._attributes
        fronts = self._fronts
        fromhex = bytes.fromhex
        trace_id = parent_id = None
        trace_field = ids = b""
        ids_size = 0
        for s in spans:  # each a field 2 (spans) of the ScopeSpans
            # A request's spans share one trace id and its parts one parent (the same string
            # objects, from its RequestTrace): each is converted once, not once per span.
            if s.trace_id is not trace_id:
                trace_id = s.trace_id
                trace_field = fromhex("0a10" + trace_id)
                parent_id = None
            if s.parent_id is not parent_id:
                parent_id = s.parent_id
                ids = trace_field + fromhex("2208" + parent_id) if parent_id else trace_field
                ids_size = len(ids)
            if s.__class__ is PartSpan:
                # A Part's span: its head (tag, length) and every field but the ids and times
                # as encoded for the first span made of the same values, then the request's
                # ids, then its span id and times in one pack.
                part_key: _PartKey = (
                    s.name, s.upstream, s.deadline_ms, s.attempts, s.breaker, s.status,
                    s.hedged, s.cache, s.error, ids_size,
                )  # fmt: skip
                front = fronts.get(part_key)
                if front is None:
                    front = self._part(part_key)
                add(front)
                add(ids)
                add(_ids_times(0x0812, fromhex(s.span_id), 0x39, s.start_ns, 0x41, s.end_ns))
                continue
            if s.__class__ is ServerSpan:
                # The server span likewise, its values those the trace stage wrote.
                server_key: _ServerKey = (
                    s.method, s.route, s.status, s.cache, s.degraded, s.error, s.tracestate,
                    ids_size,
                )  # fmt: skip
                front = fronts.get(server_key)
                if front is None:
                    front = self._server(server_key)
                add(front)
                add(ids)
                add(_ids_times(0x0812, fromhex(s.span_id), 0x39, s.start_ns, 0x41, s.end_ns))
                continue
            name = names.get(s.name)
            if name is None:
                name = self._name(s.name)
            parts = [
                ids,
                fromhex("1208" + s.span_id),
                name,
                _KINDS[s.kind],
                _times(0x39, s.start_ns, 0x41, s.end_ns),
            ]
            push = parts.append
            for key, value in s.attributes.items():
                by_value = cache.get(key if value.__class__ is not bool else key + "\x00bool")
                found = by_value.get(value) if by_value is not None else None
                push(found if found is not None else self._remember(key, value))
            if s.tracestate:
                push(field(b"\x1a", s.tracestate.encode()))
            if s.error:
                push(_error(s.error))
            body = join(parts)
            n = len(body)
            add(_SPAN_HEADS[n] if n < _HEADS else b"\x12" + varint(n))
            add(body)
        # The spans joined, measured, then copied once more behind their envelopes: a copy of
        # the batch costs less than summing the lengths of its pieces, three per span.
        body = join(encoded)
        scope_spans = len(self._scope) + len(body)
        inner = varint(scope_spans)
        resource_spans = len(self._resource) + 1 + len(inner) + scope_spans
        return join(
            (b"\x0a", varint(resource_spans), self._resource, b"\x12", inner, self._scope, body)
        )

    def _part(self, key: _PartKey) -> bytes:
        """The head and fields of Part spans made of ``key``: name, kind, ``bff.part``,
        ``peer.service``, the deadline and the outcome the span was told (what it was not,
        no call, no hedge, no cache answer, is left out), its error."""
        name, upstream, deadline_ms, attempts, breaker, status, hedged, cache, error, ids = key
        fields = [
            field(b"\x2a", name.encode()),
            _KINDS[CLIENT],
            key_value(b"\x4a", "bff.part", name),
            key_value(b"\x4a", "peer.service", upstream),
        ]
        if deadline_ms >= 0:  # -1: no call was made
            fields.append(key_value(b"\x4a", "bff.deadline_ms", deadline_ms))
        fields += [
            key_value(b"\x4a", k, v)
            for k, v in (
                ("bff.attempts", attempts),
                ("bff.breaker", breaker),
                ("http.response.status_code", status),
                ("bff.hedged", hedged),
                ("bff.cache", cache),
            )
            if v
        ]
        if error:
            fields.append(_error(error))
        return self._keep(key, b"".join(fields), ids)

    def _server(self, key: _ServerKey) -> bytes:
        """The head and fields of server spans made of ``key``: name, kind, method, route,
        status, and what only some have: the cache's answer, the parts that degraded, the
        caller's tracestate, an error."""
        method, route, status, cache, degraded, error, tracestate, ids = key
        fields = [
            field(b"\x2a", f"{method} {route}".encode()),
            _KINDS[SERVER],
            key_value(b"\x4a", "http.request.method", method),
            key_value(b"\x4a", "http.route", route),
            key_value(b"\x4a", "http.response.status_code", status),
        ]
        if cache:
            fields.append(key_value(b"\x4a", "bff.cache", cache))
        if degraded:
            fields.append(key_value(b"\x4a", "bff.degraded", degraded))
        if tracestate:
            fields.append(field(b"\x1a", tracestate.encode()))
        if error:
            fields.append(_error(error))
        return self._keep(key, b"".join(fields), ids)

    def _keep(self, key: _PartKey | _ServerKey, fields: bytes, ids: int) -> bytes:
        """``fields`` under the head of a span that also holds ``ids`` bytes of trace and
        parent ids and its span id and times; kept under ``key``."""
        if len(self._fronts) > _CACHE_LIMIT:
            self._fronts.clear()
        n = len(fields) + ids + _IDS_TIMES_SIZE
        found = self._fronts[key] = b"\x12" + varint(n) + fields
        return found

    def _name(self, name: str) -> bytes:
        if len(self._names) > _CACHE_LIMIT:
            self._names.clear()
        found = self._names[name] = field(b"\x2a", name.encode())
        return found

    def _remember(self, key: str, value: AttributeValue) -> bytes:
        if self._size > _CACHE_LIMIT:
            self._attributes.clear()
            self._size = 0
        table = key if value.__class__ is not bool else f"{key}\x00bool"
        found = self._attributes.setdefault(table, {})[value] = key_value(b"\x4a", key, value)
        self._size += 1
        return found
