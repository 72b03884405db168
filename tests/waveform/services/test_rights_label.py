"""rights: ``GET /rights?label=`` pages through one label's tracks by an opaque cursor, and
``GET /rights/{id}?label=`` answers a track's rights only within that label (the partner
label rule lives in this service). A partner's token (real, from the token service) confines
every read to the partner's own label, whatever the query asks."""

from __future__ import annotations

import httpx
import pytest

from waveform.seed import World
from waveform.supervisor import Platform

from .conftest import SCALE, bearer
from .test_tokens import forged

LABEL = "Acme Records"
ACME_TRACK, GLOBEX_TRACK = "t1", "t4"  # labels fixed by the seed for every scale


def _page(platform: Platform, http: httpx.Client, **params: str | int) -> httpx.Response:
    return http.get(f"{platform.url('rights')}/rights", params=params)


def test_walking_a_labels_pages_yields_each_of_its_tracks_once(
    platform: Platform, http: httpx.Client
) -> None:
    world = World(seed=platform.seed, scale=SCALE)
    expected = {r["track_id"] for r in world.rights if r["label"] == LABEL}
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(1000):  # bounded: a cursor that never ends fails below
        params: dict[str, str | int] = {"label": LABEL, "limit": 37}
        if cursor:
            params["cursor"] = cursor
        body = _page(platform, http, **params).json()
        assert len(body["items"]) <= 37
        assert all(item["label"] == LABEL for item in body["items"])
        seen += [item["track_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) and set(seen) == expected


def test_an_unknown_label_is_an_empty_page(platform: Platform, http: httpx.Client) -> None:
    body = _page(platform, http, label="No Such Label").json()
    assert body["items"] == [] and body["next_cursor"] is None


@pytest.mark.parametrize(
    "params",
    [{"label": LABEL, "cursor": "not-ours"}, {"label": LABEL, "ids": "t1"}, {},
     {"label": LABEL, "limit": 0}],
)  # fmt: skip
def test_bad_label_queries_are_400_problems(
    platform: Platform, http: httpx.Client, params: dict[str, str | int]
) -> None:
    response = _page(platform, http, **params)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def _one(platform: Platform, http: httpx.Client, track_id: str, **params: str) -> httpx.Response:
    return http.get(f"{platform.url('rights')}/rights/{track_id}", params=params)


def test_a_tracks_rights_asked_within_its_own_label_are_answered(
    platform: Platform, http: httpx.Client
) -> None:
    response = _one(platform, http, ACME_TRACK, label=LABEL)
    assert response.status_code == 200
    assert response.json()["label"] == LABEL


def test_a_tracks_rights_asked_within_another_label_are_the_same_404_as_a_missing_track(
    platform: Platform, http: httpx.Client
) -> None:
    other = _one(platform, http, GLOBEX_TRACK, label=LABEL)
    missing = _one(platform, http, "t999999999", label=LABEL)
    assert (other.status_code, missing.status_code) == (404, 404)
    assert other.headers["content-type"] == "application/problem+json"
    unnamed = {**other.json(), "detail": other.json()["detail"].replace(GLOBEX_TRACK, "<id>")}
    assert unnamed == {**missing.json(), "detail": missing.json()["detail"].replace(
        "t999999999", "<id>")}  # fmt: skip


# -- a partner caller: confined to the label in its token ----------------------------------

GLOBEX = "Globex Music"


def _as_acme(platform: Platform) -> dict[str, str]:
    return bearer(platform, "rights", "partner:p-acme")


def test_a_partner_reads_its_own_labels_track_without_naming_the_label(
    platform: Platform, http: httpx.Client
) -> None:
    response = http.get(f"{platform.url('rights')}/rights/{ACME_TRACK}",
                        headers=_as_acme(platform))  # fmt: skip
    assert response.status_code == 200
    assert response.json()["label"] == LABEL


@pytest.mark.parametrize(
    "params",
    [{}, {"label": GLOBEX}, {"label": LABEL}],
    ids=["no-label", "asks-for-the-tracks-label", "asks-for-its-own"],
)
def test_a_partner_token_cannot_read_another_labels_rights(
    platform: Platform, http: httpx.Client, params: dict[str, str]
) -> None:
    response = http.get(f"{platform.url('rights')}/rights/{GLOBEX_TRACK}", params=params,
                        headers=_as_acme(platform))  # fmt: skip
    missing = http.get(f"{platform.url('rights')}/rights/t999999999", params=params,
                       headers=_as_acme(platform))  # fmt: skip
    assert (response.status_code, missing.status_code) == (404, 404)
    assert response.json()["title"] == missing.json()["title"]


def test_a_partner_asking_for_another_labels_page_gets_an_empty_one(
    platform: Platform, http: httpx.Client
) -> None:
    response = http.get(f"{platform.url('rights')}/rights", params={"label": GLOBEX},
                        headers=_as_acme(platform))  # fmt: skip
    assert response.status_code == 200
    assert response.json()["items"] == [] and response.json()["next_cursor"] is None


def test_a_partners_batch_leaves_out_other_labels_tracks(
    platform: Platform, http: httpx.Client
) -> None:
    response = http.get(f"{platform.url('rights')}/rights",
                        params={"ids": f"{ACME_TRACK},{GLOBEX_TRACK}"},
                        headers=_as_acme(platform))  # fmt: skip
    assert [item["track_id"] for item in response.json()["items"]] == [ACME_TRACK]


def test_a_partner_token_without_a_label_reads_nothing(platform: Platform) -> None:
    # Only a forged token can lack the label (the token service always states it).
    token = forged(platform, "rights", sub="partner:p-acme", act={"sub": "bff-partner"})
    response = httpx.get(f"{platform.url('rights')}/rights/{ACME_TRACK}",
                         headers={"authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 404


def test_a_caller_that_is_not_a_partner_still_reads_any_label(
    platform: Platform, http: httpx.Client
) -> None:
    response = http.get(f"{platform.url('rights')}/rights/{GLOBEX_TRACK}",
                        headers=bearer(platform, "rights", "u1"))  # fmt: skip
    assert response.status_code == 200 and response.json()["label"] == GLOBEX
