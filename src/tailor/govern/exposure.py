"""What a BFF's responses expose, by data class, and the gate on personal data.

A route declares the struct it answers (``bff.get(..., response=Home)``); everything that
struct holds is what the route exposes. A personal or sensitive field may be in it only
through a ``governance.expose`` entry of the BFF's config naming the field and the reason:
:func:`check_exposure` runs in ``BFF.check()``, so a BFF that would leak one does not start,
and neither does one whose entry names a field none of its responses has (a typo, or a field
since removed: an allow-list entry that allows nothing is a hole waiting for a field).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from tailor.errors import ConfigError
from tailor.govern.labels import DataClass, FieldClass, reachable, struct_fields, structs_in
from tailor.govern.settings import Governance
from tailor.openapi.document import response_type
from tailor.routing import Route


@dataclass(frozen=True, slots=True)
class Exposed:
    """One field a BFF's responses carry: where it is, its class, and (guarded) why."""

    field: FieldClass
    routes: tuple[str, ...]
    reason: str = ""


def answered(route: Route) -> Any:
    """The body type ``route`` answers, as its OpenAPI operation documents it; ``None``: none,
    or not declared (a BFF that serves its OpenAPI document is refused that at startup)."""
    try:
        return response_type(route)
    except ConfigError:
        return None


def response_structs(routes: Iterable[Route]) -> dict[type[msgspec.Struct], list[str]]:
    """Each struct a route's response holds, with the routes (``GET /v1/home``) that answer it."""
    found: dict[type[msgspec.Struct], list[str]] = {}
    for route in routes:
        body = answered(route)
        if body is None:
            continue
        for struct in reachable(structs_in(body)):
            found.setdefault(struct, []).append(f"{route.method} {route.template}")
    return found


def consumed_structs(routes: Iterable[Route]) -> dict[type[msgspec.Struct], list[str]]:
    """Each struct a route's plan decodes from a service, with the upstreams it comes from."""
    found: dict[type[msgspec.Struct], list[str]] = {}
    for route in routes:
        for part in route.plan.parts if route.plan is not None else ():
            for struct in reachable(structs_in(part.into)):
                where = found.setdefault(struct, [])
                if part.upstream not in where:
                    where.append(part.upstream)
    return found


def unlabelled(routes: Iterable[Route]) -> list[FieldClass]:
    """The fields without a data class among every struct the routes answer or decode."""
    routes = list(routes)
    structs = [*response_structs(routes), *consumed_structs(routes)]
    return [
        f for s in dict.fromkeys(structs) for f in struct_fields(s) if f.leaf and not f.data_class
    ]


def exposed_fields(governance: Governance, routes: Iterable[Route]) -> list[Exposed]:
    """Every leaf field the responses carry, with the reason its allow-list entry gives.

    Raises :class:`~tailor.errors.ConfigError` naming ``governance.expose...`` for a guarded
    field without an entry and for an entry that names no field of a response."""
    reasons = {e.field: e.reason for e in governance.expose}
    exposed: list[Exposed] = []
    known: dict[str, FieldClass] = {}
    for struct, where in response_structs(routes).items():
        for f in struct_fields(struct):
            if known.setdefault(f.key, f).struct is not struct:
                # An entry names a field by Struct.field: two structs of one name would share it.
                raise ConfigError(
                    "governance.expose",
                    f"two response structs are named {struct.__name__} "
                    f"({known[f.key].struct.__module__}, {struct.__module__}): rename one",
                )
            if not f.leaf:
                continue
            if f.data_class is not None and f.data_class.guarded and f.key not in reasons:
                raise ConfigError(
                    "governance.expose",
                    f"{where[0]} answers {f.key}, which is {f.data_class.value}: "
                    "add an entry naming the field and the reason this BFF must expose it",
                )
            exposed.append(Exposed(f, tuple(where), reasons.get(f.key, "")))
    for i, entry in enumerate(governance.expose):
        named = known.get(entry.field)
        if named is None:
            raise ConfigError(
                f"governance.expose.{i}.field", f"no response of this BFF has {entry.field}"
            )
        if named.data_class is None or not named.data_class.guarded:
            raise ConfigError(
                f"governance.expose.{i}.field",
                f"{entry.field} is not personal or sensitive: it needs no entry",
            )
    return exposed


def check_exposure(governance: Governance, routes: Iterable[Route]) -> None:
    """Startup's check: see :func:`exposed_fields`."""
    exposed_fields(governance, routes)


def by_class(exposed: Iterable[Exposed]) -> dict[DataClass | None, list[Exposed]]:
    """The exposed fields grouped by class, most guarded first (``None``: unlabelled)."""
    order = [*reversed(DataClass), None]
    groups: dict[DataClass | None, list[Exposed]] = {c: [] for c in order}
    for e in exposed:
        groups[e.field.data_class].append(e)
    return {c: fields for c, fields in groups.items() if fields}
