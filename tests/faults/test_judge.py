"""The scenarios' judge (faultworld.judge): a partial home is accepted only when it is right
about the caller and invents nothing, and a home whose people part was lost names nobody."""

from __future__ import annotations

import copy
import json
from typing import Any

from faultworld import judge

from tailor import Response

OWNER = {"id": "o1", "username": "user-o1", "display_name": "User o1", "avatar_url": "a"}


def _card(tid: str, owner: Any) -> dict[str, Any]:
    return {"id": tid, "title": f"Track {tid}", "owner": owner}


def _home(owner: Any = OWNER, degraded: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    home: dict[str, Any] = {
        "me": {"id": "u1"},
        "stream": {"items": [{"id": "s1", "actor": owner, "track": _card("t1", owner)}]},
        "recommendations": [_card("t2", owner)],
        "playlists": [],
    }
    if degraded is not None:
        home["degraded"] = degraded
    return home


BASELINE = json.dumps(_home(), sort_keys=True).encode()
PEOPLE_LOST = [{"part": "people", "reason": "timeout"}]


def _verdict(body: dict[str, Any]) -> str:
    headers = [("content-type", "application/json"), ("tailor-degraded", "people")]
    response = Response(200, json.dumps(body).encode(), headers)
    return judge("u1", response, 0.1, BASELINE).verdict


def test_a_home_whose_people_were_lost_with_null_people_is_a_partial() -> None:
    assert _verdict(_home(owner=None, degraded=PEOPLE_LOST)) == "partial"


def test_null_people_when_people_were_not_lost_is_incorrect() -> None:
    assert _verdict(_home(owner=None, degraded=[{"part": "recs"}])) == "incorrect"


def test_a_wrong_person_when_people_were_lost_is_incorrect() -> None:
    stranger = {**OWNER, "id": "o9"}
    assert _verdict(_home(owner=stranger, degraded=PEOPLE_LOST)) == "incorrect"


def test_an_invented_title_when_people_were_lost_is_incorrect() -> None:
    home = _home(owner=None, degraded=PEOPLE_LOST)
    changed = copy.deepcopy(home)
    changed["recommendations"][0]["title"] = "Invented"
    assert _verdict(changed) == "incorrect"
