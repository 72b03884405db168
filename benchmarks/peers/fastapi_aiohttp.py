"""``GET /v1/home`` written by a competent Python user: FastAPI, one shared
``aiohttp.ClientSession`` with its connector limit raised (the default 100 caps a process at
100 requests in flight), msgspec to decode and encode, uvicorn on uvloop.

Same upstream calls and dependencies as the mobile BFF's ``HOME`` plan: me, stream,
recommendations and playlists in parallel; the catalog batch once me, stream and
recommendations are in (with x-user-id / x-viewer-country); the users batch once stream and
the catalog batch are in. No JWT verification: the caller is the configured user.

    BENCH_UPSTREAM=http://127.0.0.1:18080 python -m benchmarks.peers.fastapi_aiohttp \\
        --port 8090 --workers 1
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import msgspec
import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:18080")
USER_ID = os.environ.get("BENCH_USER_ID", "u1")
CONNECTOR_LIMIT = 1024

session: aiohttp.ClientSession
_decode = msgspec.json.decode
_encode = msgspec.json.encode


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    global session
    session = aiohttp.ClientSession(
        base_url=UPSTREAM,
        connector=aiohttp.TCPConnector(limit=CONNECTOR_LIMIT, limit_per_host=CONNECTOR_LIMIT),
    )
    yield
    await session.close()


app = FastAPI(lifespan=lifespan)


async def get_json(path: str, **kwargs: Any) -> Any:
    async with session.get(path, **kwargs) as response:
        response.raise_for_status()
        return _decode(await response.read())


def unique(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))[:100]


def user_card(user: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": user["id"],
        "username": user["username"],
        "display_name": user["display_name"],
        "avatar_url": user["avatar_url"],
    }


def track_card(track: dict[str, Any], people: dict[str, dict[str, Any]]) -> dict[str, Any]:
    owner = people.get(track["owner_id"])
    return {
        "id": track["id"],
        "title": track["title"],
        "duration_ms": track["duration_ms"],
        "artwork_url": track["artwork_url"],
        "stream_url": track["media"]["stream_url"],
        "owner": user_card(owner) if owner else None,
    }


@app.get("/v1/home")
async def home() -> Response:
    user_id = USER_ID
    playlists_task = asyncio.create_task(get_json("/playlists", params={"owner": user_id}))
    me, stream, recs = await asyncio.gather(
        get_json(f"/users/{user_id}"),
        get_json(f"/stream/{user_id}", params={"limit": 20}),
        get_json(f"/recommendations/{user_id}", params={"limit": 10}),
    )
    track_ids = unique(
        [i["track_id"] for i in stream["items"]] + [r["track_id"] for r in recs["items"]]
    )
    tracks: list[dict[str, Any]] = []
    if track_ids:
        catalog = await get_json(
            "/catalog/tracks",
            params={"ids": ",".join(track_ids)},
            headers={"x-user-id": user_id, "x-viewer-country": me.get("country", "")},
        )
        tracks = catalog["items"]
    people_ids = unique([i["actor_id"] for i in stream["items"]] + [t["owner_id"] for t in tracks])
    users: list[dict[str, Any]] = []
    if people_ids:
        users = (await get_json("/users", params={"ids": ",".join(people_ids)}))["items"]
    playlists = await playlists_task

    by_track = {t["id"]: t for t in tracks}
    people = {u["id"]: u for u in users}
    body = {
        "me": user_card(me),
        "stream": {
            "items": [
                {
                    "id": item["id"],
                    "type": item["type"],
                    "created_at": item["created_at"],
                    "actor": user_card(people[item["actor_id"]])
                    if item["actor_id"] in people
                    else None,
                    "track": track_card(by_track[item["track_id"]], people),
                }
                for item in stream["items"]
                if item["track_id"] in by_track
            ],
            "next_cursor": stream.get("next_cursor"),
        },
        "recommendations": [
            track_card(by_track[r["track_id"]], people)
            for r in recs["items"]
            if r["track_id"] in by_track
        ],
        "playlists": [
            {
                "id": p["id"],
                "title": p["title"],
                "track_count": len(p["track_ids"]),
                "artwork_url": p.get("artwork_url", ""),
            }
            for p in playlists["items"]
        ],
    }
    return Response(_encode(body), media_type="application/json")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(
        "benchmarks.peers.fastapi_aiohttp:app",
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
