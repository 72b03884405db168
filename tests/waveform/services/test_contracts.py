"""Every response decodes strictly into its published model, and OpenAPI names it."""

from __future__ import annotations

import httpx
import msgspec
import pytest

from waveform.services import models as m
from waveform.supervisor import Platform

from .conftest import bearer

VIEWER = {"X-Viewer-Country": "US"}

CASES: list[tuple[str, str, type[m.Model]]] = [
    ("accounts", "/accounts/u1", m.Account),
    ("accounts", "/.well-known/jwks.json", m.Jwks),
    ("users", "/users/u1", m.User),
    ("users", "/users?ids=u1,u2", m.Users),
    ("tracks", "/tracks/t1", m.Track),
    ("tracks", "/tracks?owner=u2", m.Tracks),
    ("playlists", "/playlists/p1", m.Playlist),
    ("playlists", "/playlists?owner=u1", m.Playlists),
    ("social", "/social/u1/followings", m.SocialList),
    ("social", "/social/u1/likes", m.SocialList),
    ("social", "/social/u1/reposts", m.SocialList),
    ("stream", "/stream/u1", m.StreamPage),
    ("recommendations", "/recommendations/u1", m.Recommendations),
    ("media", "/media/t1", m.Media),
    ("media", "/media?ids=t1,t2", m.MediaBatch),
    ("rights", "/rights/t3", m.Rights),
    ("rights", "/rights?ids=t1,t3", m.RightsBatch),
    ("catalog", "/catalog/tracks/t2", m.CatalogTrack),
    ("catalog", "/catalog/tracks?ids=t1,t2,t3", m.CatalogTracks),
]


@pytest.mark.parametrize("name,path,model", CASES, ids=[c[1] for c in CASES])
def test_response_matches_its_model(
    platform: Platform, http: httpx.Client, name: str, path: str, model: type[m.Model]
) -> None:
    # catalog: bob (u2) owns the private t2, so every model field is exercised.
    headers = {**VIEWER, **(bearer(platform, "catalog", "u2") if name == "catalog" else {})}
    resp = http.get(platform.url(name) + path, headers=headers)
    assert resp.status_code == 200
    msgspec.json.decode(resp.content, type=model)


def test_problem_matches_its_model(platform: Platform, http: httpx.Client) -> None:
    resp = http.get(f"{platform.url('tracks')}/tracks/nope")
    msgspec.json.decode(resp.content, type=m.Problem)


def test_openapi_publishes_the_response_schemas(platform: Platform, http: httpx.Client) -> None:
    doc = http.get(f"{platform.url('catalog')}/openapi.json").json()
    assert {"CatalogTrack", "Media", "Rights", "Problem"} <= doc["components"]["schemas"].keys()
    ok = doc["paths"]["/catalog/tracks/{track_id}"]["get"]["responses"]
    assert ok["200"]["content"]["application/json"]["schema"]["$ref"].endswith("CatalogTrack")
    assert "application/problem+json" in ok["404"]["content"]
