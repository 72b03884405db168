"""App versions: dotted numbers compared number by number; ranges of comparisons joined by
commas, refused with a message when they are not one."""

from __future__ import annotations

import pytest

from tailor.clients import VersionRange, parse_version


def test_a_shorter_version_equals_the_same_one_padded_with_zeros() -> None:
    assert parse_version("4.2") == parse_version("4.2.0.0")


def test_versions_compare_number_by_number_not_as_text() -> None:
    assert parse_version("4.10") > parse_version("4.9")  # type: ignore[operator]


@pytest.mark.parametrize("text", ["4.x", "", "4..2", "1.2.3.4.5", "1234567", "٤.٢", " 4.2"])
def test_a_text_that_is_no_dotted_version_parses_to_none(text: str) -> None:
    assert parse_version(text) is None


@pytest.mark.parametrize(
    "version, inside",
    [("2.9.9", False), ("3.0", True), ("3.3.99", True), ("3.4", False), ("5", False)],
)
def test_a_range_holds_the_versions_every_comparison_admits(version: str, inside: bool) -> None:
    assert VersionRange.parse(">=3.0, <3.4").contains(parse_version(version)) is inside


def test_an_unknown_version_is_in_no_range() -> None:
    assert not VersionRange.parse("!=1.0").contains(None)


@pytest.mark.parametrize("text", ["3.0", ">=3.x", "=>3.0", ">=3.0,", "~3.0", ""])
def test_a_range_that_is_not_comparisons_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        VersionRange.parse(text)
