"""JSON output of records: one reading for the HTTP router and the CLI.

    from dendrux.read.jsonable import dumps, dumps_bytes, iso, record, to_jsonable

- `iso(dt)`: ISO-8601 in UTC with ``+00:00`` (a naive datetime is taken as UTC,
  as the store writes them).
- `record(obj)`: a dataclass record as a shallow dict, field by field
  (`dataclasses.fields`, so no annotation is read); values stay as they are.
- `dumps(value)` / `dumps_bytes(value)`: JSON text / compact UTF-8 bytes of
  anything built from dicts, lists, tuples, scalars, records (nested ones too),
  datetimes and dates (ISO-8601), `Decimal` (a float) and bytes (UTF-8 text,
  undecodable bytes escaped). A NaN or infinity (possible in rows other tools
  wrote) becomes ``null``, so the output is always valid JSON; a lone surrogate
  in stored text is written as a ``\\udXXX`` escape.
- `to_jsonable(value)`: the same conversion, to plain Python values.

Datetimes are converted wherever they sit, by their type, not by field names or
annotations; the encoder does it, so a record is not walked twice. Values must not
be circular (records never are): the encoder skips that check, a hot-path cost.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import fields, is_dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

__all__ = ["dumps", "dumps_bytes", "iso", "record", "to_jsonable"]

_Shape = tuple[tuple[str, ...], Callable[[Any], Any]]
_SHAPES: dict[tuple[type, frozenset[str]], _Shape] = {}
_NOTHING: frozenset[str] = frozenset()


def iso(value: datetime) -> str:
    """``value`` in UTC as ISO-8601 (``2026-01-31T12:00:00+00:00``)."""
    if value.tzinfo is not UTC:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat()


def _shape(cls: type, omit: frozenset[str]) -> _Shape:
    names = tuple(f.name for f in fields(cls) if f.name not in omit)
    getter = attrgetter(*names) if len(names) > 1 else _one(names)
    shape = (names, getter)
    _SHAPES[(cls, omit)] = shape
    return shape


def _one(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A getter returning a tuple for records of zero or one served field."""
    if not names:
        return lambda obj: ()
    get = attrgetter(names[0])
    return lambda obj: (get(obj),)


def record(obj: object, *, omit: frozenset[str] = _NOTHING) -> dict[str, Any]:
    """A dataclass instance's fields (but ``omit``) as a dict, shallow."""
    cls = type(obj)
    names, getter = _SHAPES.get((cls, omit)) or _shape(cls, omit)
    return dict(zip(names, getter(obj), strict=True))


def _default(value: object) -> object:
    """What the encoder calls for a value it does not know."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if is_dataclass(value) and not isinstance(value, type):
        return record(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON values (dict, list, str, int, float, bool, None)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    converted = _default(value)
    if isinstance(converted, Collection) and not isinstance(converted, str):
        return to_jsonable(converted)
    return converted


def _finite(value: Any) -> Any:
    """NaN and infinities (anywhere in plain values) as None; records converted on the way."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return _finite(record(value))
    return value


def _separators(indent: int | None, spaced: bool) -> tuple[str, str]:
    if indent is not None:
        return (",", ": ")
    return (", ", ": ") if spaced else (",", ":")


def _text(value: object, indent: int | None, spaced: bool = False) -> str:
    separators = _separators(indent, spaced)
    try:
        return json.dumps(
            value,
            ensure_ascii=False,
            separators=separators,
            indent=indent,
            allow_nan=False,
            check_circular=False,
            default=_default,
        )
    except ValueError:  # a NaN or infinity somewhere: rare, so only then walk the value
        return json.dumps(
            _finite(value),
            ensure_ascii=False,
            separators=separators,
            indent=indent,
            default=_default,
        )


def _ascii(text: str, indent: int | None, spaced: bool = False) -> str:
    """``text`` re-encoded with every non-ASCII character escaped (lone surrogates too)."""
    separators = _separators(indent, spaced)
    return json.dumps(json.loads(text), ensure_ascii=True, separators=separators, indent=indent)


def dumps(value: object, *, indent: int | None = None, spaced: bool = False) -> str:
    """JSON text of ``value`` (compact unless ``indent``, or ``spaced`` for one readable
    line as a terminal shows it): valid JSON, printable as UTF-8."""
    text = _text(value, indent, spaced)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in stored text: escape it
        return _ascii(text, indent, spaced)
    return text


def dumps_bytes(value: object) -> bytes:
    """Compact JSON of ``value`` as UTF-8 (an HTTP body, an SSE ``data:`` line)."""
    text = _text(value, None)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in stored text: escape it
        return _ascii(text, None).encode("ascii")
