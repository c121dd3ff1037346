"""The text forms of run filters, shared by the HTTP router and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dendrux.errors import InvalidArgumentError
from dendrux.read.text import (
    parse_instant_text,
    parse_int_text,
    parse_meta_text,
    parse_statuses_text,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("5", 5),
        ('"5"', "5"),
        ("x", "x"),
        ('"x"', "x"),
        ('"x', '"x'),
        ("true", True),
        ("null", None),
        ("1.5", 1.5),
        ("-0", 0),
        ("NaN", "NaN"),
        ('"a\\"b"', 'a"b'),
    ],
)
def test_meta_values_read_as_json_scalars_else_text(text: str, value: object) -> None:
    assert parse_meta_text("meta.k", text) == value


def test_meta_numbers_beyond_64_bits_name_the_parameter() -> None:
    for text in ("9" * 25, "9" * 5000):
        with pytest.raises(InvalidArgumentError, match=r"meta\.k"):
            parse_meta_text("meta.k", text)


def test_integers_are_length_checked_before_int() -> None:
    assert parse_int_text("limit", " 42 ") == 42
    for text in ("9" * 5000, "-" + "9" * 5000, "1e3", "", "x", "2" * 20):
        with pytest.raises(InvalidArgumentError, match="limit") as caught:
            parse_int_text("limit", text)
        assert len(str(caught.value)) < 200


def test_instants_must_carry_their_zone_or_be_a_date() -> None:
    assert parse_instant_text("since", "2026-01-02") == datetime(2026, 1, 2, tzinfo=UTC)
    assert parse_instant_text("since", "2026-01-02T03:00:00+01:00") == datetime(
        2026, 1, 2, 2, tzinfo=UTC
    )
    assert parse_instant_text("since", "2026-01-02T03:00:00 01:00").hour == 2  # '+' as space
    for text in ("2026-01-02T03:00:00", "9999-12-31T23:59:59-14:00", "soon", "1" * 100):
        with pytest.raises(InvalidArgumentError, match="since"):
            parse_instant_text("since", text)


def test_statuses_are_checked_and_deduplicated() -> None:
    assert parse_statuses_text("status", ["error,success", " error "]) == ["error", "success"]
    assert parse_statuses_text("status", [" , "]) is None
    with pytest.raises(InvalidArgumentError, match="status 'done'"):
        parse_statuses_text("status", ["done"])


def test_meta_filter_text_checks_keys_by_the_one_rule_and_reads_values_as_json() -> None:
    from dendrux.read.text import parse_meta_filter_text
    from dendrux.validation import check_metadata_filter

    got = parse_meta_filter_text("meta", [("k", '"x"'), ("n", "5"), ("s", '"5"'), ("t", "x")])
    assert got == {"k": "x", "n": 5, "s": "5", "t": "x"}
    assert check_metadata_filter("metadata_filter", got) == got  # what the store accepts
    assert parse_meta_filter_text("meta", []) is None
    for key in ("a.b", "", "ключ", "a b"):
        with pytest.raises(InvalidArgumentError, match="must match"):
            parse_meta_filter_text("meta", [(key, "1")])
        with pytest.raises(InvalidArgumentError, match="must match"):
            check_metadata_filter("metadata_filter", {key: 1})  # the same rule below
    with pytest.raises(InvalidArgumentError, match="more than once"):
        parse_meta_filter_text("meta", [("k", "1"), ("k", "2")])
