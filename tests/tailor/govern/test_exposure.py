"""The gate: a personal or sensitive response field needs a ``governance.expose`` entry, and
an entry must name a guarded field some response of the BFF has. Checked at startup."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec
import pytest

from tailor import BFF, Part, Plan, Request, Response, build_config
from tailor.errors import ConfigError
from tailor.govern.exposure import exposed_fields, unlabelled
from tailor.govern.labels import DataClass, Personal


class Profile(msgspec.Struct):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    username: str
    city: Annotated[str, Personal] = ""


class Page(msgspec.Struct):
    profile: Profile
    note: str = ""  # no label, no default


class Record(msgspec.Struct):
    id: str


async def _page(request: Request) -> Response:
    return Response(204)


def _bff(expose: list[dict[str, str]], response: type[msgspec.Struct] = Page) -> BFF:
    config: dict[str, Any] = {
        "name": "test",
        "upstreams": {"users": "http://127.0.0.1:9"},
        "governance": {"expose": expose},
    }
    bff = BFF(build_config(config))
    plan = Plan(parts=(Part("me", "users", "/users/{id}", into=Record),))
    bff.get("/page", auth=False, plan=plan, response=response)(_page)
    return bff


def test_a_bff_answering_a_personal_field_without_an_entry_does_not_start() -> None:
    with pytest.raises(ConfigError, match=r"Profile\.city, which is personal") as caught:
        _bff([]).check()
    assert caught.value.key == "governance.expose"


def test_an_entry_naming_the_field_and_a_reason_lets_it_through() -> None:
    bff = _bff([{"field": "Profile.city", "reason": "shown on the user's own profile"}])
    bff.check()
    [city] = [e for e in exposed_fields(bff.config.governance, bff.router.routes)
              if e.field.key == "Profile.city"]  # fmt: skip
    assert city.reason == "shown on the user's own profile" and city.routes == ("GET /page",)


def test_an_entry_naming_a_field_no_response_has_stops_startup_naming_the_key() -> None:
    entries = [
        {"field": "Profile.city", "reason": "shown on the user's own profile"},
        {"field": "Profile.town", "reason": "a field that does not exist"},
    ]
    with pytest.raises(ConfigError, match=r"no response of this BFF has Profile\.town") as caught:
        _bff(entries).check()
    assert caught.value.key == "governance.expose.1.field"


def test_an_entry_naming_a_public_field_stops_startup_naming_the_key() -> None:
    entries = [
        {"field": "Profile.city", "reason": "shown on the user's own profile"},
        {"field": "Profile.username", "reason": "it is public anyway"},
    ]
    with pytest.raises(ConfigError, match="not personal or sensitive") as caught:
        _bff(entries).check()
    assert caught.value.key == "governance.expose.1.field"


def test_an_entry_without_a_reason_is_refused_by_the_config() -> None:
    with pytest.raises(ConfigError) as caught:
        _bff([{"field": "Profile.city", "reason": ""}])
    assert caught.value.key == "governance.expose.0.reason"


def test_unlabelled_lists_the_fields_of_responses_and_consumed_structs_without_a_class() -> None:
    bff = _bff([{"field": "Profile.city", "reason": "shown on the user's own profile"}])
    assert sorted(f.key for f in unlabelled(bff.router.routes)) == ["Page.note", "Record.id"]


def test_two_response_structs_of_one_name_stop_startup() -> None:
    Twin = msgspec.defstruct("Profile", [("username", Annotated[str, Personal])])
    bff = _bff([{"field": "Profile.city", "reason": "shown on the user's own profile"}])
    bff.get("/twin", auth=False, response=Twin)(_page)
    with pytest.raises(ConfigError, match="two response structs are named Profile"):
        bff.check()
