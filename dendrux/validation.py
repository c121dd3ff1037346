"""Argument checks every public entry point runs before any SQL.

Each check names the argument it rejects. JSON payloads are encoded here,
once, so that both dialects store the same text and refuse the same values
(NaN/Infinity, NUL characters, non-serialisable objects).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from dendrux.errors import InvalidArgumentError, InvalidArgumentTypeError
from dendrux.status import STATUS_VALUES as _STATUS_VALUES
from dendrux.status import RunStatus

MAX_ID_LENGTH = 26
INT64_MAX = 2**63 - 1
# The one range of the INTEGER columns (sequence, order and iteration indexes,
# iteration_count, delegation_level, duration_ms) on both dialects: PostgreSQL's
# INTEGER, as in the upstream schema. Token counts are BIGINT (64-bit).
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
# Patterns as text: `re` compiles (and caches) each on first use, not at import.
_EVENT_TYPE = r"[a-z0-9_.]+"
# A JSON escape for NUL preceded by an even number of backslashes (so it is not a literal "\u0000").
_ESCAPED_NUL = r"(?<!\\)(?:\\\\)*\\u0000"
# A float json.dumps wrote with a positive exponent (it only does so from 1e16 up).
_BIG_FLOAT = r"[0-9]e\+[0-9]"
# json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")), without
# building an encoder per call (json.dumps does for any non-default argument).
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def check_text(name: str, value: object, *, optional: bool = False) -> str | None:
    """A str without NUL characters (PostgreSQL cannot store them; SQLite would)."""
    if value is None:
        if optional:
            return None
        raise InvalidArgumentTypeError(f"{name} must be a str, got None")
    if not isinstance(value, str):
        raise InvalidArgumentTypeError(f"{name} must be a str, got {type(value).__name__}")
    if "\x00" in value:
        raise InvalidArgumentError(f"{name} contains a NUL character, which is not storable")
    _check_encodable(name, value)
    return value


def check_required_text(name: str, value: object) -> str:
    """A non-optional str (see `check_text`)."""
    checked = check_text(name, value)
    assert checked is not None
    return checked


def check_id(name: str, value: object, *, optional: bool = False) -> str | None:
    """A caller-supplied id: a non-empty str of at most 26 characters."""
    if value is None and optional:
        return None
    text = check_text(name, value)
    assert text is not None
    if not text or len(text) > MAX_ID_LENGTH:
        raise InvalidArgumentError(
            f"{name} must be a non-empty string of at most {MAX_ID_LENGTH} characters, got {text!r}"
        )
    return text


def check_required_id(name: str, value: object) -> str:
    """A non-optional id (see `check_id`)."""
    checked = check_id(name, value)
    assert checked is not None
    return checked


def check_int(
    name: str, value: object, *, optional: bool = False, minimum: int | None = 0
) -> int | None:
    """An int (not a bool) within the 64-bit range and at least ``minimum``."""
    if value is None:
        if optional:
            return None
        raise InvalidArgumentTypeError(f"{name} must be an int, got None")
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentTypeError(f"{name} must be an int, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise InvalidArgumentError(f"{name} must be >= {minimum}, got {value}")
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise InvalidArgumentError(f"{name} is outside the 64-bit integer range: {value}")
    return value


def check_required_int(name: str, value: object, *, minimum: int | None = 0) -> int:
    """A non-optional int (see `check_int`)."""
    checked = check_int(name, value, minimum=minimum)
    assert checked is not None
    return checked


def check_cost(name: str, value: object) -> float | None:
    """A finite, non-negative cost in USD, or None for unknown."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentTypeError(f"{name} must be a float, got {type(value).__name__}")
    cost = float(value)
    if not math.isfinite(cost) or cost < 0:
        raise InvalidArgumentError(f"{name} must be a finite number >= 0, got {value!r}")
    return cost


def check_bool(name: str, value: object) -> bool:
    """A real bool."""
    if not isinstance(value, bool):
        raise InvalidArgumentTypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


def check_aware(name: str, value: object, *, optional: bool = True) -> datetime | None:
    """A timezone-aware datetime, converted to UTC; naive ones are refused."""
    if value is None:
        if optional:
            return None
        raise InvalidArgumentTypeError(f"{name} must be a datetime, got None")
    if not isinstance(value, datetime):
        raise InvalidArgumentTypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidArgumentError(
            f"{name} must be timezone-aware (e.g. datetime.now(UTC)), got naive {value!r}"
        )
    return value.astimezone(UTC)


def check_duration(name: str, value: object) -> timedelta:
    """A positive timedelta."""
    if not isinstance(value, timedelta):
        raise InvalidArgumentTypeError(f"{name} must be a timedelta, got {type(value).__name__}")
    if value <= timedelta(0):
        raise InvalidArgumentError(f"{name} must be positive, got {value!r}")
    return value


def check_status(name: str, value: object) -> str:
    """One of the run statuses."""
    if isinstance(value, RunStatus):
        return value.value
    if not isinstance(value, str):
        raise InvalidArgumentTypeError(f"{name} must be a str, got {type(value).__name__}")
    if value not in _STATUS_VALUES:
        raise InvalidArgumentError(
            f"{name} {value!r} is not a run status; expected one of {sorted(_STATUS_VALUES)}"
        )
    return value


def check_statuses(name: str, value: object) -> list[str]:
    """A list of run statuses (may be empty)."""
    return [check_status(f"{name}[{i}]", item) for i, item in enumerate(check_list(name, value))]


def check_list(name: str, value: object) -> list[object]:
    """A list (or other non-string iterable) of values."""
    if isinstance(value, str | bytes | dict) or not isinstance(value, Iterable):
        raise InvalidArgumentTypeError(f"{name} must be a list, got {type(value).__name__}")
    return list(value)


def check_status_filter(name: str, value: object) -> list[str] | None:
    """A reader's status filter: None, one status or a list (empty matches nothing)."""
    if value is None:
        return None
    if isinstance(value, str):
        return [check_status(name, value)]
    return check_statuses(name, value)


def check_event_type(name: str, value: object) -> str:
    """An event type made of ``[a-z0-9_.]``."""
    text = check_required_text(name, value)
    if not re.fullmatch(_EVENT_TYPE, text):
        raise InvalidArgumentError(f"{name} {text!r} must match [a-z0-9_.]+")
    return text


def check_limit(name: str, value: object, *, maximum: int = 1000) -> int | None:
    """An optional page size, clamped to 1..maximum."""
    if value is None:
        return None
    return clamp_limit(name, value, maximum=maximum)


def clamp_limit(name: str, value: object, *, maximum: int = 1000) -> int:
    """A required page size, clamped to 1..maximum."""
    limit = check_required_int(name, value, minimum=None)
    return max(1, min(limit, maximum))


def check_page(limit: object, offset: object) -> tuple[int | None, int]:
    """A per-run read's page: ``limit`` >= 1 or None (all), ``offset`` >= 0; refused otherwise."""
    page = check_int("limit", limit, optional=True, minimum=1)
    skip = check_int("offset", offset, minimum=0)
    assert skip is not None
    return page, skip


def check_offset(name: str, value: object) -> int:
    """A page offset, clamped to >= 0."""
    offset = check_required_int(name, value, minimum=None)
    return max(0, offset)


def _is_meta_key(key: str) -> bool:
    """``^[A-Za-z0-9_-]+$``, without a regex: ASCII letters and digits, ``_`` and ``-``."""
    return key.isascii() and key.replace("_", "a").replace("-", "a").isalnum()


def check_metadata_filter(name: str, value: object) -> dict[str, Any] | None:
    """Top-level equality filter on ``meta``: safe keys, scalar values."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidArgumentTypeError(f"{name} must be a dict, got {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str) or not _is_meta_key(key):
            raise InvalidArgumentError(
                f"{name} key {key!r} must match ^[A-Za-z0-9_-]+$ (nested paths are not supported)"
            )
        # The common values pass without building the argument's name for a message.
        kind = item.__class__
        if kind is str:
            if item.isascii() and "\x00" not in item:
                continue
        elif item is None or kind is bool:
            continue
        elif kind is int:
            if -INT64_MAX - 1 <= item <= INT64_MAX:
                continue
        elif kind is float and math.isfinite(item):
            continue
        if item is not None and not isinstance(item, str | int | float | bool):
            raise InvalidArgumentTypeError(
                f"{name}[{key!r}] must be str, int, float, bool or None, got {type(item).__name__}"
            )
        if isinstance(item, float) and not math.isfinite(item):
            raise InvalidArgumentError(f"{name}[{key!r}] must be finite, got {item!r}")
        if isinstance(item, int) and not isinstance(item, bool):
            check_int(f"{name}[{key!r}]", item, minimum=None)
        if isinstance(item, str):
            check_text(f"{name}[{key!r}]", item)
    return dict(value)


def encode_json(name: str, value: object) -> str | None:
    """JSON text for a column, or None for SQL NULL; refuses what either dialect would."""
    if value is None:
        return None
    try:
        text = _encode(value)
    except TypeError as exc:
        raise InvalidArgumentTypeError(f"{name} is not JSON-serialisable: {exc}") from None
    except ValueError as exc:
        # allow_nan=False and circular references both land here.
        raise InvalidArgumentError(f"{name} cannot be stored as JSON: {exc}") from None
    # The substring tests are cheap and almost always false; the regexes are not.
    if "\\u0000" in text and re.search(_ESCAPED_NUL, text):
        raise InvalidArgumentError(f"{name} contains a NUL character, which is not storable")
    if "e+" in text and re.search(_BIG_FLOAT, text):
        text = _dump_exact(json.loads(text))  # keys are now strings, floats unchanged
    _check_encodable(name, text)
    return text


def _check_encodable(name: str, text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgumentError(
            f"{name} contains a lone surrogate, which is not valid UTF-8"
        ) from None


def _dump_exact(value: object) -> str:
    """JSON text where whole floats of 1e16 and more keep a fraction part.

    ``json.dumps`` writes them as ``1e+16``; PostgreSQL's JSONB stores numbers
    as decimals and would hand back ``10000000000000000``, an int. Writing the
    float's exact digits plus ``.0`` makes both dialects return the same float.
    """
    if isinstance(value, float) and value.is_integer():
        return f"{int(value)}.0"
    if isinstance(value, dict):
        items = (f"{_dump_exact(k)}:{_dump_exact(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dump_exact(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def encode_json_object(name: str, value: object) -> str | None:
    """Like `encode_json`, but the value must be a dict (or None)."""
    if value is not None and not isinstance(value, dict):
        raise InvalidArgumentTypeError(f"{name} must be a dict, got {type(value).__name__}")
    return encode_json(name, value)


def check_usage(name: str, usage: object) -> tuple[int, int, float | None, int, int, int]:
    """Validated (input, output, cost, cache read, cache creation, reasoning) of a usage
    object: anything with the usage attributes (`dendrux.types.UsageStats` or a provider's)."""
    if not hasattr(usage, "input_tokens") or not hasattr(usage, "output_tokens"):
        raise InvalidArgumentTypeError(
            f"{name} must have input_tokens and output_tokens attributes, "
            f"got {type(usage).__name__}"
        )

    def tokens(attr: str) -> int:
        value = getattr(usage, attr, None)
        return check_int(f"{name}.{attr}", value, optional=True) or 0

    return (
        tokens("input_tokens"),
        tokens("output_tokens"),
        check_cost(f"{name}.cost_usd", getattr(usage, "cost_usd", None)),
        tokens("cache_read_input_tokens"),
        tokens("cache_creation_input_tokens"),
        tokens("reasoning_tokens"),
    )
