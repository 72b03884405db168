"""The public API's transcoded catalog routes (built at startup from the catalog's descriptors
and http rules): the published fields only, visibility as the catalog decides it, 400 naming
an unknown or ill-typed query parameter, and in the BFF's OpenAPI."""

from __future__ import annotations

import httpx
import pytest

from tailor.govern.command import load_bff
from tailor.openapi import openapi_document
from waveform.bffs.public.catalog import TRACK_FIELDS
from waveform.seed import PRIVATE_TRACK
from waveform.supervisor import Platform

from .caller import Caller, public_app


@pytest.fixture(scope="module")
def app(platform: Platform, http: httpx.Client) -> Caller:
    return public_app(platform, http)


def test_a_transcoded_route_answers_the_published_fields_only(app: Caller) -> None:
    response = app.get("/v1/catalog/tracks/t1")
    assert response.status_code == 200, response.text
    track = response.json()
    assert track["id"] == "t1" and isinstance(track["play_count"], int)
    assert set(track) == {name.split(".")[0] for name in TRACK_FIELDS}
    assert set(track["media"]) == {"stream_url"}


def test_a_batch_keeps_the_order_asked_and_leaves_out_what_the_caller_may_not_see(
    app: Caller,
) -> None:
    response = app.get(f"/v1/catalog/tracks?ids=t4,{PRIVATE_TRACK},t1")
    assert response.status_code == 200, response.text
    assert [t["id"] for t in response.json()["items"]] == ["t4", "t1"]


def test_a_hidden_track_is_a_404_problem(app: Caller) -> None:
    response = app.get(f"/v1/catalog/tracks/{PRIVATE_TRACK}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_an_unknown_query_parameter_is_a_400_naming_it(app: Caller) -> None:
    response = app.get("/v1/catalog/tracks?ids=t1&color=red")
    assert response.status_code == 400
    assert response.json()["parameter"] == "color"


def test_an_ill_typed_query_parameter_is_a_400_naming_it(app: Caller) -> None:
    response = app.get("/v1/catalog/tracks?ids=t1;DROP")
    assert response.status_code == 400
    assert response.json()["parameter"] == "ids"


def test_the_transcoded_routes_are_in_the_openapi_document() -> None:
    paths = openapi_document(load_bff("waveform.bffs.public.app"))["paths"]
    assert {"/v1/catalog/tracks/{track_id}", "/v1/catalog/tracks"} <= set(paths)
