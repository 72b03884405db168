"""``GET /v1/home`` written the common Python way: FastAPI, one shared ``httpx.AsyncClient``
with its defaults, pydantic response models, uvicorn with one worker.

Same upstream calls and dependencies as the mobile BFF's ``HOME`` plan: me, stream,
recommendations and playlists in parallel; the catalog batch once me, stream and
recommendations are in (with x-user-id / x-viewer-country); the users batch once stream and
the catalog batch are in. No JWT verification: the caller is the configured user.

    python -m benchmarks.peers.fastapi_httpx --port 8090 --upstream http://127.0.0.1:18080
"""

from __future__ import annotations

import argparse
import asyncio
import os
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:18080")
USER_ID = os.environ.get("BENCH_USER_ID", "u1")


class UserCard(BaseModel):
    id: str
    username: str
    display_name: str
    avatar_url: str


class TrackCard(BaseModel):
    id: str
    title: str
    duration_ms: int
    artwork_url: str
    stream_url: str
    owner: UserCard | None


class StreamCard(BaseModel):
    id: str
    type: str
    created_at: str
    actor: UserCard | None
    track: TrackCard


class StreamSection(BaseModel):
    items: list[StreamCard]
    next_cursor: str | None


class PlaylistCard(BaseModel):
    id: str
    title: str
    track_count: int
    artwork_url: str


class Home(BaseModel):
    me: UserCard
    stream: StreamSection
    recommendations: list[TrackCard]
    playlists: list[PlaylistCard]


client: httpx.AsyncClient


@asynccontextmanager
async def lifespan(_app: FastAPI) -> Any:
    global client
    client = httpx.AsyncClient(base_url=UPSTREAM)
    yield
    await client.aclose()


app = FastAPI(lifespan=lifespan)


async def get_json(path: str, **kwargs: Any) -> Any:
    response = await client.get(path, **kwargs)
    response.raise_for_status()
    return response.json()


def unique(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))[:100]


def user_card(user: dict[str, Any]) -> UserCard:
    return UserCard(
        id=user["id"],
        username=user["username"],
        display_name=user["display_name"],
        avatar_url=user["avatar_url"],
    )


def track_card(track: dict[str, Any], people: dict[str, dict[str, Any]]) -> TrackCard:
    owner = people.get(track["owner_id"])
    return TrackCard(
        id=track["id"],
        title=track["title"],
        duration_ms=track["duration_ms"],
        artwork_url=track["artwork_url"],
        stream_url=track["media"]["stream_url"],
        owner=user_card(owner) if owner else None,
    )


@app.get("/v1/home", response_model=Home)
async def home() -> Home:
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
    cards = [
        StreamCard(
            id=item["id"],
            type=item["type"],
            created_at=item["created_at"],
            actor=user_card(people[item["actor_id"]]) if item["actor_id"] in people else None,
            track=track_card(by_track[item["track_id"]], people),
        )
        for item in stream["items"]
        if item["track_id"] in by_track
    ]
    return Home(
        me=user_card(me),
        stream=StreamSection(items=cards, next_cursor=stream.get("next_cursor")),
        recommendations=[
            track_card(by_track[r["track_id"]], people)
            for r in recs["items"]
            if r["track_id"] in by_track
        ],
        playlists=[
            PlaylistCard(
                id=p["id"],
                title=p["title"],
                track_count=len(p["track_ids"]),
                artwork_url=p.get("artwork_url", ""),
            )
            for p in playlists["items"]
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, workers=1, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()
