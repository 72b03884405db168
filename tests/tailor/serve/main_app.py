"""BFF factories served as real processes by ``python -m tailor.serve`` in the tests of
:mod:`tailor.serve.__main__`. Each builds its own config, as a factory served that way does;
the ``MAIN_APP_*`` environment variables set what the test varies."""

from __future__ import annotations

import gc
import os

from tailor import BFF, Request, Response, build_config, json_response


def _config(**sections: object) -> dict[str, object]:
    return {"name": os.environ.get("MAIN_APP_NAME", "main-test"), **sections}


def _serve_pid_and_gc(bff: BFF) -> BFF:
    @bff.get("/pid", auth=False)
    async def pid(request: Request) -> Response:
        return json_response({"pid": os.getpid(), "gc_threshold": gc.get_threshold()[0]})

    return bff


def tuned() -> BFF:
    """Its own listen port and GC threshold (``MAIN_APP_PORT``), no admin listener."""
    port = int(os.environ["MAIN_APP_PORT"])
    return _serve_pid_and_gc(
        BFF(
            build_config(
                _config(
                    listen={"host": "127.0.0.1", "port": port},
                    server={"gc_threshold": 123},
                    admin={"enabled": False},
                )
            )
        )
    )


def with_admin() -> BFF:
    """The admin listener on, at ``MAIN_APP_ADMIN_PORT`` if set, else the default."""
    admin = (
        {"port": int(os.environ["MAIN_APP_ADMIN_PORT"])}
        if "MAIN_APP_ADMIN_PORT" in os.environ
        else {}
    )
    return _serve_pid_and_gc(BFF(build_config(_config(admin=admin))))


def unauthenticated() -> BFF:
    """A route that requires authentication, and no authenticator configured."""
    bff = BFF(build_config(_config(admin={"enabled": False})))

    @bff.get("/v1/me")
    async def me(request: Request) -> Response:
        return json_response({"me": request.principal.subject})

    return bff
