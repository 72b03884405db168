"""The services with a proto serve gRPC beside JSON: the same routes, token check and
problems, cut to the caller's read mask; health checking and reflection answer without a
token."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import msgspec
import pytest
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tailor.upstream.grpc.descriptors import bindings, load_pool, message_class
from tailor.upstream.grpc.messages import mask_tree
from tailor.upstream.grpc.status import decode_details
from tailor.upstream.grpc.transport import build_grpc_transport
from tailor.upstream.http1_transport import Http1Transport
from tailor.upstream.transport import UpstreamRequest
from waveform.bffs.upstreams import grpc_settings
from waveform.protos import SERVICES, descriptor_set
from waveform.seed import ALICE_PRIVATE_TRACK, PRIVATE_TRACK
from waveform.services.grpc_api import MethodRoute, prune
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
PROTO = "application/proto"


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


def test_the_connect_protocol_answers_protobuf_cut_to_the_read_mask(
    platform: Platform, http: Any
) -> None:
    request = message(
        "waveform.users.v1.GetUserRequest",
        user_id="u1",
        read_mask={"paths": ["id", "display_name"]},
    )
    answer = http.post(
        platform.url("users") + CONNECT_GET_USER,
        content=request.SerializeToString(),
        headers={"content-type": PROTO, "connect-protocol-version": "1"},
    )
    assert (answer.status_code, answer.headers["content-type"]) == (200, PROTO)
    user = message_class(POOL.FindMessageTypeByName("waveform.users.v1.User"))
    got = user.FromString(answer.content)
    assert (got.id, got.display_name, got.username) == ("u1", "Alice Costa", "")


def test_a_connect_body_that_is_not_the_method_s_request_is_invalid_argument(
    platform: Platform, http: Any
) -> None:
    answer = http.post(
        platform.url("users") + CONNECT_GET_USER,
        content=b"\x0a\x05u1",  # field 1 says five bytes follow; two do
        headers={"content-type": PROTO, "connect-protocol-version": "1"},
    )
    assert (answer.status_code, answer.json()["code"]) == (400, "invalid_argument")


async def test_the_transport_s_connect_wire_reads_the_real_service_as_protobuf(
    platform: Platform,
) -> None:
    class Card(msgspec.Struct):
        id: str
        display_name: str

    base = platform.url("users").replace("http://", "connect://")
    transport = build_grpc_transport(
        {"users": base}, grpc_settings()["services"], [str(descriptor_set())], Http1Transport()
    )
    headers = list(bearer(platform, "users", "u1").items())
    try:
        call = UpstreamRequest("users", "GET", f"{base}/users/u1", headers, 5.0, into=Card)
        answer = await transport.send(call)
    finally:
        await transport.aclose()
        await transport.http.aclose()  # type: ignore[union-attr]
    assert answer.value == Card("u1", "Alice Costa")
    # The card's fields were the read mask: the service sent nothing else.
    user = message_class(POOL.FindMessageTypeByName("waveform.users.v1.User"))
    assert {f.name for f, _ in user.FromString(answer.body).ListFields()} == {"id", "display_name"}


def test_the_connect_protocol_answers_a_problem_as_a_connect_error(
    platform: Platform, http: Any
) -> None:
    answer = http.post(platform.url("users") + CONNECT_GET_USER, json={"user_id": "u404"})
    body = answer.json()
    assert (answer.status_code, body["code"]) == (404, "not_found")
    assert body["details"][0]["type"] == "google.rpc.ErrorInfo"


@pytest.fixture(scope="module")
def catalog(platform: Platform) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{platform.grpc_ports['catalog']}") as channel:
        yield channel


def catalog_call(channel: grpc.Channel, method: str, request: Message, metadata: Any) -> Message:
    call = channel.unary_unary(
        f"/waveform.catalog.v1.CatalogService/{method}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=bytes,
    )
    raw = call(request, metadata=metadata, timeout=5)
    answer = POOL.FindMessageTypeByName(f"waveform.catalog.v1.{method}Response")
    return message_class(answer).FromString(raw)


def test_a_like_over_grpc_answers_the_caller_s_engagement(
    platform: Platform, catalog: grpc.Channel
) -> None:
    # alice (u1) likes her own private track: visible to her, nobody else's test data.
    token = (*bearer(platform, "catalog", "u1").items(), ("x-viewer-country", "DE"))
    request = message("waveform.catalog.v1.LikeTrackRequest", track_id=ALICE_PRIVATE_TRACK)
    try:
        liked = catalog_call(catalog, "LikeTrack", request, token)
        assert (liked.track_id, liked.liked, liked.likes >= 1) == (ALICE_PRIVATE_TRACK, True, True)
    finally:
        undo = message("waveform.catalog.v1.UnlikeTrackRequest", track_id=ALICE_PRIVATE_TRACK)
        catalog_call(catalog, "UnlikeTrack", undo, token)


def test_a_like_over_grpc_of_a_track_the_caller_may_not_see_is_not_found(
    platform: Platform, catalog: grpc.Channel
) -> None:
    token = (*bearer(platform, "catalog", "u1").items(), ("x-viewer-country", "DE"))
    request = message("waveform.catalog.v1.LikeTrackRequest", track_id=PRIVATE_TRACK)
    with pytest.raises(grpc.RpcError) as caught:
        catalog_call(catalog, "LikeTrack", request, token)
    error: Any = caught.value
    assert error.code() == grpc.StatusCode.NOT_FOUND
    _, details = decode_details(dict(error.trailing_metadata())["grpc-status-details-bin"])
    assert details[0]["metadata"] == {"http_status": "404"}


def test_a_post_over_grpc_with_bad_metadata_is_invalid_argument(
    platform: Platform, catalog: grpc.Channel
) -> None:
    token = tuple(bearer(platform, "catalog", "u1").items())
    request = message("waveform.catalog.v1.PostTrackRequest", title="", duration_ms=-5)
    with pytest.raises(grpc.RpcError) as caught:
        catalog_call(catalog, "PostTrack", request, token)
    error: Any = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, details = decode_details(dict(error.trailing_metadata())["grpc-status-details-bin"])
    assert details[0]["metadata"] == {"http_status": "400"}


def test_a_command_over_connect_is_decided_by_its_json_route(platform: Platform, http: Any) -> None:
    answer = http.post(
        platform.url("catalog") + "/waveform.catalog.v1.CatalogService/LikeTrack",
        json={"track_id": PRIVATE_TRACK},
        headers={"connect-protocol-version": "1", **bearer(platform, "catalog", "u1")},
    )
    assert (answer.status_code, answer.json()["code"]) == (404, "not_found")


def batch_get_tracks() -> MethodRoute:
    routes = bindings(POOL, SERVICES["catalog"], "services.catalog")
    return MethodRoute(lambda *_: None, next(b for b in routes if b.name == "BatchGetTracks"))


TRACKS = msgspec.json.encode(
    {
        "items": [
            {"id": "t1", "title": "One", "sparkle": 9, "media": {"stream_url": "s", "codec": "o"}},
            {"id": "t2", "title": None, "genre": "rock", "media": None},
        ],
        "missing": ["t9"],
    }
)


def test_a_masked_answer_keeps_what_pruning_the_whole_answer_keeps() -> None:
    mask = ["items.id", "items.title", "items.media.stream_url"]
    cut = batch_get_tracks().cut(TRACKS, mask)
    first = {"id": "t1", "title": "One", "media": {"stream_url": "s"}}
    assert cut == {"items": [first, {"id": "t2", "title": None, "media": None}]}
    assert cut == prune(msgspec.json.decode(TRACKS), mask_tree(mask))


def test_a_mask_naming_a_field_the_message_lacks_is_pruned_from_the_whole_answer() -> None:
    cut = batch_get_tracks().cut(TRACKS, ["items.id", "items.sparkle"])
    assert cut == {"items": [{"id": "t1", "sparkle": 9}, {"id": "t2"}]}


def test_an_answer_not_shaped_as_the_message_is_pruned_from_the_whole_answer() -> None:
    odd = msgspec.json.encode({"items": {"id": "t1", "title": "One"}})
    assert batch_get_tracks().cut(odd, ["items.id"]) == {"items": {"id": "t1"}}
