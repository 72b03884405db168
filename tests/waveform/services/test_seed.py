"""The shared generator: deterministic, sized by scale, with the fixtures tests rely on."""

from __future__ import annotations

from waveform.seed import (
    ALICE_PRIVATE_TRACK,
    GEO_ALLOWED_TRACK,
    GEO_BLOCKED_TRACK,
    PRIVATE_TRACK,
    World,
    verify_password,
)


def test_same_seed_gives_identical_rows() -> None:
    a, b = World(seed=3, scale=500), World(seed=3, scale=500)
    for part in (
        "users",
        "tracks",
        "follows",
        "likes",
        "reposts",
        "playlists",
        "activities",
        "recommendations",
        "media",
        "rights",
    ):
        assert getattr(a, part) == getattr(b, part), part


def test_another_seed_gives_other_rows() -> None:
    assert World(seed=3, scale=500).tracks != World(seed=4, scale=500).tracks


def test_scale_sets_track_and_user_counts() -> None:
    w = World(seed=1, scale=3000)
    assert len(w.tracks) == len(w.rights) == len(w.media) == 3000
    assert len(w.users) == 300
    assert len(World(seed=1, scale=100).users) == 50


def test_about_ten_percent_private_and_geo_restricted() -> None:
    w = World(seed=1, scale=5000)
    private = sum(t["private"] for t in w.tracks) / 5000
    restricted = sum(r["geo_restricted"] for r in w.rights) / 5000
    assert 0.07 < private < 0.13
    assert 0.07 < restricted < 0.13


def test_fixtures_hold_for_every_seed() -> None:
    for seed in (1, 42):
        w = World(seed=seed, scale=200)
        tracks = {t["id"]: t for t in w.tracks}
        rights = {r["track_id"]: r for r in w.rights}
        assert tracks[PRIVATE_TRACK]["private"] and tracks[PRIVATE_TRACK]["owner_id"] == "u2"
        assert tracks[ALICE_PRIVATE_TRACK]["owner_id"] == "u1"
        assert rights[GEO_BLOCKED_TRACK]["geo_restricted"]
        assert "DE" not in rights[GEO_BLOCKED_TRACK]["allowed_countries"]
        assert "DE" in rights[GEO_ALLOWED_TRACK]["allowed_countries"]
        alice_follows = {f["followee_id"] for f in w.follows if f["follower_id"] == "u1"}
        assert {"u2", "u3"} <= alice_follows
        assert w.users[0]["username"] == "alice" and w.users[0]["country"] == "DE"


def test_counters_agree_with_the_graph() -> None:
    w = World(seed=5, scale=1000)
    u2 = w.users[1]
    assert u2["track_count"] == sum(t["owner_id"] == "u2" for t in w.tracks)
    assert u2["followers_count"] == sum(f["followee_id"] == "u2" for f in w.follows)
    t1 = w.tracks[0]
    assert t1["like_count"] == sum(like["track_id"] == "t1" for like in w.likes)


def test_only_demo_users_have_passwords() -> None:
    accounts = World(seed=1, scale=100).accounts
    assert verify_password("wave-alice", accounts[0]["password_hash"])
    assert not verify_password("wave-bob", accounts[0]["password_hash"])
    assert all(a["password_hash"] is None for a in accounts[5:])
