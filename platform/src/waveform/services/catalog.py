"""catalog (9010): the value-added tracks service. Authorization happens here, once.

It merges tracks + rights + media (foundation services, over real HTTP, in parallel) and
applies the visibility rules every BFF relies on:

- a private track is visible only to its owner: the viewer is the ``sub`` of the internal
  token the caller presented (never a header a caller could set);
- a geo-restricted track is visible only when ``X-Viewer-Country`` (set by the BFF from the
  viewer's profile) is in its ``allowed_countries``.

A hidden track answers exactly like a missing one (404 with the same body), so the
existence of a private track is not revealed. The caller's ``X-Deadline-Ms`` budget is
passed on, reduced by the time already spent. Inward, catalog is a token-exchange client of
its own (``catalog``): it exchanges the same subject for tracks / rights / media tokens.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import msgspec
from fastapi import FastAPI, Header, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from tailor.auth.internal import TokenCache, TokenExchangeError, TokenExchanger
from tailor.errors import UpstreamError
from waveform.seed import token_client_secret
from waveform.services import models as m
from waveform.services.common import (
    Problem,
    create_app,
    internal_claims,
    json_response,
    parse_ids,
    remaining_ms,
    returns,
    serve,
    service_parser,
    setup_logging,
)

Row = dict[str, Any]
#: Budget for an upstream call when the caller set none.
DEFAULT_UPSTREAM_TIMEOUT_MS = 2000


def hidden(track_id: str) -> Problem:
    """The one 404 for both 'no such track' and 'not yours to see'."""
    return Problem(404, "Not Found", f"track {track_id!r} does not exist")


def visible(track: Row, rights: Row | None, viewer: str | None, country: str | None) -> bool:
    """The authorization rule for tracks; rights that are missing fail closed."""
    if track.get("private") and track.get("owner_id") != viewer:
        return False
    if rights is None:
        return False
    return not rights.get("geo_restricted") or country in rights.get("allowed_countries", [])


CLIENT_ID = "catalog"


class Upstreams:
    """GET JSON from the foundation services with the request's remaining budget, each call
    carrying an internal token for that service about the same subject."""

    def __init__(
        self,
        tracks: str,
        rights: str,
        media: str,
        limit: int = 200,
        tokens: str = "http://127.0.0.1:9011",
        client_secret: str = "",
        social: str = "http://127.0.0.1:9005",
    ) -> None:
        self.base = {
            "tracks": tracks.rstrip("/"),
            "rights": rights.rstrip("/"),
            "media": media.rstrip("/"),
            "social": social.rstrip("/"),
        }
        self.limit = limit
        self.token_url = tokens.rstrip("/") + "/token"
        self.tokens = TokenCache(TokenExchanger(CLIENT_ID, client_secret, self._post))
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.limit, limit_per_host=self.limit)
        )

    async def _post(self, body: bytes, headers: Sequence[tuple[str, str]]) -> tuple[int, bytes]:
        assert self._session is not None, "Upstreams.start() was not awaited"
        try:
            async with self._session.post(
                self.token_url,
                data=body,
                headers=list(headers),
                timeout=aiohttp.ClientTimeout(total=1.0),
            ) as resp:
                return resp.status, await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TokenExchangeError("tokens", f"token service unreachable: {exc}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def get(
        self, service: str, path: str, subject: str, params: dict[str, str] | None = None
    ) -> Row | None:
        """The decoded body, or None on 404; other failures become 502/504 problems."""
        assert self._session is not None, "Upstreams.start() was not awaited"
        try:
            token = await self.tokens.token(subject, service)
        except UpstreamError as exc:
            raise Problem(502, "Bad Gateway", f"no internal token for {service}") from exc
        budget = remaining_ms()
        if budget is None:
            budget = DEFAULT_UPSTREAM_TIMEOUT_MS
        if budget <= 0:
            raise Problem(504, "Deadline Exceeded", "no budget left to call " + service)
        url = self.base[service] + path
        timeout = aiohttp.ClientTimeout(total=budget / 1000)
        for attempt in (1, 2):
            try:
                async with self._session.get(
                    url,
                    params=params,
                    timeout=timeout,
                    headers={"X-Deadline-Ms": str(budget), "Authorization": f"Bearer {token}"},
                ) as resp:
                    body = await resp.read()
                    if resp.status == 404:
                        return None
                    if resp.status == 504:
                        raise Problem(504, "Deadline Exceeded", f"{service} ran out of time")
                    if resp.status != 200:
                        raise Problem(502, "Bad Gateway", f"{service} answered {resp.status}")
                    decoded: Row = msgspec.json.decode(body)
                    return decoded
            except aiohttp.ServerDisconnectedError as exc:
                # A pooled keep-alive connection the server had closed: retry once (GET).
                if attempt == 2:
                    raise Problem(502, "Bad Gateway", f"{service} disconnected") from exc
            except TimeoutError as exc:
                raise Problem(
                    504, "Deadline Exceeded", f"{service} did not answer in {budget} ms"
                ) from exc
            except (aiohttp.ClientError, msgspec.DecodeError) as exc:
                raise Problem(502, "Bad Gateway", f"{service} failed: {exc}") from exc
        raise AssertionError("unreachable")

    async def send(
        self,
        method: str,
        service: str,
        path: str,
        subject: str,
        body: Any = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, Row]:
        """Send a command (never retried: the service decides once); its status and body.
        A 4xx comes back for the caller to relay; a 5xx or a failure is this call's 502/504."""
        assert self._session is not None, "Upstreams.start() was not awaited"
        try:
            token = await self.tokens.token(subject, service)
        except UpstreamError as exc:
            raise Problem(502, "Bad Gateway", f"no internal token for {service}") from exc
        budget = remaining_ms() or DEFAULT_UPSTREAM_TIMEOUT_MS
        if budget <= 0:
            raise Problem(504, "Deadline Exceeded", "no budget left to call " + service)
        headers = {"X-Deadline-Ms": str(budget), "Authorization": f"Bearer {token}"}
        try:
            async with self._session.request(
                method,
                self.base[service] + path,
                json=body,
                params=params,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=budget / 1000),
            ) as resp:
                status, raw = resp.status, await resp.read()
        except TimeoutError as exc:
            raise Problem(504, "Deadline Exceeded", f"{service} did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise Problem(502, "Bad Gateway", f"{service} failed: {exc}") from exc
        if status >= 500:
            raise Problem(502, "Bad Gateway", f"{service} answered {status}")
        try:
            decoded: Row = msgspec.json.decode(raw) if raw else {}
        except msgspec.DecodeError as exc:
            raise Problem(502, "Bad Gateway", f"{service} answered garbage") from exc
        return status, decoded


def relayed(status: int, body: Row) -> Response:
    """A service's answer to a command, passed on (a 4xx as the problem it is)."""
    if status >= 400:
        detail = str(body.get("detail", ""))[:300] or f"refused ({status})"
        raise Problem(status, str(body.get("title", "Error")), detail)
    return json_response(body, status=status)


class NewTrack(BaseModel):
    """A track a user posts; the owner is the caller, never a field."""

    title: str = Field(min_length=1, max_length=200)
    duration_ms: int = Field(180_000, gt=0, le=24 * 3600 * 1000)
    genre: str = Field("", max_length=64)
    description: str = Field("", max_length=4000)
    private: bool = False


def build_app(upstreams: Upstreams) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await upstreams.start()
        try:
            yield
        finally:
            await upstreams.close()

    app = create_app(
        "catalog", "Tracks merged with rights and media, visibility applied.", lifespan=lifespan
    )

    @app.get("/catalog/tracks/{track_id}", responses=returns(m.CatalogTrack, 404, 502))
    async def get_track(
        track_id: str, request: Request, x_viewer_country: str | None = Header(None)
    ) -> Response:
        viewer = internal_claims(request).subject
        track, rights, media = await asyncio.gather(
            upstreams.get("tracks", f"/tracks/{track_id}", viewer),
            upstreams.get("rights", f"/rights/{track_id}", viewer),
            upstreams.get("media", f"/media/{track_id}", viewer),
        )
        if track is None or not visible(track, rights, viewer, x_viewer_country):
            raise hidden(track_id)
        return json_response({**track, "media": media, "rights": rights})

    @app.get("/catalog/tracks", responses=returns(m.CatalogTracks, 502))
    async def batch_tracks(
        request: Request,
        ids: str = Query(..., description="track ids, max 100"),
        x_viewer_country: str | None = Header(None),
    ) -> Response:
        viewer = internal_claims(request).subject
        wanted = parse_ids(ids)
        params = {"ids": ",".join(wanted)}
        tracks, rights, media = await asyncio.gather(
            upstreams.get("tracks", "/tracks", viewer, params),
            upstreams.get("rights", "/rights", viewer, params),
            upstreams.get("media", "/media", viewer, params),
        )
        by_rights = {r["track_id"]: r for r in (rights or {}).get("items", [])}
        by_media = {m["track_id"]: m for m in (media or {}).get("items", [])}
        by_track = {t["id"]: t for t in (tracks or {}).get("items", [])}
        items = []
        for tid in wanted:
            track = by_track.get(tid)
            if track is None:
                continue
            r = by_rights.get(tid)
            if visible(track, r, viewer, x_viewer_country):
                items.append({**track, "media": by_media.get(tid), "rights": r})
        return json_response({"items": items})

    # -- commands: the same visibility rule as reads, decided here once --------------------

    async def seen(track_id: str, viewer: str, country: str | None) -> Row:
        """The track, when ``viewer`` may see it; else the 404 a read would answer."""
        track, rights = await asyncio.gather(
            upstreams.get("tracks", f"/tracks/{track_id}", viewer),
            upstreams.get("rights", f"/rights/{track_id}", viewer),
        )
        if track is None or not visible(track, rights, viewer, country):
            raise hidden(track_id)
        return track

    def user_of(request: Request) -> str:
        """The user a command is by: a user subject (an app or partner likes nothing)."""
        subject = internal_claims(request).subject
        if not subject or ":" in subject:
            raise Problem(403, "Forbidden", "commands are made by users")
        return subject

    async def engage(
        method: str, kind: str, track_id: str, request: Request, country: str | None
    ) -> Response:
        viewer = user_of(request)
        track = await seen(track_id, viewer, country)
        owner = str(track.get("owner_id", ""))
        path = f"/social/{kind}/{track_id}"
        if method == "PUT":
            status, body = await upstreams.send("PUT", "social", path, viewer, {"owner_id": owner})
        else:
            status, body = await upstreams.send(
                "DELETE", "social", path, viewer, params={"owner_id": owner}
            )
        return relayed(status, body)

    country_h = Header(None, alias="x-viewer-country")
    engaged = returns(m.Engagement, 403, 404, 502)

    @app.post("/catalog/tracks/{track_id}/like", responses=engaged)
    async def like(track_id: str, request: Request, country: str | None = country_h) -> Response:
        """Like a track the caller may see (a hidden one is the read's 404)."""
        return await engage("PUT", "likes", track_id, request, country)

    @app.delete("/catalog/tracks/{track_id}/like", responses=engaged)
    async def unlike(track_id: str, request: Request, country: str | None = country_h) -> Response:
        return await engage("DELETE", "likes", track_id, request, country)

    @app.post("/catalog/tracks/{track_id}/repost", responses=engaged)
    async def repost(track_id: str, request: Request, country: str | None = country_h) -> Response:
        return await engage("PUT", "reposts", track_id, request, country)

    @app.delete("/catalog/tracks/{track_id}/repost", responses=engaged)
    async def unrepost(
        track_id: str, request: Request, country: str | None = country_h
    ) -> Response:
        return await engage("DELETE", "reposts", track_id, request, country)

    @app.post("/catalog/tracks", status_code=201, responses=returns(m.Track, 400, 403, 502))
    async def post_track(new: NewTrack, request: Request) -> Response:
        """Post a track as the caller. The tracks service emits ``track.posted``; rights and
        media build the new track's rows from it, and until they have, reads hide it (fail
        closed), so a half-built track is never served."""
        owner = user_of(request)
        status, body = await upstreams.send(
            "POST", "tracks", "/tracks", owner, {**new.model_dump(), "owner_id": owner}
        )
        return relayed(status, body)

    return app


def main() -> None:
    parser = service_parser("catalog", 9010)
    parser.add_argument("--tracks", default="http://127.0.0.1:9003")
    parser.add_argument("--rights", default="http://127.0.0.1:9009")
    parser.add_argument("--media", default="http://127.0.0.1:9008")
    parser.add_argument("--social", default="http://127.0.0.1:9005")
    parser.add_argument("--max-connections", type=int, default=200)
    args = parser.parse_args()
    setup_logging(args)
    secret = os.environ.get("WAVEFORM_CATALOG_SECRET") or token_client_secret(args.seed, CLIENT_ID)
    upstreams = Upstreams(
        args.tracks,
        args.rights,
        args.media,
        args.max_connections,
        tokens=args.tokens,
        client_secret=secret,
        social=args.social,
    )
    serve(build_app(upstreams), args)


if __name__ == "__main__":
    main()
