"""A BFF's OpenAPI 3.1 document, generated from its route table and its config.

Every piece comes from what the BFF already declares, so the document cannot drift from
what it serves: paths and methods from the routes; path parameters from the template and
query parameters from the route's :class:`~tailor.params.Query` (each kind's ``schema()``);
the response from the handler's ``-> Json[Body]`` (or ``response=``); the problems from
:mod:`tailor.openapi.problems`; the security schemes from ``auth``. The schemas are
msgspec's (``msgspec.json.schema_components``): the structs that encode the responses.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import msgspec

from tailor.config import Config
from tailor.errors import ConfigError
from tailor.http import Json
from tailor.openapi.problems import describe, route_problems
from tailor.openapi.security import security_requirement, security_schemes
from tailor.params import PATH_PARAM_SCHEMA
from tailor.problem import PROBLEM_CONTENT_TYPE, Problem
from tailor.routing import INFER, Route

if TYPE_CHECKING:
    from tailor.app import BFF
    from tailor.pipeline import Placement

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{name}"
PROBLEM_NAME = "Problem{status}"
PROBLEM_REF = "#/components/responses/" + PROBLEM_NAME
_NOT_WORD = re.compile(r"[^A-Za-z0-9]+")


def openapi_document(bff: BFF) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``bff``: every route but the one serving the document and
    those not ``documented`` (live routes, which are not request-response).

    >>> from tailor import BFF, Json, build_config, json_response
    >>> import msgspec
    >>> class Pong(msgspec.Struct):
    ...     ok: bool
    >>> bff = BFF(build_config({"name": "demo"}))
    >>> @bff.get("/v1/ping", auth=False)
    ... async def ping(request) -> Json[Pong]:
    ...     return json_response(Pong(True))
    >>> doc = openapi_document(bff)
    >>> doc["paths"]["/v1/ping"]["get"]["responses"]["200"]["content"]["application/json"]
    {'schema': {'$ref': '#/components/schemas/Pong'}}
    """
    return build_document(bff.config, bff.router.routes, bff._added)


def build_document(
    config: Config, routes: Iterable[Route], added: Sequence[Placement] = ()
) -> dict[str, Any]:
    """The document of a BFF configured by ``config`` with these ``routes`` and added
    stages (what :func:`openapi_document` reads off a BFF)."""
    served = sorted(
        (r for r in routes if r.template != config.openapi.path and r.documented),
        key=lambda r: (r.template, r.method),
    )
    stage_problems = [s for placed in added for s in getattr(placed.stage, "problems", ())]
    responses = {id(r): response_type(r) for r in served}
    types = [t for t in responses.values() if t is not None]
    types += [r.body for r in served if r.body is not None]
    schemas, components = msgspec.json.schema_components([Problem, *types], ref_template=REF)
    for component in components.values():
        # msgspec 0.23 dedents docstrings and earlier releases do not: the published document
        # must not change with the installed msgspec.
        if "description" in component:
            component["description"] = inspect.cleandoc(component["description"])
    by_type = {id(t): s for t, s in zip([Problem, *types], schemas, strict=True)}
    schemes = security_schemes(config.auth)
    problems = {id(r): route_problems(r, config, stage_problems) for r in served}
    deprecated = config.clients.deprecations if config.clients is not None else {}
    paths: dict[str, dict[str, Any]] = {}
    for route in served:
        body = responses[id(route)]
        operation = _operation(
            route,
            None if body is None else by_type[id(body)],
            None if route.body is None else by_type[id(route.body)],
            problems[id(route)],
        )
        if not route.auth and schemes:
            operation["security"] = []
        if route.template in deprecated:  # the breaking-change gate's signal (docs/openapi.md)
            operation["deprecated"] = True
        paths.setdefault(route.template, {})[route.method.lower()] = operation
    info: dict[str, Any] = {
        "title": config.openapi.title or f"{config.name} API",
        "version": config.openapi.version,
    }
    if config.openapi.description:
        info["description"] = config.openapi.description
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": info,
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": _problem_responses(
                (s for statuses in problems.values() for s in statuses), by_type[id(Problem)]
            ),
        },
    }
    if schemes:
        document["components"]["securitySchemes"] = schemes
        document["security"] = security_requirement(schemes)
    return document


def response_type(route: Route) -> Any:
    """The body type ``route`` answers: its ``response=``, else the ``B`` of its handler's
    ``-> Json[B]``; ``None`` is a route with no body (204). An undeclared one is refused,
    naming the route: a document with a hole in it is not a contract."""
    if route.response is not INFER:
        return route.response
    where = f"route {route.method} {route.template}"
    try:
        hints = typing.get_type_hints(route.handler)
    except (NameError, TypeError) as exc:  # a name the handler's module does not define
        raise ConfigError(
            "openapi", f"{where}: its handler's annotations do not resolve ({exc}): "
            "register it with response=Body"
        ) from exc  # fmt: skip
    returned = hints.get("return")
    if typing.get_origin(returned) is Json:
        (body,) = typing.get_args(returned)
        if not isinstance(body, typing.TypeVar):
            return body
    raise ConfigError(
        "openapi",
        f"{where} does not declare its response type:"
        " annotate its handler '-> Json[Body]' or register it with response=Body",
    )


def _problem_responses(statuses: Iterable[int], schema: dict[str, Any]) -> dict[str, Any]:
    """``components.responses``: one problem+json response per status, which operations
    refer to (``PROBLEM_REF``) rather than repeat."""
    return {
        PROBLEM_NAME.format(status=status): {
            "description": describe(status),
            "content": {PROBLEM_CONTENT_TYPE: {"schema": schema}},
        }
        for status in sorted(set(statuses))
    }


def _operation(
    route: Route,
    answer: dict[str, Any] | None,
    body: dict[str, Any] | None,
    problems: list[int],
) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": _operation_id(route)}
    doc = inspect.getdoc(route.handler)
    if doc:
        summary, _, rest = doc.partition("\n")
        operation["summary"] = summary.strip()
        if rest.strip():
            operation["description"] = inspect.cleandoc(rest)
    parameters = [
        {"name": segment[1:-1], "in": "path", "required": True, "schema": PATH_PARAM_SCHEMA}
        for segment in route.segments
        if segment.startswith("{")
    ]
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": kind.schema()}
        for name, kind in route.query.items()
    ]
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    responses: dict[str, Any] = {}
    if answer is None:
        responses["204"] = {"description": "No Content"}
    else:
        responses[str(route.status)] = {
            "description": HTTPStatus(route.status).phrase,
            "content": {"application/json": {"schema": answer}},
        }
    if route.cache is not None:
        responses["304"] = {"description": "Not Modified: the ETag in If-None-Match is current"}
    for status in problems:
        responses[str(status)] = {"$ref": PROBLEM_REF.format(status=status)}
    operation["responses"] = responses
    return operation


def _operation_id(route: Route) -> str:
    """``get /v1/tracks/{id}`` -> ``get_v1_tracks_id``: unique per method and path."""
    return f"{route.method.lower()}_{_NOT_WORD.sub('_', route.template).strip('_')}"
