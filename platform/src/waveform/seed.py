"""Deterministic data for the whole reference platform.

Every service seeds its own SQLite database from the same :class:`World`, so the data
agrees across services (the stream's copy of the follow graph is the social service's
follow graph, the users' ``track_count`` is the number of tracks the tracks service holds,
and so on). Each part of the world draws from its own ``random.Random`` stream, derived
from the seed and the part's name, so a service only pays for the parts it stores and the
parts never shift each other.

>>> w = World(seed=7, scale=200)
>>> w.tracks[0]["id"], w.tracks[0]["owner_id"]
('t1', 'u2')
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

Row = dict[str, Any]

SEED_VERSION = 2
DEFAULT_SEED = 42
DEFAULT_SCALE = 2000
COUNTRIES = ("US", "DE", "GB", "FR", "SE", "BR", "JP")
#: Base instant for every timestamp: data does not depend on when it was generated.
EPOCH = datetime(2025, 6, 1, tzinfo=UTC)

DEMO_USERS = ("alice", "bob", "carol", "dave", "erin")
DEMO_COUNTRIES = {"alice": "DE", "bob": "US", "carol": "GB", "dave": "FR", "erin": "SE"}

# Fixtures the tests and the demo rely on (ids are stable for every seed and scale).
PUBLIC_TRACK = "t1"  # bob's, public, unrestricted; newest track
PRIVATE_TRACK = "t2"  # bob's, private: visible only to u2
GEO_BLOCKED_TRACK = "t3"  # carol's, restricted to US+GB: hidden from alice (DE)
PUBLIC_TRACK_2 = "t4"  # carol's, public, unrestricted
GEO_ALLOWED_TRACK = "t5"  # bob's, restricted to DE+US: alice may see it
ALICE_PRIVATE_TRACK = "t6"  # alice's own private track
FIXTURE_TRACKS = 6
FIXTURE_RIGHTS: dict[str, list[str]] = {"t3": ["US", "GB"], "t5": ["DE", "US"]}

_FIRST = (
    "Ada",
    "Ben",
    "Chloe",
    "Dmitri",
    "Elif",
    "Femi",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kai",
    "Lena",
    "Mateo",
    "Noor",
    "Oskar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tomoko",
)
_LAST = (
    "Adams",
    "Berg",
    "Costa",
    "Dubois",
    "Eriksson",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Martin",
    "Nakamura",
    "Olsen",
    "Silva",
)
_CITIES = {
    "US": ("New York", "Austin", "Seattle"),
    "DE": ("Berlin", "Hamburg", "Cologne"),
    "GB": ("London", "Bristol", "Leeds"),
    "FR": ("Paris", "Lyon", "Marseille"),
    "SE": ("Stockholm", "Gothenburg", "Malmo"),
    "BR": ("Sao Paulo", "Rio", "Recife"),
    "JP": ("Tokyo", "Osaka", "Sapporo"),
}
_PHONE = {"US": "+1", "DE": "+49", "GB": "+44", "FR": "+33", "SE": "+46", "BR": "+55", "JP": "+81"}
GENRES = (
    "techno",
    "house",
    "ambient",
    "hip-hop",
    "lo-fi",
    "drum-and-bass",
    "jazz",
    "indie",
    "pop",
    "classical",
)
_WORDS = (
    "night",
    "signal",
    "river",
    "echo",
    "neon",
    "drift",
    "static",
    "bloom",
    "orbit",
    "tide",
    "pulse",
    "glass",
    "ember",
    "haze",
    "circuit",
    "velvet",
    "north",
    "dust",
)
_LICENSES = ("all-rights-reserved", "cc-by", "cc-by-nc", "cc-by-sa")
_LABELS = ("Independent", "Kompakt", "Warp", "Ninja Tune", "Ostgut Ton", "Hyperdub")

# -- identity: partners, apps, token-service clients -----------------------------------

#: partner id -> the label it owns; a track belongs to a partner when ``rights.label`` is
#: that label. Partner certificates carry the partner id as CN (and as a SAN URI).
PARTNERS: dict[str, str] = {"p-acme": "Acme Records", "p-globex": "Globex Music"}
PARTNER_URI = "urn:waveform:partner:{partner_id}"
#: Fixture tracks with a partner label, stable for every seed and scale (others: 1 in 5).
FIXTURE_LABELS = {"t1": "Acme Records", "t4": "Globex Music", "t5": "Acme Records"}
PARTNER_KEY_PREFIX = "wf_live_"


@dataclass(frozen=True)
class AppSeed:
    """One registered application (OAuth2 client) of the app registry."""

    client_id: str
    name: str
    bffs: tuple[str, ...]
    routes: dict[str, list[str]]
    scopes: tuple[str, ...]
    tier: str
    status: str = "active"
    secret: str | None = None  # demo value; the accounts service stores only its hash


#: Scopes an app may hold to act for its signed-in user (on the public API); an app token
#: of its own (no user) never carries them.
USER_WRITE_SCOPES = (
    "likes:write",
    "reposts:write",
    "follows:write",
    "playlists:write",
    "tracks:write",
)

APPS: tuple[AppSeed, ...] = (
    AppSeed(
        "waveform-ios", "Waveform for iOS", ("mobile",), {"mobile": ["*"]}, ("user",), "first-party"
    ),
    AppSeed(
        "waveform-webapp", "Waveform on the web", ("web",), {"web": ["*"]}, ("user",), "first-party"
    ),
    AppSeed("waveform-tv", "Waveform for TV", ("tv",), {"tv": ["*"]}, ("user",), "first-party"),
    AppSeed(
        "acme-player",
        "Acme Player",
        ("public",),
        {"public": ["*"]},
        ("tracks:read", "users:read", *USER_WRITE_SCOPES),
        "standard",
        secret="acme-secret",
    ),
    AppSeed(
        "narrow-widget",
        "Now-playing widget",
        ("mobile",),
        {"mobile": ["GET /v1/tracks/{id}"]},
        ("user",),
        "free",
    ),
    AppSeed(
        "suspended-app",
        "A suspended integration",
        ("public",),
        {"public": ["*"]},
        ("tracks:read",),
        "standard",
        status="suspended",
        secret="suspended-secret",
    ),
)


def derived_secret(seed: int, purpose: str, length: int = 32) -> str:
    """A deterministic, URL-safe secret for demo credentials (partner demo keys, the
    token service's client secrets). Deterministic so that the supervisor, the services
    and ``make demo`` agree without a secret store; a deployment provisions real ones.

    >>> derived_secret(1, "x") == derived_secret(1, "x") != derived_secret(2, "x")
    True
    """
    digest = hashlib.sha256(f"waveform:secret:{seed}:{purpose}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:length]


def partner_demo_key(seed: int, partner_id: str) -> str:
    """The demo API key seeded for a partner (``make demo`` prints it)."""
    return PARTNER_KEY_PREFIX + derived_secret(seed, f"partner-key:{partner_id}", 40)


def token_client_secret(seed: int, client_id: str) -> str:
    """The token service's client secret for ``client_id`` (a BFF, catalog, ops)."""
    return derived_secret(seed, f"token-client:{client_id}", 43)


_REASONS = ("similar_to_likes", "followed_artist", "popular_in_country", "trending")


def iso(moment: datetime) -> str:
    """Render an instant the way every service does: UTC, second precision, ``Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ago(seconds: float) -> str:
    return iso(EPOCH - timedelta(seconds=int(seconds)))


def hash_password(password: str, salt: bytes) -> str:
    """scrypt hash in the form ``scrypt$n$r$p$salt_hex$hash_hex``."""
    n, r, p = 2**14, 8, 1
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def verify_password(password: str, encoded: str) -> bool:
    """Check ``password`` against a hash made by :func:`hash_password`."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hashlib.sha256(got).digest() == hashlib.sha256(bytes.fromhex(digest)).digest()


class World:
    """The whole platform's data for one ``(seed, scale)``; parts are built lazily.

    ``scale`` is the number of tracks; there are ``max(50, scale // 10)`` users, of whom
    u1..u5 are the demo users alice, bob, carol, dave and erin.

    >>> World(seed=1, scale=100).n_users
    50
    """

    def __init__(self, seed: int = DEFAULT_SEED, scale: int = DEFAULT_SCALE) -> None:
        if scale < FIXTURE_TRACKS:
            raise ValueError(f"scale must be at least {FIXTURE_TRACKS}")
        self.seed = seed
        self.scale = scale
        self.n_users = max(50, scale // 10)

    def _rng(self, part: str) -> random.Random:
        return random.Random(f"waveform:{SEED_VERSION}:{self.seed}:{part}")

    # -- users ---------------------------------------------------------------------------

    @cached_property
    def user_countries(self) -> list[str]:
        rng = self._rng("user-country")
        out = [DEMO_COUNTRIES[name] for name in DEMO_USERS]
        out += [rng.choice(COUNTRIES) for _ in range(self.n_users - len(DEMO_USERS))]
        return out

    @cached_property
    def users_base(self) -> list[Row]:
        """Users without the counters (enough for the accounts service)."""
        rng = self._rng("users")
        rows: list[Row] = []
        for i in range(1, self.n_users + 1):
            country = self.user_countries[i - 1]
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            username = DEMO_USERS[i - 1] if i <= len(DEMO_USERS) else f"{first.lower()}{i}"
            if i <= len(DEMO_USERS):
                first = username.capitalize()
            created = _ago(rng.uniform(400, 2000) * 86400)
            rows.append(
                {
                    "id": f"u{i}",
                    "username": username,
                    "display_name": f"{first} {last}",
                    "avatar_url": f"https://img.waveform.test/avatars/u{i}.jpg",
                    "bio": f"{rng.choice(GENRES)} producer from {rng.choice(_CITIES[country])}",
                    "country": country,
                    "city": rng.choice(_CITIES[country]),
                    "email": f"{username}@example.test",
                    "date_of_birth": f"{rng.randint(1960, 2005)}-{rng.randint(1, 12):02d}-"
                    f"{rng.randint(1, 28):02d}",
                    "phone": f"{_PHONE[country]} {rng.randint(100, 999)} "
                    f"{rng.randint(1000000, 9999999)}",
                    "last_login_ip": f"203.0.113.{rng.randint(1, 254)}",
                    "plan": rng.choice(("free", "free", "free", "pro", "next-pro")),
                    "verified": int(rng.random() < 0.05),
                    "created_at": created,
                    "updated_at": _ago(rng.uniform(0, 400) * 86400),
                    "internal_notes": "",
                    "risk_score": round(rng.random(), 3),
                }
            )
        return rows

    @cached_property
    def users(self) -> list[Row]:
        """Users with followers/followings/track counters that agree with the graph."""
        followers = [0] * (self.n_users + 1)
        followings = [0] * (self.n_users + 1)
        for a, b in self.follow_pairs:
            followings[a] += 1
            followers[b] += 1
        tracks = [0] * (self.n_users + 1)
        for owner in self.track_owners:
            tracks[owner] += 1
        rows = []
        for i, base in enumerate(self.users_base, start=1):
            rows.append(
                {
                    **base,
                    "followers_count": followers[i],
                    "followings_count": followings[i],
                    "track_count": tracks[i],
                }
            )
        return rows

    @cached_property
    def follow_pairs(self) -> list[tuple[int, int]]:
        """(follower, followee) as user numbers; alice follows bob and carol."""
        rng = self._rng("follows")
        n = self.n_users
        pairs: list[tuple[int, int]] = []
        forced = {1: {2, 3}, 2: {1, 3}, 3: {2}}
        for u in range(1, n + 1):
            k = rng.randint(2, min(25, n - 1))
            chosen = set(rng.sample(range(1, n + 1), k)) | forced.get(u, set())
            if u == 1:
                chosen &= {2, 3} | set(range(6, n + 1))  # alice: bob, carol, non-demo users
            chosen.discard(u)
            pairs.extend((u, v) for v in sorted(chosen))
        return pairs

    @cached_property
    def follows(self) -> list[Row]:
        rng = self._rng("follow-times")
        return [
            {
                "follower_id": f"u{a}",
                "followee_id": f"u{b}",
                "created_at": _ago(rng.uniform(1, 700) * 86400),
            }
            for a, b in self.follow_pairs
        ]

    # -- tracks --------------------------------------------------------------------------

    @cached_property
    def _track_core(self) -> list[tuple[int, float, bool, list[str]]]:
        """(owner, age_seconds, private, allowed_countries-or-empty) per track."""
        rng = self._rng("tracks")
        fixtures: list[tuple[int, float, bool, list[str]]] = [
            (2, 3600, False, []),
            (2, 7200, True, []),
            (3, 10800, False, FIXTURE_RIGHTS["t3"]),
            (3, 14400, False, []),
            (2, 18000, False, FIXTURE_RIGHTS["t5"]),
            (1, 21600, True, []),
        ]
        core = list(fixtures)
        n = self.n_users
        for _ in range(self.scale - FIXTURE_TRACKS):
            owner = 1 + int(n * rng.random() ** 2)  # a few prolific creators, a long tail
            age = rng.uniform(1, 1000) * 86400
            private = rng.random() < 0.1
            allowed: list[str] = []
            if rng.random() < 0.1:
                allowed = sorted(rng.sample(COUNTRIES, rng.randint(1, 3)))
            core.append((owner, age, private, allowed))
        return core

    @cached_property
    def track_owners(self) -> list[int]:
        return [c[0] for c in self._track_core]

    @cached_property
    def track_created(self) -> list[float]:
        """Age in seconds before EPOCH, per track (index 0 is t1)."""
        return [c[1] for c in self._track_core]

    @cached_property
    def tracks(self) -> list[Row]:
        rng = self._rng("track-details")
        likes = [0] * self.scale
        for _, t in self.like_pairs:
            likes[t] += 1
        reposts = [0] * self.scale
        for r in self.reposts:
            reposts[int(r["track_id"][1:]) - 1] += 1
        rows: list[Row] = []
        for i, (owner, age, private, _allowed) in enumerate(self._track_core):
            tid = f"t{i + 1}"
            genre = rng.choice(GENRES)
            title = f"{rng.choice(_WORDS).title()} {rng.choice(_WORDS).title()}"
            created = _ago(age)
            rows.append(
                {
                    "id": tid,
                    "title": title,
                    "owner_id": f"u{owner}",
                    "duration_ms": rng.randint(90, 600) * 1000,
                    "genre": genre,
                    "tags": json.dumps([genre, rng.choice(_WORDS)]),
                    "description": f"{title}: a {genre} piece.",
                    "artwork_url": f"https://img.waveform.test/artwork/{tid}.jpg",
                    "waveform_url": f"https://wave.waveform.test/{tid}.json",
                    "private": int(private),
                    "created_at": created,
                    "updated_at": created,
                    "bpm": rng.randint(60, 175),
                    "isrc": f"XX-WAV-{(i + 1) % 100:02d}-{i + 1:05d}",
                    "license": rng.choice(_LICENSES),
                    "play_count": rng.randint(0, 500_000),
                    "like_count": likes[i],
                    "repost_count": reposts[i],
                    "comment_count": rng.randint(0, 300),
                    "downloadable": int(rng.random() < 0.2),
                    "moderation_state": "approved",
                    "storage_key": f"s3://waveform-masters/{tid}.wav",
                    "checksum_sha1": hashlib.sha1(tid.encode()).hexdigest(),
                    "internal_notes": "fixture" if i < FIXTURE_TRACKS else "",
                }
            )
        return rows

    # -- social --------------------------------------------------------------------------

    @cached_property
    def like_pairs(self) -> list[tuple[int, int]]:
        """(user number, track index) pairs."""
        rng = self._rng("likes")
        pairs: list[tuple[int, int]] = []
        for u in range(1, self.n_users + 1):
            k = rng.randint(0, min(20, self.scale))
            pairs.extend((u, t) for t in sorted(rng.sample(range(self.scale), k)))
        return pairs

    @cached_property
    def likes(self) -> list[Row]:
        rng = self._rng("like-times")
        return [
            {
                "user_id": f"u{u}",
                "track_id": f"t{t + 1}",
                "created_at": _ago(rng.uniform(0, 1) * self.track_created[t]),
            }
            for u, t in self.like_pairs
        ]

    @cached_property
    def reposts(self) -> list[Row]:
        """Reposts; carol reposted bob's t1, so alice's stream has a repost in it."""
        rng = self._rng("reposts")
        rows: list[Row] = []
        picks: list[tuple[int, int]] = [(3, 0)]
        for u in range(1, self.n_users + 1):
            k = rng.randint(0, min(4, self.scale))
            picks.extend(
                (u, t) for t in sorted(rng.sample(range(self.scale), k)) if (u, t) != (3, 0)
            )
        for n, (u, t) in enumerate(picks, start=1):
            age = self.track_created[t] * rng.uniform(0.0, 0.9)
            if (u, t) == (3, 0):
                age = 1800
            rows.append(
                {
                    "id": f"r{n}",
                    "user_id": f"u{u}",
                    "track_id": f"t{t + 1}",
                    "created_at": _ago(age),
                }
            )
        return rows

    # -- playlists -----------------------------------------------------------------------

    @cached_property
    def playlists(self) -> list[Row]:
        rng = self._rng("playlists")
        rows: list[Row] = []

        def add(owner: int, title: str, track_ids: list[str], private: bool) -> None:
            pid = f"p{len(rows) + 1}"
            created = _ago(rng.uniform(1, 500) * 86400)
            rows.append(
                {
                    "id": pid,
                    "title": title,
                    "owner_id": f"u{owner}",
                    "description": f"{title}, curated by u{owner}",
                    "track_ids": json.dumps(track_ids),
                    "artwork_url": f"https://img.waveform.test/playlists/{pid}.jpg",
                    "private": int(private),
                    "created_at": created,
                    "updated_at": created,
                    "track_count": len(track_ids),
                    "duration_ms": 0,
                    "internal_notes": "",
                }
            )

        add(1, "Alice's mix", ["t1", "t3", "t5", "t2", "t4"], False)
        for u in range(1, self.n_users + 1):
            for _ in range(rng.randint(0, 2)):
                k = rng.randint(3, min(15, self.scale))
                ids = [f"t{t + 1}" for t in rng.sample(range(self.scale), k)]
                add(
                    u, f"{rng.choice(_WORDS).title()} {rng.choice(GENRES)}", ids, rng.random() < 0.1
                )
        return rows

    # -- stream --------------------------------------------------------------------------

    @cached_property
    def activities(self) -> list[Row]:
        """Every track post and repost, in a stable order (``seq`` breaks time ties)."""
        rows: list[Row] = []
        for i, (owner, age) in enumerate(zip(self.track_owners, self.track_created, strict=True)):
            rows.append(
                {
                    "seq": i + 1,
                    "type": "track_post",
                    "actor_id": f"u{owner}",
                    "track_id": f"t{i + 1}",
                    "created_at": _ago(age),
                }
            )
        base = len(rows)
        for j, r in enumerate(self.reposts, start=1):
            rows.append(
                {
                    "seq": base + j,
                    "type": "repost",
                    "actor_id": r["user_id"],
                    "track_id": r["track_id"],
                    "created_at": r["created_at"],
                }
            )
        return rows

    # -- recommendations -----------------------------------------------------------------

    @cached_property
    def recommendations(self) -> list[Row]:
        """20 candidates per user; alice's start with t3 (geo-blocked for her) and t2."""
        rng = self._rng("recommendations")
        rows: list[Row] = []
        per_user = min(20, self.scale)
        forced = {1: [2, 4, 0, 1, 3]}  # t3, t5, t1, t2, t4
        for u in range(1, self.n_users + 1):
            picks = list(forced.get(u, []))
            seen = set(picks)
            for t in rng.sample(range(self.scale), per_user):
                if len(picks) >= per_user:
                    break
                if t not in seen:
                    picks.append(t)
                    seen.add(t)
            score = 1.0
            for rank, t in enumerate(picks, start=1):
                score = round(score * rng.uniform(0.85, 0.99), 4)
                rows.append(
                    {
                        "user_id": f"u{u}",
                        "rank": rank,
                        "track_id": f"t{t + 1}",
                        "score": score,
                        "reason": rng.choice(_REASONS),
                    }
                )
        return rows

    # -- media and rights ----------------------------------------------------------------

    @cached_property
    def media(self) -> list[Row]:
        codecs = (("mp3", 128), ("aac", 256), ("opus", 160))
        signed_until = iso(EPOCH + timedelta(days=3650))
        rows: list[Row] = []
        for i in range(1, self.scale + 1):
            codec, kbps = codecs[i % 3]
            rows.append(
                {
                    "track_id": f"t{i}",
                    "stream_url": f"https://cdn.waveform.test/stream/t{i}.{codec}",
                    "preview_url": f"https://cdn.waveform.test/preview/t{i}.mp3",
                    "hls_url": f"https://cdn.waveform.test/hls/t{i}/master.m3u8",
                    "codec": codec,
                    "bitrate_kbps": kbps,
                    "cdn_node": f"edge-{COUNTRIES[i % len(COUNTRIES)].lower()}-{i % 4}",
                    "signed_until": signed_until,
                    "transcode_job_id": f"job-{i:07d}",
                    "storage_bucket": "waveform-transcodes",
                    "origin_host": f"origin-{i % 8}.internal",
                }
            )
        return rows

    @cached_property
    def rights(self) -> list[Row]:
        rng = self._rng("rights")
        rows: list[Row] = []
        for i, (_owner, _age, _private, allowed) in enumerate(self._track_core, start=1):
            note = f"licensed for {', '.join(allowed)} only" if allowed else "worldwide"
            label = rng.choice(_LABELS)  # drawn for every track: the stream stays aligned
            rows.append(
                {
                    "track_id": f"t{i}",
                    "geo_restricted": int(bool(allowed)),
                    "allowed_countries": json.dumps(allowed),
                    "label": self.partner_label(i) or label,
                    "territories_note": note,
                    "rights_holder_id": f"rh{rng.randint(1, 500)}",
                    "license_start": _ago(self.track_created[i - 1]),
                    "license_end": None,
                    "takedown_pending": 0,
                    "royalty_rate": round(rng.uniform(0.05, 0.3), 3),
                }
            )
        return rows

    @staticmethod
    def partner_label(track_number: int) -> str | None:
        """The partner label of track ``t<track_number>``, if any: the fixtures, then one
        track in five (alternating partners) beyond them."""
        fixed = FIXTURE_LABELS.get(f"t{track_number}")
        if fixed is not None or track_number <= FIXTURE_TRACKS:
            return fixed
        if track_number % 5 == 0:
            labels = list(PARTNERS.values())
            return labels[(track_number // 5) % len(labels)]
        return None

    # -- identity ------------------------------------------------------------------------

    @cached_property
    def partner_keys(self) -> dict[str, str]:
        """partner id -> its seeded demo API key (plaintext; services store the hash)."""
        return {pid: partner_demo_key(self.seed, pid) for pid in PARTNERS}

    # -- accounts ------------------------------------------------------------------------

    @cached_property
    def accounts(self) -> list[Row]:
        rng = self._rng("accounts")
        rows: list[Row] = []
        for i, u in enumerate(self.users_base, start=1):
            pw_hash = None
            if i <= len(DEMO_USERS):
                salt = rng.randbytes(16)
                pw_hash = hash_password(f"wave-{u['username']}", salt)
            rows.append(
                {
                    "user_id": u["id"],
                    "username": u["username"],
                    "email": u["email"],
                    "password_hash": pw_hash,
                    "created_at": u["created_at"],
                    "last_login_at": None,
                    "failed_logins": 0,
                    "locked": 0,
                    "mfa_enabled": 0,
                    "roles": json.dumps(["user"]),
                }
            )
        return rows
