"""The idempotency stage in a whole pipeline: a retry answers the first result, another
body under the same key is 422, a duplicate in flight is 409, keys are per caller, failed
commands free their key."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from commands_helpers import Commands, keyed_bff, send
from harness import assert_problem

from tailor import BFF, ConfigError, build_config


async def test_a_retry_with_the_same_key_answers_the_first_result(make_bff) -> None:
    bff, commands = keyed_bff(make_bff)
    first = await send(bff)
    again = await send(bff)
    assert (again.status, again.body) == (first.status, first.body) == (201, b'{"run":1}')
    assert commands.runs == 1


async def test_a_replayed_answer_says_it_was_replayed(make_bff) -> None:
    bff, _ = keyed_bff(make_bff)
    assert (await send(bff)).header("idempotent-replayed") is None
    assert (await send(bff)).header("idempotent-replayed") == "true"


async def test_the_same_key_with_another_body_is_422(make_bff) -> None:
    bff, commands = keyed_bff(make_bff)
    await send(bff)
    response = await send(bff, body=b'{"track_id": "t2"}')
    assert_problem(response, 422)
    assert commands.runs == 1


async def test_the_same_key_on_another_path_is_422(make_bff) -> None:
    bff, commands = keyed_bff(make_bff, methods=["POST", "PATCH"])
    await send(bff)
    assert_problem(await send(bff, method="PATCH"), 422)
    assert commands.runs == 1


async def test_a_duplicate_while_the_first_is_in_flight_is_409(make_bff) -> None:
    bff, commands = keyed_bff(make_bff)
    commands.gate = asyncio.Event()
    first = asyncio.create_task(send(bff))
    await asyncio.wait_for(commands.entered.wait(), 5)
    duplicate = await send(bff)
    assert_problem(duplicate, 409)
    assert duplicate.header("retry-after") == "1"
    commands.gate.set()
    assert (await first).status == 201
    assert commands.runs == 1


async def test_keys_are_scoped_per_caller(make_bff) -> None:
    bff, commands = keyed_bff(make_bff)
    await send(bff, user="u1")
    other = await send(bff, user="u2")
    assert other.header("idempotent-replayed") is None
    assert commands.runs == 2


async def test_a_command_without_a_key_runs_every_time(make_bff) -> None:
    bff, commands = keyed_bff(make_bff)
    await send(bff, key=None)
    await send(bff, key=None)
    assert commands.runs == 2


async def test_a_required_key_that_is_missing_is_400_naming_it(make_bff) -> None:
    bff, commands = keyed_bff(make_bff, required=True)
    response = await send(bff, key=None)
    assert_problem(response, 400)
    assert msgspec.json.decode(response.body)["parameter"] == "Idempotency-Key"
    assert commands.runs == 0


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"])
async def test_a_malformed_key_is_400(make_bff, key: str) -> None:
    bff, commands = keyed_bff(make_bff)
    assert_problem(await send(bff, key=key), 400)
    assert commands.runs == 0


async def test_a_failed_command_frees_its_key_for_the_retry(make_bff) -> None:
    bff, commands = keyed_bff(make_bff)
    commands.status = 503
    assert (await send(bff)).status == 503
    commands.status = 201
    assert (await send(bff)).status == 201
    assert commands.runs == 2


async def test_methods_not_configured_are_not_keyed(make_bff) -> None:
    bff, commands = keyed_bff(make_bff)  # POST only
    await send(bff, method="PATCH")
    await send(bff, method="PATCH")
    assert commands.runs == 2


async def test_a_replay_is_identity_coded_for_any_retry(make_bff) -> None:
    compression = {"enabled": True, "min_bytes": 1}
    bff: BFF = make_bff({"commands": {"idempotency": {}}, "compression": compression})
    Commands(bff, body_size=2048)
    first = await send(bff, accept_encoding="gzip")
    replay = await send(bff, accept_encoding="identity")
    assert first.header("content-encoding") is None
    assert replay.body == first.body
    unkeyed = await send(bff, key=None, accept_encoding="gzip")
    assert unkeyed.header("content-encoding") == "gzip"  # the stage, not the setup, did it


def test_a_redis_backend_without_a_redis_url_stops_startup_naming_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({"name": "t", "commands": {"idempotency": {"backend": "redis"}}})
    assert caught.value.key == "commands.idempotency.backend"


def test_an_unknown_idempotency_setting_stops_startup_naming_it() -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({"name": "t", "commands": {"idempotency": {"ttl": 5}}})
    assert "commands.idempotency.ttl" in str(caught.value)


async def test_the_stage_is_not_in_the_chain_unless_configured(make_bff) -> None:
    bff: BFF = make_bff()
    bff.startup(admin=False)
    assert "IdempotencyStage" not in bff.stages
