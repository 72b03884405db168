"""Commands through real BFF processes: like, repost, follow, playlists and posts on the web,
mobile and public BFFs, decided by the services, seen on the caller's next read everywhere.

The platform is shared by the session: each test uses tracks of its own, and the writes that
succeed are carol's and erin's (other tests compare alice's screens with the services and
count dave's first token exchanges on mobile; alice only sends commands that are refused),
so nothing here changes what another test reads."""

from __future__ import annotations

import httpx
import pytest

from waveform.seed import GEO_BLOCKED_TRACK, PRIVATE_TRACK
from waveform.supervisor import Platform

from .caller import Caller, public_app, public_user, signed_in
from .commands_helpers import fresh_key, send


@pytest.fixture(scope="module")
def web_carol(platform: Platform, http: httpx.Client) -> Caller:
    return signed_in(platform, http, "web", "carol")


@pytest.fixture(scope="module")
def web_erin(platform: Platform, http: httpx.Client) -> Caller:
    return signed_in(platform, http, "web", "erin")


@pytest.fixture(scope="module")
def mobile_carol(platform: Platform, http: httpx.Client) -> Caller:
    return signed_in(platform, http, "mobile", "carol")


@pytest.fixture(scope="module")
def mobile_erin(platform: Platform, http: httpx.Client) -> Caller:
    return signed_in(platform, http, "mobile", "erin")


def visible_to(caller: Caller, prefix: str, track: str) -> None:
    assert caller.get(f"{prefix}/tracks/{track}").status_code == 200


# -- likes and reposts ---------------------------------------------------------------------


def test_a_like_answers_the_liked_state_and_count(web_carol: Caller) -> None:
    visible_to(web_carol, "/api", "t11")
    before = web_carol.get("/api/tracks/t11").json()["likes"]
    response = send(web_carol, "POST", "/api/tracks/t11/like")
    assert response.status_code == 200, response.text
    assert response.json() == {"track_id": "t11", "liked": True, "likes": before + 1}


def test_a_like_on_web_shows_on_the_callers_next_read_on_every_bff(
    platform: Platform, http: httpx.Client, web_carol: Caller, mobile_carol: Caller
) -> None:
    assert send(web_carol, "POST", "/api/tracks/t12/like").status_code == 200
    assert web_carol.get("/api/tracks/t12").json()["liked"] is True
    assert mobile_carol.get("/v1/tracks/t12").json()["liked"] is True
    public = public_user(platform, http, "carol")
    assert public.get("/v1/tracks/t12").json()["liked"] is True


def test_a_like_twice_is_one_like(web_carol: Caller) -> None:
    first = send(web_carol, "POST", "/api/tracks/t13/like").json()
    second = send(web_carol, "POST", "/api/tracks/t13/like").json()
    assert second["likes"] == first["likes"]


def test_an_unlike_takes_the_like_back(mobile_carol: Caller) -> None:
    liked = send(mobile_carol, "POST", "/v1/tracks/t14/like").json()
    response = send(mobile_carol, "DELETE", "/v1/tracks/t14/like")
    assert response.status_code == 200
    assert response.json() == {"track_id": "t14", "liked": False, "likes": liked["likes"] - 1}
    assert mobile_carol.get("/v1/tracks/t14").json()["liked"] is False


def test_a_repost_and_its_undoing_show_on_the_next_read(web_carol: Caller) -> None:
    assert send(web_carol, "POST", "/api/tracks/t15/repost").json() == {
        "track_id": "t15", "reposted": True}  # fmt: skip
    assert web_carol.get("/api/tracks/t15").json()["reposted"] is True
    assert send(web_carol, "DELETE", "/api/tracks/t15/repost").json()["reposted"] is False
    assert web_carol.get("/api/tracks/t15").json()["reposted"] is False


@pytest.mark.parametrize("track", [PRIVATE_TRACK, GEO_BLOCKED_TRACK])
@pytest.mark.parametrize("verb", ["like", "repost"])
def test_a_command_on_a_track_the_caller_may_not_see_is_the_reads_404(
    web_alice: Caller, web_bob: Caller, track: str, verb: str
) -> None:
    read = web_alice.get(f"/api/tracks/{track}")
    response = send(web_alice, "POST", f"/api/tracks/{track}/{verb}")
    assert response.status_code == read.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_a_refused_like_leaves_no_like_behind(web_bob: Caller, web_alice: Caller) -> None:
    # bob owns the private track and sees its likes; alice's refused like must not count.
    before = web_bob.get(f"/api/tracks/{PRIVATE_TRACK}").json()["likes"]
    assert send(web_alice, "POST", f"/api/tracks/{PRIVATE_TRACK}/like").status_code == 404
    assert web_bob.get(f"/api/tracks/{PRIVATE_TRACK}").json()["likes"] == before


def test_the_owner_may_like_their_own_private_track(web_bob: Caller) -> None:
    response = send(web_bob, "POST", f"/api/tracks/{PRIVATE_TRACK}/like")
    assert response.status_code == 200 and response.json()["liked"] is True


# -- follows -------------------------------------------------------------------------------


def test_a_follow_and_unfollow_show_on_the_next_read_on_web_and_mobile(
    web_carol: Caller, mobile_carol: Caller
) -> None:
    carol = web_carol
    assert send(carol, "POST", "/api/users/u5/follow").json() == {
        "user_id": "u5", "following": True}  # fmt: skip
    assert carol.get("/api/users/u5").json()["following"] is True
    assert mobile_carol.get("/v1/users/u5").json()["following"] is True
    assert send(carol, "DELETE", "/api/users/u5/follow").json()["following"] is False
    assert carol.get("/api/users/u5").json()["following"] is False


def test_following_oneself_is_400(web_alice: Caller) -> None:
    response = send(web_alice, "POST", "/api/users/u1/follow")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_following_a_user_that_does_not_exist_is_404(web_alice: Caller) -> None:
    assert send(web_alice, "POST", "/api/users/u999999/follow").status_code == 404


# -- playlists -----------------------------------------------------------------------------


def create_playlist(caller: Caller, prefix: str, track_ids: list[str]) -> httpx.Response:
    response = send(
        caller, "POST", f"{prefix}/playlists", {"title": "Mine", "track_ids": track_ids}
    )
    assert response.status_code == 201, response.text
    return response


def test_a_created_playlist_answers_as_its_read_with_an_etag(web_carol: Caller) -> None:
    created = create_playlist(web_carol, "/api", ["t1", "t21"])
    body = created.json()
    assert body["owner_id"] == "u3" and body["track_ids"] == ["t1", "t21"]
    read = web_carol.get(f"/api/playlists/{body['id']}")
    assert read.json() == body
    assert read.headers["etag"] == created.headers["etag"]


def test_an_edit_with_the_current_etag_reorders_and_answers_a_new_etag(
    web_carol: Caller,
) -> None:
    created = create_playlist(web_carol, "/api", ["t1", "t21", "t22"])
    pid, etag = created.json()["id"], created.headers["etag"]
    edited = send(web_carol, "PATCH", f"/api/playlists/{pid}", {"track_ids": ["t22", "t1"]},
                  if_match=etag)  # fmt: skip
    assert edited.status_code == 200, edited.text
    assert edited.json()["track_ids"] == ["t22", "t1"]
    assert edited.headers["etag"] != etag
    assert web_carol.get(f"/api/playlists/{pid}").headers["etag"] == edited.headers["etag"]


def test_an_edit_based_on_a_stale_etag_is_412_and_changes_nothing(mobile_erin: Caller) -> None:
    created = create_playlist(mobile_erin, "/v1", ["t1"])
    pid, stale = created.json()["id"], created.headers["etag"]
    first = send(mobile_erin, "PATCH", f"/v1/playlists/{pid}", {"title": "Tab one"},
                 if_match=stale)  # fmt: skip
    assert first.status_code == 200
    lost = send(mobile_erin, "PATCH", f"/v1/playlists/{pid}", {"title": "Tab two"},
                if_match=stale)  # fmt: skip
    assert lost.status_code == 412
    assert lost.headers["content-type"] == "application/problem+json"
    assert mobile_erin.get(f"/v1/playlists/{pid}").json()["title"] == "Tab one"


def test_an_edit_without_if_match_is_428(web_carol: Caller) -> None:
    pid = create_playlist(web_carol, "/api", ["t1"]).json()["id"]
    response = send(web_carol, "PATCH", f"/api/playlists/{pid}", {"title": "x"})
    assert response.status_code == 428
    assert response.headers["content-type"] == "application/problem+json"


def test_editing_someone_elses_visible_playlist_is_403(web_carol: Caller, web_bob: Caller) -> None:
    created = create_playlist(web_carol, "/api", ["t1"])
    pid, etag = created.json()["id"], created.headers["etag"]
    response = send(web_bob, "PATCH", f"/api/playlists/{pid}", {"title": "bob's now"},
                    if_match=etag)  # fmt: skip
    assert response.status_code == 403
    assert web_carol.get(f"/api/playlists/{pid}").json()["title"] == "Mine"


def test_editing_someone_elses_private_playlist_is_the_404_of_a_missing_one(
    web_carol: Caller, web_bob: Caller
) -> None:
    created = send(web_carol, "POST", "/api/playlists",
                   {"title": "Secret", "track_ids": [], "private": True})  # fmt: skip
    pid, etag = created.json()["id"], created.headers["etag"]
    response = send(web_bob, "PATCH", f"/api/playlists/{pid}", {"title": "x"}, if_match=etag)
    missing = send(web_bob, "PATCH", "/api/playlists/p999999", {"title": "x"}, if_match=etag)
    assert response.status_code == missing.status_code == 404
    assert response.json()["detail"].replace(pid, "?") == missing.json()["detail"].replace(
        "p999999", "?"
    )


def test_a_playlist_body_of_the_wrong_shape_is_400(web_carol: Caller) -> None:
    response = send(web_carol, "POST", "/api/playlists", {"title": 5})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


# -- idempotency ---------------------------------------------------------------------------


def test_a_retried_post_with_the_same_key_answers_the_first_result(mobile_erin: Caller) -> None:
    key = fresh_key()
    body = {"title": "Retried", "track_ids": ["t1"]}
    first = send(mobile_erin, "POST", "/v1/playlists", body, key=key)
    retry = send(mobile_erin, "POST", "/v1/playlists", body, key=key)
    assert first.status_code == retry.status_code == 201
    assert retry.content == first.content  # the same playlist, not a second one
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.headers["etag"] == first.headers["etag"]


def test_the_same_key_with_another_body_is_422(mobile_erin: Caller) -> None:
    key = fresh_key()
    assert send(mobile_erin, "POST", "/v1/tracks/t16/like", key=key).status_code == 200
    response = send(mobile_erin, "POST", "/v1/tracks/t17/like", key=key)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_keys_are_per_caller(web_carol: Caller, web_bob: Caller) -> None:
    key = fresh_key()
    mine = send(web_carol, "POST", "/api/playlists", {"title": "A"}, key=key)
    theirs = send(web_bob, "POST", "/api/playlists", {"title": "A"}, key=key)
    assert theirs.status_code == 201 and "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]


# -- write limits --------------------------------------------------------------------------


def test_writes_over_the_users_quota_are_429_with_ratelimit_headers(
    platform: Platform, http: httpx.Client
) -> None:
    dave = signed_in(
        platform, http, "web", "dave"
    )  # a quota of its own: no other test writes as dave
    seen = []
    # The profile's user-write quota: a burst of 120, refilled one every 0.5 s (GCRA), so a
    # slow run may get a few more through; bounded all the same.
    for _ in range(400):
        response = send(dave, "PATCH", "/api/playlists/p1", {"title": "x"})  # 428: no upstream
        seen.append(response.status_code)
        if response.status_code == 429:
            break
    assert seen[-1] == 429 and len(seen) > 120
    assert set(seen[:-1]) == {428}
    assert '"user-write";q=120;w=60' in response.headers["ratelimit-policy"]
    assert response.headers["ratelimit"].startswith('"user-write";r=0')
    assert int(response.headers["retry-after"]) >= 1
    assert dave.get("/api/tracks/t1").status_code == 200  # reads are another quota


# -- posting -------------------------------------------------------------------------------


def test_a_posted_track_is_owned_by_the_caller_whatever_the_body_says(web_carol: Caller) -> None:
    response = send(web_carol, "POST", "/api/tracks", {"title": "New one", "genre": "house"})
    assert response.status_code == 201, response.text
    assert response.json()["owner_id"] == "u3" and response.json()["title"] == "New one"
    sneaky = send(web_carol, "POST", "/api/tracks", {"title": "x", "owner_id": "u2"})
    assert sneaky.status_code == 400  # an owner is not a field a caller sends


# -- the public API's write scopes -----------------------------------------------------------


def test_a_public_user_token_with_the_write_scope_likes(
    platform: Platform, http: httpx.Client
) -> None:
    carol = public_user(platform, http, "carol")
    response = send(carol, "POST", "/v1/tracks/t21/like")
    assert response.status_code == 200 and response.json()["liked"] is True


def test_an_app_token_sends_no_commands(platform: Platform, http: httpx.Client) -> None:
    app = public_app(platform, http)
    response = send(app, "POST", "/v1/tracks/t21/like")
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


def test_a_public_edit_of_someone_elses_playlist_is_403(
    platform: Platform, http: httpx.Client, web_carol: Caller
) -> None:
    created = create_playlist(web_carol, "/api", ["t1"])
    bob = public_user(platform, http, "bob")
    response = send(bob, "PATCH", f"/v1/playlists/{created.json()['id']}", {"title": "x"},
                    if_match=created.headers["etag"])  # fmt: skip
    assert response.status_code == 403


# -- browser sessions ------------------------------------------------------------------------


def _session(platform: Platform, http: httpx.Client, username: str) -> tuple[str, str]:
    base = platform.url("web")
    # A client of its own: the shared one would keep the cookie and send it with every later
    # test's requests, which the web BFF would then answer as this user.
    with httpx.Client(timeout=http.timeout) as own:
        login = own.post(f"{base}/api/session", headers={"origin": base},
                         json={"username": username, "password": f"wave-{username}"})  # fmt: skip
    assert login.status_code == 200, login.text
    return login.headers["set-cookie"].split(";")[0], str(login.json()["csrf_token"])


def test_a_session_command_without_the_csrf_token_is_refused(
    platform: Platform, http: httpx.Client
) -> None:
    base = platform.url("web")
    cookie, _ = _session(platform, http, "erin")
    response = http.post(f"{base}/api/tracks/t25/like", headers={"cookie": cookie, "origin": base})
    assert response.status_code == 403


def test_a_session_command_with_the_csrf_token_is_taken(
    platform: Platform, http: httpx.Client
) -> None:
    base = platform.url("web")
    cookie, csrf = _session(platform, http, "erin")
    headers = {"cookie": cookie, "origin": base, "x-csrf-token": csrf}
    response = http.post(f"{base}/api/tracks/t25/like", headers=headers)
    assert response.status_code == 200 and response.json()["liked"] is True
