"""Client identification: the app, platform and version from a user agent or a header of the
app's own, each distinct text parsed once; anything else is the unknown client, never an
error."""

from __future__ import annotations

import msgspec
import pytest

from tailor.clients import UNKNOWN, ClientSettings, Identifier


@pytest.fixture
def identify() -> Identifier:
    return Identifier(ClientSettings(app="waveform", apps=["waveform", "waveform-tv"]))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Waveform/4.12.0 (Android 14; Pixel 8)", ("waveform", "android", "4.12.0")),
        ("Waveform/4.12.0 (iOS 17.2; iPhone14,2) CFNetwork/1494", ("waveform", "ios", "4.12.0")),
        ("waveform-tv/2.1", ("waveform-tv", "unknown", "2.1")),
        ("4.12.0", ("waveform", "unknown", "4.12.0")),
        ("3.2 (Android 13)", ("waveform", "android", "3.2")),
        ("Waveform/04.2 (Symbian)", ("waveform", "unknown", "4.2")),
    ],
)
def test_a_client_text_gives_app_platform_and_version(
    identify: Identifier, text: str, expected: tuple[str, str, str]
) -> None:
    info = identify.identify(text)
    assert (info.app, info.platform, info.version) == expected
    assert info.known


@pytest.mark.parametrize(
    "text",
    [
        "",
        "4.x",
        "Mozilla/5.0 (X11; Linux x86_64)",  # not an app of this BFF
        "Waveform/",
        "Waveform/4.2beta",
        "Waveform/1.2.3.4.5",
        "\x00\xff",
        "٤.٢",
        "W" * 10_000,
    ],
)
def test_a_malformed_client_text_is_the_unknown_client(identify: Identifier, text: str) -> None:
    assert identify.identify(text) is UNKNOWN
    assert not UNKNOWN.known and UNKNOWN.version == "unknown"


def test_equal_clients_share_one_info(identify: Identifier) -> None:
    assert identify.identify("4.2 (iOS)") is identify.identify("Waveform/4.2 (iOS 18)")


def test_the_same_text_is_parsed_once(identify: Identifier) -> None:
    first = identify.identify("Waveform/4.1 (iOS)")
    assert identify.known["Waveform/4.1 (iOS)"] is first
    assert identify.identify("Waveform/4.1 (iOS)") is first


def test_the_memory_of_client_texts_is_bounded() -> None:
    ident = Identifier(ClientSettings(app="waveform", max_known=8))
    for minor in range(100):
        ident.identify(f"4.{minor}")
    assert len(ident.known) <= 8


def test_a_bare_version_belongs_to_the_bff_when_no_app_is_configured() -> None:
    info = Identifier(ClientSettings(), default_app="Mobile").identify("1.0")
    assert info.app == "mobile"


def test_the_settings_survive_a_round_trip_through_json_with_the_default_app() -> None:
    decoded = msgspec.json.decode(msgspec.json.encode(ClientSettings()), type=ClientSettings)
    assert decoded.app == ""
