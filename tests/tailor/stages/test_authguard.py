"""The authguard stage: failed authentication is counted per client IP ahead of
authenticate; an IP over its quota is refused with 429 before its credential is looked at,
while other IPs and good credentials are not charged."""

from __future__ import annotations

import pytest
from authguard_helpers import BAD, GOOD, JWKS_PATH, PASSWORD, guarded, send, statuses
from harness import assert_problem, jwks
from prometheus_client import CollectorRegistry, Counter

from tailor import BFF, Request, Response, Unauthorized, build_config, json_response
from tailor.chain import awaitable
from tailor.config import AuthFailures
from tailor.errors import ConfigError
from tailor.ratelimit.memory import MemoryRateLimiter
from tailor.stages.authguard import AuthGuardStage, BlockedIPs


@pytest.fixture
async def accounts(upstream):
    upstream.script("GET", JWKS_PATH, json=jwks("k1"))
    return upstream


# -- through the pipeline -------------------------------------------------------------------


async def test_a_token_guesser_gets_429_after_limit_failures(make_bff, accounts) -> None:
    bff = guarded(make_bff, accounts.url, limit=3)
    assert await statuses(bff, 3, headers=BAD) == [401, 401, 401]
    refused = await send(bff, headers=BAD)
    problem = assert_problem(refused, 429)
    assert "failed authentication" in problem["detail"]
    assert int(refused.header("retry-after") or 0) >= 1


async def test_the_429_carries_ratelimit_headers(make_bff, accounts) -> None:
    bff = guarded(make_bff, accounts.url, limit=3)
    await statuses(bff, 4, headers=BAD)
    refused = await send(bff, headers=BAD)
    assert refused.header("ratelimit-policy") == '"auth-failures";q=3;w=60'
    retry = refused.header("retry-after")
    assert refused.header("ratelimit") == f'"auth-failures";r=0;t={retry}'


async def test_a_blocked_ip_is_refused_before_its_credential_is_checked(make_bff, accounts) -> None:
    bff = guarded(make_bff, accounts.url, limit=3)
    await statuses(bff, 4, headers=BAD)
    # A good token from the blocked IP: authentication is not even attempted.
    assert_problem(await send(bff, headers=GOOD), 429)


async def test_another_ip_is_not_affected_by_a_blocked_one(make_bff, accounts) -> None:
    bff = guarded(make_bff, accounts.url, limit=3)
    assert (await statuses(bff, 4, headers=BAD, ip="203.0.113.7"))[-1] == 429
    assert (await send(bff, headers=BAD, ip="198.51.100.9")).status == 401
    assert (await send(bff, headers=GOOD, ip="198.51.100.9")).status == 200


async def test_addresses_in_one_ipv6_64_share_one_quota(make_bff, accounts) -> None:
    bff = guarded(make_bff, accounts.url, limit=2)
    rotating = ["2001:db8:0:1::1", "2001:db8:0:1::2", "2001:db8:0:1:ffff::3"]
    assert [(await send(bff, headers=BAD, ip=ip)).status for ip in rotating] == [401, 401, 429]


async def test_another_ipv6_64_is_not_affected(make_bff, accounts) -> None:
    bff = guarded(make_bff, accounts.url, limit=2)
    assert (await statuses(bff, 3, headers=BAD, ip="2001:db8:0:1::1"))[-1] == 429
    assert (await send(bff, headers=BAD, ip="2001:db8:0:2::1")).status == 401


async def test_good_credentials_are_never_charged(make_bff, accounts) -> None:
    bff = guarded(make_bff, accounts.url, limit=3)
    assert await statuses(bff, 10, headers=GOOD) == [200] * 10
    # The whole quota is still there: three failures fit before a refusal.
    assert await statuses(bff, 4, headers=BAD) == [401, 401, 401, 429]


async def test_a_missing_credential_is_charged(make_bff, accounts) -> None:
    bff = guarded(make_bff, accounts.url, limit=2)
    assert await statuses(bff, 3) == [401, 401, 429]


async def test_a_login_endpoint_refusal_is_charged(make_bff, accounts) -> None:
    bff = guarded(make_bff, accounts.url, limit=3)
    wrong = {"x-password": "guess"}
    assert await statuses(bff, 4, "/login", method="POST", headers=wrong) == [401] * 3 + [429]


async def test_a_login_that_succeeds_is_not_charged(make_bff, accounts) -> None:
    bff = guarded(make_bff, accounts.url, limit=2)
    right = {"x-password": PASSWORD}
    assert await statuses(bff, 5, "/login", method="POST", headers=right) == [200] * 5
    # The quota is whole: two failures fit before the refusal.
    assert await statuses(bff, 3, headers=BAD) == [401, 401, 429]


async def test_a_403_before_any_caller_is_established_is_charged(make_bff, accounts) -> None:
    bff = guarded(make_bff, accounts.url, limit=2)
    assert await statuses(bff, 3, "/cross-site-login", method="POST") == [403, 403, 429]


async def test_a_403_for_an_authenticated_caller_is_not_charged(make_bff, accounts) -> None:
    bff = guarded(make_bff, accounts.url, limit=2)
    codes = await statuses(bff, 5, "/owned-by-someone-else", headers=GOOD)
    assert codes == [403] * 5
    assert await statuses(bff, 3, headers=BAD) == [401, 401, 429]  # the quota is whole


def _session_guarded(make_bff, accounts_url: str) -> BFF:
    """Cookie sessions (memory store) and the guard at 3 failures; /login always succeeds."""
    bff: BFF = make_bff(
        {
            "auth": {"session": {"cookie_name": "sid", "allowed_origins": ["https://app"]}},
            "upstreams": {"accounts": accounts_url},
            "rate_limit": {"auth_failures": {"limit": 3, "window_s": 60}},
        }
    )

    @bff.get("/me")
    async def me(request: Request) -> Response:
        return json_response({"ok": True})

    @bff.post("/login", auth=False)
    async def login(request: Request) -> Response:
        if request.headers.get("x-password") != PASSWORD:
            raise Unauthorized("invalid username or password")
        return json_response({"ok": True})

    return bff


STALE = {"cookie": "sid=" + "A" * 43}  # well-formed, and no store knows it


async def test_stale_session_cookies_are_not_charged(make_bff, accounts) -> None:
    bff = _session_guarded(make_bff, accounts.url)
    assert await statuses(bff, 10, headers=STALE) == [401] * 10
    # The whole quota is still there: three failures fit before a refusal.
    assert await statuses(bff, 4, headers=BAD) == [401, 401, 401, 429]


async def test_a_login_after_many_stale_cookies_is_served(make_bff, accounts) -> None:
    bff = _session_guarded(make_bff, accounts.url)
    await statuses(bff, 10, headers=STALE)
    login = await send(bff, "/login", method="POST", headers={**STALE, "x-password": PASSWORD})
    assert login.status == 200


async def test_malformed_session_cookies_are_charged(make_bff, accounts) -> None:
    bff = _session_guarded(make_bff, accounts.url)
    forged = {"cookie": "sid=forged"}
    assert await statuses(bff, 4, headers=forged) == [401, 401, 401, 429]


async def test_refusals_are_counted(make_bff, accounts) -> None:
    bff = guarded(make_bff, accounts.url, limit=2)
    await statuses(bff, 5, headers=BAD)
    counted = bff.metrics.registry.get_sample_value("tailor_auth_failures_refused_total")
    assert counted == 3


async def test_the_stage_sits_right_before_authenticate(make_bff, accounts) -> None:
    bff = guarded(make_bff, accounts.url)
    bff.startup(admin=False)
    names = bff.stages
    assert names.index("AuthGuardStage") + 1 == names.index("AuthenticateStage")


def chain_difference(make_bff, on: dict, off: dict) -> list[str]:
    """The stages a BFF built with ``on`` has beyond one built with ``off``."""
    with_guard, without = make_bff({"rate_limit": on}), make_bff({"rate_limit": off})
    with_guard.startup(admin=False)
    without.startup(admin=False)
    return [s for s in with_guard.stages if s not in without.stages]


async def test_the_stage_is_left_out_without_auth_failures(make_bff) -> None:
    ip = {"policies": {"ip": {"key": "ip", "limit": 10}}}
    assert chain_difference(make_bff, {**ip, "auth_failures": {}}, ip) == ["AuthGuardStage"]


async def test_the_stage_is_left_out_when_rate_limiting_is_off(make_bff) -> None:
    on = {"auth_failures": {"limit": 5}}
    off = {**on, "enabled": False}
    assert chain_difference(make_bff, on, off) == ["AuthGuardStage"]


# -- the stage on its own, on a clock the test moves -------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def seconds(self) -> float:
        return self.now_s

    def micros(self) -> int:
        return int(self.now_s * 1_000_000)


def stage_on(clock: Clock, limit: int, window_s: int) -> AuthGuardStage:
    registry = CollectorRegistry()
    return AuthGuardStage(
        AuthFailures(limit=limit, window_s=window_s),
        "t",
        MemoryRateLimiter(clock=clock.micros),
        Counter("refused", "", registry=registry),
        Counter("errors", "", registry=registry),
        clock=clock.seconds,
    )


async def test_a_blocked_ip_gets_one_more_attempt_once_the_quota_refills() -> None:
    clock = Clock()
    reached: list[str] = []

    async def refuse(request: Request) -> Response:
        reached.append(request.client)
        return Response(401)

    guard = stage_on(clock, limit=2, window_s=10).wrap(refuse)  # one failure per 5 s

    async def status() -> int:
        return (await awaitable(guard(Request("GET", "/me", "", {}, "203.0.113.7")))).status

    assert [await status() for _ in range(3)] == [401, 401, 429]
    assert len(reached) == 3
    clock.now_s += 4.5  # binary fractions: the sums are exact
    assert await status() == 429
    assert len(reached) == 3  # refused from the local list: authenticate never ran
    clock.now_s += 0.5
    assert [await status(), await status()] == [401, 429]


def test_the_blocked_list_stays_bounded() -> None:
    blocked = BlockedIPs(3, clock=lambda: 0.0)
    for i in range(10):
        blocked.add(f"198.51.100.{i}", 60.0)
    assert len(blocked) == 3
    assert blocked.remaining("198.51.100.9") == 60.0  # the newest are kept
    assert blocked.remaining("198.51.100.0") == 0.0


# -- config ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"limit": 0}, "rate_limit.auth_failures.limit"),
        ({"window_s": 0}, "rate_limit.auth_failures.window_s"),
        ({"max_blocked": 0}, "rate_limit.auth_failures.max_blocked"),
        ({"limt": 5}, "rate_limit.auth_failures.limt"),
    ],
)
def test_bad_auth_failures_config_names_the_key(section: dict, key: str) -> None:
    with pytest.raises(ConfigError) as exc:
        build_config({"name": "t", "rate_limit": {"auth_failures": section}})
    assert exc.value.key == key


def test_a_policy_named_like_the_auth_failures_limit_is_refused() -> None:
    rate_limit = {
        "auth_failures": {},
        "policies": {"auth-failures": {"key": "ip", "limit": 5}},
    }
    with pytest.raises(ConfigError) as exc:
        build_config({"name": "t", "rate_limit": rate_limit})
    assert exc.value.key == "rate_limit.policies.auth-failures"


def test_auth_failures_defaults() -> None:
    cfg = build_config({"name": "t", "rate_limit": {"auth_failures": {}}})
    assert cfg.rate_limit.auth_failures == AuthFailures(limit=100, window_s=600)
