"""The services with a proto serve gRPC beside JSON: the same routes, token check and
problems, cut to the caller's read mask; health checking and reflection answer without a
token."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tailor.upstream.grpc.descriptors import load_pool, message_class
from tailor.upstream.grpc.status import decode_details
from waveform.protos import descriptor_set
from waveform.supervisor import Platform

from .conftest import bearer

POOL = load_pool([descriptor_set()])


def message(name: str, **values: Any) -> Message:
    return message_class(POOL.FindMessageTypeByName(name))(**values)


@pytest.fixture(scope="module")
def users(platform: Platform) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{platform.grpc_ports['users']}") as channel:
        yield channel


def get_user(channel: grpc.Channel, request: Message, metadata: Any = ()) -> Message:
    call = channel.unary_unary(
        "/waveform.users.v1.UsersService/GetUser",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=bytes,
    )
    raw = call(request, metadata=metadata, timeout=5)
    return message_class(POOL.FindMessageTypeByName("waveform.users.v1.User")).FromString(raw)


def test_a_call_without_an_internal_token_is_unauthenticated(users: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        get_user(users, message("waveform.users.v1.GetUserRequest", user_id="u1"))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_method_answers_what_its_json_route_answers(
    platform: Platform, users: grpc.Channel, http: Any
) -> None:
    request = message("waveform.users.v1.GetUserRequest", user_id="u1")
    user = get_user(users, request, tuple(bearer(platform, "users", "u1").items()))
    expected = http.get(f"{platform.url('users')}/users/u1").json()
    assert (user.username, user.email, user.followers_count) == (
        expected["username"],
        expected["email"],
        expected["followers_count"],
    )


def test_a_read_mask_leaves_out_every_field_not_asked_for(
    platform: Platform, users: grpc.Channel
) -> None:
    token = tuple(bearer(platform, "users", "u1").items())
    full = get_user(users, message("waveform.users.v1.GetUserRequest", user_id="u1"), token)
    masked = get_user(
        users,
        message(
            "waveform.users.v1.GetUserRequest",
            user_id="u1",
            read_mask={"paths": ["id", "username"]},
        ),
        token,
    )
    assert (masked.id, masked.username, masked.email, masked.phone) == ("u1", full.username, "", "")
    assert masked.ByteSize() < full.ByteSize() / 3


def test_a_problem_becomes_its_grpc_status_with_error_info(
    platform: Platform, users: grpc.Channel
) -> None:
    token = tuple(bearer(platform, "users", "u1").items())
    with pytest.raises(grpc.RpcError) as caught:
        get_user(users, message("waveform.users.v1.GetUserRequest", user_id="u404"), token)
    error: Any = caught.value
    assert error.code() == grpc.StatusCode.NOT_FOUND
    trailer = dict(error.trailing_metadata())["grpc-status-details-bin"]
    detail, details = decode_details(trailer)
    assert detail == error.details() and details[0]["metadata"] == {"http_status": "404"}


def test_health_checking_says_the_service_is_serving(users: grpc.Channel) -> None:
    check = health_pb2_grpc.HealthStub(users).Check
    service = "waveform.users.v1.UsersService"
    answer = check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_service_without_a_token(users: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(users)
    ask = reflection_pb2.ServerReflectionRequest(list_services="")
    (answer,) = list(stub.ServerReflectionInfo(iter([ask]), timeout=5))
    names = {s.name for s in answer.list_services_response.service}
    assert "waveform.users.v1.UsersService" in names


CONNECT_GET_USER = "/waveform.users.v1.UsersService/GetUser"


def test_the_connect_protocol_answers_json_cut_to_the_read_mask(
    platform: Platform, http: Any
) -> None:
    answer = http.post(
        platform.url("users") + CONNECT_GET_USER,
        json={"user_id": "u1", "read_mask": "id,displayName"},
        headers={"connect-protocol-version": "1"},
    )
    assert answer.status_code == 200
    assert answer.json() == {"id": "u1", "display_name": "Alice Costa"}


def test_the_connect_protocol_answers_a_problem_as_a_connect_error(
    platform: Platform, http: Any
) -> None:
    answer = http.post(platform.url("users") + CONNECT_GET_USER, json={"user_id": "u404"})
    body = answer.json()
    assert (answer.status_code, body["code"]) == (404, "not_found")
    assert body["details"][0]["type"] == "google.rpc.ErrorInfo"
