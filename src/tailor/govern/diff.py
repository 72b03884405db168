"""``python -m tailor.govern diff <old> <new>``: what changed between two OpenAPI documents of
a BFF, each change classified as breaking or compatible for the clients of the old one.

    breaking                                      compatible
    an operation removed                          an operation added (a new /v2 path too)
    a success status or media type removed        a problem status added or removed
    response: a property removed, no longer       response: a property added, one now
      always present, or a type widened             always present, a type narrowed
      (``null`` now possible), an enum value added
    request: a parameter or body property now     request: an optional parameter or property
      required, a type changed, a bound             added, a bound loosened, a parameter
      tightened, a pattern or enum narrowed         removed
    a credential now needed, a scheme dropped     deprecated: true added

A breaking change is **excused** when the old document already marked its operation
``deprecated: true``: the policy is to version (add the new shape under a new path prefix,
which is only an addition) and deprecate the old route first; once the baseline says it is
deprecated, changing or removing it passes. Exit status: 1 when a breaking change is not
excused, else 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailor.errors import ConfigError
from tailor.govern.command import Command

Schema = dict[str, Any]
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
#: request bounds: (keyword, True when a larger value admits more)
_BOUNDS = (
    ("maxLength", True), ("maximum", True), ("maxItems", True), ("exclusiveMaximum", True),
    ("minLength", False), ("minimum", False), ("minItems", False), ("exclusiveMinimum", False),
)  # fmt: skip


@dataclass(frozen=True)
class Change:
    """One difference: ``where`` (operation and location), ``what`` happened, whether it
    breaks the old document's clients, and ``excused`` (why a breaking one may pass)."""

    where: str
    what: str
    breaking: bool
    excused: str = ""

    @property
    def fails(self) -> bool:
        return self.breaking and not self.excused

    def __str__(self) -> str:
        kind = "breaking" if self.breaking else "compatible"
        if self.excused:
            kind += f" ({self.excused})"
        return f"{kind:<24} {self.where}: {self.what}"


def diff(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Every change from ``old`` to ``new``, operation by operation.

    >>> old = {"paths": {"/v1/a": {"get": {"responses": {"200": {"description": "OK"}}}}}}
    >>> [str(c) for c in diff(old, {"paths": {}})]
    ['breaking                 GET /v1/a: operation removed']
    """
    return list(_Differ(old, new).changes())


class _Differ:
    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old = old
        self.new = new

    def changes(self) -> Iterator[Change]:
        old_ops = _operations(self.old)
        new_ops = _operations(self.new)
        for key, old_op in old_ops.items():
            where = f"{key[1].upper()} {key[0]}"
            excuse = "deprecated" if old_op.get("deprecated") else ""
            new_op = new_ops.get(key)
            if new_op is None:
                yield Change(where, "operation removed", True, excuse)
                continue
            for what, breaking in self._operation(old_op, new_op):
                yield Change(where, what, breaking, excuse if breaking else "")
        for key in new_ops.keys() - old_ops.keys():
            yield Change(f"{key[1].upper()} {key[0]}", "operation added", False)

    # -- one operation ------------------------------------------------------------------------

    def _operation(self, old: Schema, new: Schema) -> Iterator[tuple[str, bool]]:
        if new.get("deprecated") and not old.get("deprecated"):
            yield "deprecated", False
        yield from self._security(old, new)
        yield from self._parameters(old, new)
        yield from self._body(old, new)
        yield from self._responses(old, new)

    def _security(self, old: Schema, new: Schema) -> Iterator[tuple[str, bool]]:
        before = _schemes(old.get("security", self.old.get("security", [])))
        after = _schemes(new.get("security", self.new.get("security", [])))
        if before is None and after is not None:
            yield "a credential is now required", True
        elif before is not None and after is not None and before - after:
            yield f"no longer accepts {', '.join(sorted(before - after))}", True

    def _parameters(self, old: Schema, new: Schema) -> Iterator[tuple[str, bool]]:
        before = {(p["in"], p["name"]): p for p in map(self._old_ref, old.get("parameters", []))}
        after = {(p["in"], p["name"]): p for p in map(self._new_ref, new.get("parameters", []))}
        for key, param in after.items():
            where = f"{key[0]} parameter {key[1]}"
            was = before.get(key)
            if was is None:
                required = bool(param.get("required"))
                yield f"{'required' if required else 'optional'} {where} added", required
                continue
            if param.get("required") and not was.get("required"):
                yield f"{where} now required", True
            yield from self._schema(was.get("schema", {}), param.get("schema", {}), where, False)
        for key in before.keys() - after.keys():
            yield f"{key[0]} parameter {key[1]} removed", False

    def _body(self, old: Schema, new: Schema) -> Iterator[tuple[str, bool]]:
        was = self._old_ref(old.get("requestBody", {}))
        body = self._new_ref(new.get("requestBody", {}))
        if not body:
            if was:
                yield "request body no longer read", False
            return
        if not was:
            yield "request body added", bool(body.get("required"))
            return
        old_content, new_content = was.get("content", {}), body.get("content", {})
        for media, entry in old_content.items():
            if media not in new_content:
                yield f"request body no longer read as {media}", True
                continue
            yield from self._schema(
                entry.get("schema", {}), new_content[media].get("schema", {}), "body", False
            )

    def _responses(self, old: Schema, new: Schema) -> Iterator[tuple[str, bool]]:
        before, after = old.get("responses", {}), new.get("responses", {})
        for status, was in before.items():
            success = status.startswith(("2", "3"))
            if status not in after:
                yield f"response {status} removed", success
                continue
            if not success:
                continue
            old_content = self._old_ref(was).get("content", {})
            new_content = self._new_ref(after[status]).get("content", {})
            for media, entry in old_content.items():
                if media not in new_content:
                    yield f"response {status} no longer {media}", True
                    continue
                new_schema = new_content[media].get("schema", {})
                where = f"response {status}"
                yield from self._schema(entry.get("schema", {}), new_schema, where, True)
        for status in after.keys() - before.keys():
            yield f"response {status} added", False

    # -- schemas ------------------------------------------------------------------------------

    def _schema(
        self,
        old: Schema,
        new: Schema,
        where: str,
        response: bool,
        seen: frozenset[str] = frozenset(),
    ) -> Iterator[tuple[str, bool]]:
        """Changes within a schema; ``response`` says who reads it (the client: a response;
        the BFF: a parameter or body), which decides the direction a change breaks in."""
        pair = f"{old.get('$ref')}|{new.get('$ref')}"
        if "$ref" in old and pair in seen:
            return  # a recursive schema: this pair is being compared further up
        seen = seen | {pair}
        old, new = self._old_ref(old), self._new_ref(new)
        old_types, new_types = _types(old, self._old_ref), _types(new, self._new_ref)
        if old_types and new_types:
            wider, narrower = (new_types, old_types) if response else (old_types, new_types)
            lost = {t for t in wider if not _covered(t, narrower)}
            if lost:
                what = "may now be" if response else "no longer accepts"
                yield f"{where}: {what} {', '.join(sorted(lost))}", True
        old_main, new_main = _main(old, self._old_ref), _main(new, self._new_ref)
        if old_main is not None and new_main is not None:
            yield from self._structure(old_main, new_main, where, response, seen)

    def _structure(
        self, old: Schema, new: Schema, where: str, response: bool, seen: frozenset[str]
    ) -> Iterator[tuple[str, bool]]:
        yield from self._enum(old, new, where, response)
        if not response:
            yield from _bounds(old, new, where)
        yield from self._properties(old, new, where, response, seen)
        if isinstance(old.get("items"), dict) and isinstance(new.get("items"), dict):
            yield from self._schema(old["items"], new["items"], f"{where}[]", response, seen)
        extra_old, extra_new = old.get("additionalProperties"), new.get("additionalProperties")
        if isinstance(extra_old, dict) and isinstance(extra_new, dict):
            yield from self._schema(extra_old, extra_new, f"{where}{{}}", response, seen)

    def _enum(
        self, old: Schema, new: Schema, where: str, response: bool
    ) -> Iterator[tuple[str, bool]]:
        if "enum" not in old and "enum" not in new:
            return
        before, after = set(map(repr, old.get("enum", []))), set(map(repr, new.get("enum", [])))
        if response and "enum" in old and after - before:
            yield f"{where}: may now be {', '.join(sorted(after - before))}", True
        if not response and "enum" in new and (before - after or "enum" not in old):
            yield f"{where}: accepts fewer values", True

    def _properties(
        self, old: Schema, new: Schema, where: str, response: bool, seen: frozenset[str]
    ) -> Iterator[tuple[str, bool]]:
        before, after = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        for name, schema in before.items():
            at = f"{where}.{name}"
            if name not in after:
                closed = new.get("additionalProperties") is False
                yield f"{at} removed", response or closed
                continue
            if response and name in old_required and name not in new_required:
                yield f"{at} no longer always present", True
            if not response and name in new_required and name not in old_required:
                yield f"{at} now required", True
            yield from self._schema(schema, after[name], at, response, seen)
        for name in after.keys() - before.keys():
            yield f"{where}.{name} added", not response and name in new_required

    def _old_ref(self, schema: Schema) -> Schema:
        return _resolve(self.old, schema)

    def _new_ref(self, schema: Schema) -> Schema:
        return _resolve(self.new, schema)


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], Schema]:
    return {
        (path, method): operation
        for path, item in document.get("paths", {}).items()
        for method, operation in item.items()
        if method in _METHODS
    }


def _schemes(requirements: list[dict[str, Any]]) -> set[str] | None:
    """The schemes any of which admits a caller; None when no credential is needed."""
    if not requirements or any(not r for r in requirements):
        return None
    return {name for r in requirements for name in r}


def _resolve(document: dict[str, Any], schema: Schema) -> Schema:
    """``schema`` with a local ``$ref`` followed (to the end of a chain of them)."""
    for _ in range(16):
        ref = schema.get("$ref") if isinstance(schema, dict) else None
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return schema
        target: Any = document
        for part in ref[2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {})
        schema = target
    return schema


def _types(schema: Schema, resolve: Any) -> set[str]:
    """The JSON types ``schema`` admits (of every branch of an anyOf/oneOf); empty: any."""
    kind = schema.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return set(kind)
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        found: set[str] = set()
        for branch in branches:
            inner = _types(resolve(branch), resolve)
            if not inner:
                return set()
            found |= inner
        return found
    if "properties" in schema:
        return {"object"}
    return set()


def _main(schema: Schema, resolve: Any) -> Schema | None:
    """The one non-null branch whose structure is compared (``X | None`` is X)."""
    branches = schema.get("anyOf") or schema.get("oneOf")
    if not branches:
        return schema
    kept = [b for b in map(resolve, branches) if b.get("type") != "null"]
    return kept[0] if len(kept) == 1 else None


def _covered(kind: str, kinds: set[str]) -> bool:
    return kind in kinds or (kind == "integer" and "number" in kinds)


def _bounds(old: Schema, new: Schema, where: str) -> Iterator[tuple[str, bool]]:
    """A parameter or body value the old document accepted that the new one refuses."""
    for keyword, larger_admits in _BOUNDS:
        if keyword not in new:
            continue
        if keyword not in old:
            yield f"{where}: {keyword} {new[keyword]} added", True
        elif (new[keyword] < old[keyword]) == larger_admits and new[keyword] != old[keyword]:
            yield f"{where}: {keyword} {old[keyword]} -> {new[keyword]}", True
    if "pattern" in new and new.get("pattern") != old.get("pattern"):
        yield f"{where}: pattern {new['pattern']}", True


def _load(path: str) -> dict[str, Any]:
    try:
        loaded = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(path, f"not a readable JSON document: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(path, "an OpenAPI document is a JSON object")
    return loaded


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", help="the baseline document (JSON)")
    parser.add_argument("new", help="the document to compare with it (JSON)")


def _run(args: argparse.Namespace) -> int:
    changes = diff(_load(args.old), _load(args.new))
    for change in sorted(changes, key=lambda c: (not c.fails, c.where, c.what)):
        print(change)
    failing = sum(c.fails for c in changes)
    if failing:
        print(
            f"{failing} breaking change(s): version the route or deprecate it first",
            file=sys.stderr,
        )
    return 1 if failing else 0


COMMAND = Command("diff", "classify the changes between two OpenAPI documents", _configure, _run)
