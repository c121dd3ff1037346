"""`dendrux.read.jsonable`: the one JSON/ISO-8601 output of records (router and CLI)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from dendrux.read.jsonable import dumps, dumps_bytes, iso, record, to_jsonable
from dendrux.store import RunSummary, StoredEvent

NOON = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Odd:
    """Fields whose annotations say little or mislead: values decide, not annotations."""

    stamps: list[datetime]
    when: Any
    datetime_note: str
    nested: Any = None
    secret: str = "s"
    extra: dict[str, Any] = field(default_factory=dict)


def test_iso_is_utc_with_an_offset() -> None:
    assert iso(NOON) == "2026-01-31T12:00:00+00:00"
    assert iso(NOON.astimezone(timezone(timedelta(hours=2)))) == "2026-01-31T12:00:00+00:00"
    assert iso(NOON.replace(tzinfo=None)) == "2026-01-31T12:00:00+00:00"  # naive: stored UTC


def test_record_is_shallow_and_can_omit_fields() -> None:
    odd = Odd([NOON], NOON, "datetime soon", secret="x")
    assert record(odd) == {
        "stamps": [NOON],
        "when": NOON,
        "datetime_note": "datetime soon",
        "nested": None,
        "secret": "x",
        "extra": {},
    }
    assert "secret" not in record(odd, omit=frozenset({"secret"}))


def test_datetimes_are_converted_by_value_wherever_they_are() -> None:
    inner = StoredEvent(1, 0, "tick", None, {"n": 1}, NOON)
    odd = Odd([NOON, NOON], NOON, "datetime soon", nested=inner, extra={"at": date(2026, 1, 2)})
    assert json.loads(dumps(odd)) == {
        "stamps": [iso(NOON), iso(NOON)],
        "when": iso(NOON),
        "datetime_note": "datetime soon",
        "nested": {
            "sequence_index": 1,
            "iteration_index": 0,
            "event_type": "tick",
            "correlation_id": None,
            "data": {"n": 1},
            "created_at": iso(NOON),
        },
        "secret": "s",
        "extra": {"at": "2026-01-02"},
    }


def test_non_finite_numbers_become_null_and_the_output_is_valid_json() -> None:
    value = {"a": float("nan"), "b": [1.5, float("inf")], "c": Decimal("2.5"), "d": Decimal("NaN")}
    text = dumps(value)
    assert json.loads(text) == {"a": None, "b": [1.5, None], "c": 2.5, "d": None}
    assert "NaN" not in text and "Infinity" not in text
    assert to_jsonable(value) == json.loads(text)


def test_bytes_sets_and_unknown_types() -> None:
    assert json.loads(dumps({"b": b"ok\xff", "s": frozenset({1})})) == {"b": "ok\\xff", "s": [1]}
    with pytest.raises(TypeError, match="object is not JSON-serialisable"):
        dumps(object())


def test_a_lone_surrogate_is_escaped() -> None:
    body = dumps_bytes({"t": "a\ud800b", "u": "é"})
    assert json.loads(body.decode("utf-8")) == {"t": "a\ud800b", "u": "é"}
    text = dumps({"t": "a\ud800b"}, indent=2)
    text.encode("utf-8")  # printable
    assert json.loads(text) == {"t": "a\ud800b"}


def test_compact_bytes_and_indented_text() -> None:
    summary = RunSummary("r1", "a", "running", NOON, None, 0, 0, 0, 0, 0, None, None, None, 0)
    body = dumps_bytes([summary])
    assert body.startswith(b'[{"run_id":"r1","agent_name":"a"')
    assert json.loads(body)[0]["created_at"] == "2026-01-31T12:00:00+00:00"
    assert dumps({"a": [1]}, indent=2) == '{\n  "a": [\n    1\n  ]\n}'
    assert to_jsonable((summary, NOON))[1] == iso(NOON)
