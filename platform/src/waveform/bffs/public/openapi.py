"""The public API's OpenAPI 3.1 document, generated from the response structs.

The schemas come from msgspec (``schema_components``), so the published contract is the code
that encodes the responses: it cannot drift. ``docs/public-api.openapi.json`` is written from it.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import msgspec

from waveform.bffs.public.catalog import catalog_routes
from waveform.bffs.public.shapes import MeOut, PlaylistOut, ProblemOut, TokenOut, TrackOut, UserOut

VERSION = "1.0.0"
REF = "#/components/schemas/{name}"

#: (method, path, summary, response struct, who may call: "app", "user" or "anyone")
OPERATIONS: tuple[tuple[str, str, str, type[msgspec.Struct], str], ...] = (
    ("post", "/v1/oauth/token", "Get an access token (client_credentials, password with "
     "client_id, refresh_token)", TokenOut, "anyone"),
    ("get", "/v1/tracks/{id}", "A track and its owner", TrackOut, "app"),
    ("get", "/v1/users/{id}", "A user and their visible tracks", UserOut, "app"),
    ("get", "/v1/playlists/{id}", "A playlist (a private one only for its owner)", PlaylistOut,
     "app"),
    ("get", "/v1/me", "The signed-in user and their playlists", MeOut, "user"),
    # Transcoded from the catalog's gRPC API at startup (waveform.bffs.public.catalog).
    *(
        ("get", r.template, f"{r.method} (the catalog's gRPC API as JSON)", r.into, "app")
        for r in catalog_routes()
    ),
)  # fmt: skip

_ERRORS = {
    "400": "a parameter is invalid (the problem names it)",
    "401": "no credential, or one that is not valid",
    "403": "the app is suspended, not allowed here, or the route needs a user token",
    "404": "no such resource, or not visible to the caller",
    "429": "too many requests (see RateLimit and Retry-After)",
}


def openapi_document() -> dict[str, Any]:
    structs = [op[3] for op in OPERATIONS] + [ProblemOut]
    _, components = msgspec.json.schema_components(structs, ref_template=REF)
    for schema in components.values():
        # msgspec 0.23 dedents docstrings and earlier releases do not: the published contract
        # must not change with the installed msgspec.
        if "description" in schema:
            schema["description"] = inspect.cleandoc(schema["description"])
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, struct, who in OPERATIONS:
        operation: dict[str, Any] = {
            "summary": summary,
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {
                        "application/json": {"schema": {"$ref": REF.format(name=struct.__name__)}}
                    },
                },
                **{
                    code: {
                        "description": text,
                        "content": {
                            "application/problem+json": {
                                "schema": {"$ref": REF.format(name="ProblemOut")}
                            }
                        },
                    }
                    for code, text in _ERRORS.items()
                },
            },
        }
        if "{" in path:
            operation["parameters"] = [
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"},
                }
                for name in re.findall(r"\{(\w+)\}", path)
            ]
        if who == "anyone":
            operation["security"] = []
        elif who == "user":
            operation["description"] = "Needs a user token (an app token gets 403)."
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "waveform public API",
            "version": VERSION,
            "description": "Versioned under /v1: fields are only ever added within a version.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "oauth2": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {"tokenUrl": "/v1/oauth/token", "scopes": {}},
                        "password": {"tokenUrl": "/v1/oauth/token", "scopes": {}},
                    },
                }
            },
        },
        "security": [{"oauth2": []}],
    }


if __name__ == "__main__":  # python -m waveform.bffs.public.openapi > docs/public-api.openapi.json
    import json

    print(json.dumps(openapi_document(), indent=2, sort_keys=True))
