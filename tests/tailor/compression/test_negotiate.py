"""Accept-Encoding negotiation (RFC 9110 s12.5.3): q-values, identity, ``*``, the server's
preference, and the header that rules everything out."""

from __future__ import annotations

from tailor.compression.negotiate import IDENTITY, Negotiator, choose, preferences

OFFER = ("zstd", "br", "gzip")


def test_no_header_asks_for_identity() -> None:
    assert choose(None, OFFER) == IDENTITY


def test_an_empty_header_asks_for_identity() -> None:
    assert choose("", OFFER) == IDENTITY
    assert choose("  ", OFFER) == IDENTITY


def test_codings_of_equal_weight_go_to_the_servers_preference() -> None:
    assert choose("gzip, br, zstd", OFFER) == "zstd"
    assert choose("gzip, br", ("br", "gzip")) == "br"
    assert choose("gzip, br", ("gzip", "br")) == "gzip"


def test_the_highest_q_value_wins_over_the_servers_preference() -> None:
    assert choose("zstd;q=0.2, gzip;q=0.9", OFFER) == "gzip"


def test_a_coding_with_q_zero_is_never_chosen() -> None:
    assert choose("zstd;q=0, br;q=0, gzip", OFFER) == "gzip"


def test_the_star_stands_for_every_coding_not_listed() -> None:
    assert choose("*", OFFER) == "zstd"
    assert choose("zstd;q=0, *;q=0.5", OFFER) == "br"


def test_codings_the_server_lacks_are_passed_over_for_identity() -> None:
    assert choose("deflate, compress", OFFER) == IDENTITY


def test_identity_is_chosen_when_the_client_ranks_it_above_every_coding() -> None:
    assert choose("gzip;q=0.5, identity", OFFER) == IDENTITY
    assert choose("gzip, identity", OFFER) == "gzip"  # a tie goes to compression


def test_ruling_out_identity_and_every_offered_coding_leaves_nothing() -> None:
    assert choose("identity;q=0, *;q=0", OFFER) is None
    assert choose("deflate, identity;q=0", OFFER) is None
    assert choose("*;q=0", OFFER) is None


def test_star_q_zero_with_identity_listed_keeps_identity() -> None:
    assert choose("identity, *;q=0", OFFER) == IDENTITY


def test_names_and_parameters_are_case_insensitive_and_x_gzip_is_gzip() -> None:
    assert choose("GZIP;Q=0.5", OFFER) == "gzip"
    assert choose("x-gzip", OFFER) == "gzip"


def test_a_member_with_an_invalid_q_value_is_ignored() -> None:
    assert preferences("zstd;q=2, br;q=0.1234, gzip;q=abc, identity;q=1.000") == {"identity": 1.0}
    assert choose("zstd;q=2", OFFER) == IDENTITY


def test_the_negotiator_answers_as_choose_does_for_values_seen_before_and_new() -> None:
    negotiator = Negotiator(OFFER)
    values = [f"gzip;q=0.{i % 9 + 1}, br;q=0.5" for i in range(300)] * 2
    assert [negotiator.choose(v) for v in values] == [choose(v, OFFER) for v in values]
