"""From messages to consumed structs: what a field's annotations do not change."""

from __future__ import annotations

from typing import Annotated

import msgspec
from google.protobuf import descriptor_pb2

from tailor.govern.labels import Personal
from tailor.upstream.grpc.messages import converter, read_mask


class Labelled(msgspec.Struct):
    name: Annotated[str, Personal]
    dependency: list[Annotated[str, msgspec.Meta(max_length=64)]] = []


DESCRIPTOR = descriptor_pb2.FileDescriptorProto.DESCRIPTOR


def test_a_field_with_a_data_class_is_converted_as_its_plain_type() -> None:
    message = descriptor_pb2.FileDescriptorProto(name="a.proto", dependency=["b.proto"])
    assert converter(DESCRIPTOR, Labelled)(message) == Labelled("a.proto", ["b.proto"])


def test_a_field_with_a_data_class_is_in_the_read_mask() -> None:
    assert read_mask(DESCRIPTOR, Labelled) == ["name", "dependency"]
