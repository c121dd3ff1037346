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
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# The one range of the INTEGER columns (sequence, order and iteration indexes,
# iteration_count, delegation_level, duration_ms) on both dialects: PostgreSQL's
# INTEGER, as in the upstream schema. Token counts are BIGINT (64-bit).
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
MAX_JSON_DEPTH = 500
"""Deepest nesting of arrays/objects a JSON column takes, on both dialects: well below
what SQLite's JSON functions (2000 in 3.40, 1000 later), PostgreSQL's jsonb parser
(~10,000 with the default stack) and Python's recursive ``json`` accept."""
# Float filter values must be below this in magnitude: SQLite reads a stored JSON integer
# beyond 64 bits as the nearest REAL, PostgreSQL keeps it exact, so a float of 2**63 or
# more could match such an integer on one dialect only.
FLOAT_FILTER_LIMIT = 2.0**63
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
    if checked is None:  # not reached: the check refuses None unless optional
        raise InvalidArgumentTypeError(f"{name} must not be None")
    return checked


def check_id(name: str, value: object, *, optional: bool = False) -> str | None:
    """A caller-supplied id: a non-empty str of at most 26 characters."""
    if value is None and optional:
        return None
    text = check_text(name, value)
    if text is None:  # not reached: the check refuses None unless optional
        raise InvalidArgumentTypeError(f"{name} must not be None")
    if not text or len(text) > MAX_ID_LENGTH:
        raise InvalidArgumentError(
            f"{name} must be a non-empty string of at most {MAX_ID_LENGTH} characters, got {text!r}"
        )
    return text


def check_required_id(name: str, value: object) -> str:
    """A non-optional id (see `check_id`)."""
    checked = check_id(name, value)
    if checked is None:  # not reached: the check refuses None unless optional
        raise InvalidArgumentTypeError(f"{name} must not be None")
    return checked


def check_int(
    name: str,
    value: object,
    *,
    optional: bool = False,
    minimum: int | None = 0,
    maximum: int = INT64_MAX,
) -> int | None:
    """An int (not a bool), at least ``minimum`` and at most ``maximum`` (64-bit by
    default; `INT32_MAX` for the INTEGER columns, see `check_index`)."""
    if value is None:
        if optional:
            return None
        raise InvalidArgumentTypeError(f"{name} must be an int, got None")
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentTypeError(f"{name} must be an int, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise InvalidArgumentError(f"{name} must be >= {minimum}, got {int_text(value)}")
    if not INT64_MIN <= value <= maximum:
        raise InvalidArgumentError(_range_message(name, value, maximum))
    return value


def _range_message(name: str, value: int, maximum: int) -> str:
    if maximum == INT32_MAX:
        return (
            f"{name} is outside the 32-bit range of its INTEGER column "
            f"(at most {INT32_MAX}), got {int_text(value)}"
        )
    if maximum == INT64_MAX:
        return f"{name} is outside the 64-bit integer range, got {int_text(value)}"
    return f"{name} must be <= {maximum}, got {int_text(value)}"


def int_text(value: int) -> str:
    """An int for a message: its digits when short, its size otherwise (``str()`` of an
    int over 4,300 digits raises, and a message should not be a page of digits)."""
    if value.bit_length() <= 128:
        return str(value)
    digits = int(value.bit_length() * 0.30103) + 1
    return f"{'-' if value < 0 else ''}an integer of about {digits} digits"


def check_index(name: str, value: object, *, optional: bool = False) -> int | None:
    """A value for an INTEGER column (an index, a count, a duration): 0..`INT32_MAX`,
    the one range both dialects store (PostgreSQL's INTEGER)."""
    if value.__class__ is int and 0 <= value <= INT32_MAX:
        return value
    return check_int(name, value, optional=optional, maximum=INT32_MAX)


def check_required_index(name: str, value: object) -> int:
    """A non-optional `check_index`."""
    if value.__class__ is int and 0 <= value <= INT32_MAX:
        return value
    checked = check_int(name, value, maximum=INT32_MAX)
    if checked is None:  # not reached: the check refuses None unless optional
        raise InvalidArgumentTypeError(f"{name} must not be None")
    return checked


def clamp_cursor(name: str, value: object) -> int | None:
    """A strict ``>`` cursor over an INTEGER column (any 64-bit int, or None), clamped
    into the column's range: a cursor past the range selects nothing, one below it
    everything, on both dialects (PostgreSQL would refuse to bind it)."""
    cursor = check_int(name, value, optional=True, minimum=None)
    if cursor is None:
        return None
    return INT32_MIN if cursor < INT32_MIN else INT32_MAX if cursor > INT32_MAX else cursor


def check_index_filter(name: str, value: object) -> tuple[int | None, bool]:
    """An equality filter on an INTEGER column (``iteration``): the checked value (>= 0,
    64-bit) and whether any stored row can match it (False past the column's range,
    where the reader answers nothing without asking the database)."""
    checked = check_int(name, value, optional=True)
    return checked, checked is None or checked <= INT32_MAX


def check_required_int(name: str, value: object, *, minimum: int | None = 0) -> int:
    """A non-optional int (see `check_int`)."""
    checked = check_int(name, value, minimum=minimum)
    if checked is None:  # not reached: the check refuses None unless optional
        raise InvalidArgumentTypeError(f"{name} must not be None")
    return checked


def check_cost(name: str, value: object) -> float | None:
    """A finite, non-negative cost in USD, or None for unknown."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentTypeError(f"{name} must be a float, got {type(value).__name__}")
    try:
        cost = float(value)
    except OverflowError:  # an int beyond the float range
        cost = math.inf
    if not math.isfinite(cost) or cost < 0:
        shown = int_text(value) if isinstance(value, int) else repr(value)
        raise InvalidArgumentError(f"{name} must be a finite number >= 0, got {shown}")
    return cost


MAX_SECONDS = 86_400.0


def check_seconds(name: str, value: object) -> float:
    """A wait in seconds: a finite number above 0 and at most a day (an infinite or
    astronomically long poll would never poll, and asyncio cannot schedule it)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentTypeError(
            f"{name} must be a number of seconds, got {type(value).__name__}"
        )
    try:
        seconds = float(value)
    except OverflowError:  # an int beyond the float range
        seconds = math.inf if value > 0 else -math.inf
    if not 0 < seconds <= MAX_SECONDS:  # NaN fails this too
        shown = int_text(value) if isinstance(value, int) else repr(value)
        raise InvalidArgumentError(
            f"{name} must be a number of seconds above 0 and at most {MAX_SECONDS:.0f}, got {shown}"
        )
    return seconds


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
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-14:00 is past datetime.max in UTC
        raise InvalidArgumentError(
            f"{name} {value.isoformat()} is outside the range of datetime in UTC "
            "(0001-01-01 to 9999-12-31)"
        ) from None


def shift_back(name: str, when: datetime, value: object) -> datetime:
    """``when - value`` for a positive timedelta ``value`` named ``name``; refused when it
    would fall before year 1 (``timedelta.max`` and the like)."""
    duration = check_duration(name, value)
    try:
        return when - duration
    except OverflowError:
        raise InvalidArgumentError(
            f"{name} {duration} reaches back before year 1; pass a shorter duration"
        ) from None


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


def check_event_types(name: str, value: object) -> list[str] | None:
    """An optional list of event types; ``[]`` matches nothing."""
    if value is None:
        return None
    items = check_list(name, value)
    return [check_event_type(f"{name}[{i}]", item) for i, item in enumerate(items)]


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
    if skip is None:  # not reached: the check refuses None unless optional
        raise InvalidArgumentTypeError("offset must be an int, got None")
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
            if -INT64_MAX <= item <= INT64_MAX:
                continue
        elif kind is float and -FLOAT_FILTER_LIMIT < item < FLOAT_FILTER_LIMIT:
            continue
        if item is not None and not isinstance(item, str | int | float | bool):
            raise InvalidArgumentTypeError(
                f"{name}[{key!r}] must be str, int, float, bool or None, got {type(item).__name__}"
            )
        if isinstance(item, float) and not math.isfinite(item):
            raise InvalidArgumentError(f"{name}[{key!r}] must be finite, got {item!r}")
        if isinstance(item, float) and not -FLOAT_FILTER_LIMIT < item < FLOAT_FILTER_LIMIT:
            raise InvalidArgumentError(
                f"{name}[{key!r}] = {item!r}: a float filter value must be below 2**63 in "
                "magnitude (larger ones do not compare the same way on SQLite and PostgreSQL); "
                "filter on an int or a string instead"
            )
        # -(2**63) too: a stored integer beyond 64 bits reads on SQLite as the REAL
        # -2.0**63, which equals it; PostgreSQL keeps the integer exact.
        if (
            isinstance(item, int)
            and not isinstance(item, bool)
            and not -INT64_MAX <= item <= INT64_MAX
        ):
            raise InvalidArgumentError(
                f"{name}[{key!r}] must be an int between -(2**63 - 1) and 2**63 - 1, "
                f"got {int_text(item)}"
            )
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
        # allow_nan=False, circular references and ints over 4,300 digits land here.
        raise InvalidArgumentError(f"{name} cannot be stored as JSON: {exc}") from None
    except RecursionError:  # nested far deeper than MAX_JSON_DEPTH
        raise InvalidArgumentError(_too_deep(name)) from None
    # Counting brackets is cheap; only a payload with more of them than the limit
    # (a deep one, or a big one) is walked.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and json_too_deep(value):
        raise InvalidArgumentError(_too_deep(name))
    # The substring tests are cheap and almost always false; the regexes are not.
    if "\\u0000" in text and re.search(_ESCAPED_NUL, text):
        raise InvalidArgumentError(f"{name} contains a NUL character, which is not storable")
    if "e+" in text and re.search(_BIG_FLOAT, text):
        text = _dump_exact(json.loads(text))  # keys are now strings, floats unchanged
    _check_encodable(name, text)
    return text


def _too_deep(name: str) -> str:
    return (
        f"{name} is nested deeper than {MAX_JSON_DEPTH} levels of arrays/objects, "
        "which is not storable; flatten it or store it as text"
    )


def json_too_deep(value: object) -> bool:
    """Whether a JSON-encodable value nests arrays/objects deeper than `MAX_JSON_DEPTH`
    (walked without recursion, so any depth is safe to ask about)."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[object] = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth == MAX_JSON_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


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
    One frame per level of nesting (plain loops), so `MAX_JSON_DEPTH` levels fit.
    """
    if isinstance(value, float) and value.is_integer():
        return f"{int(value)}.0"
    parts: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            parts.append(f"{_dump_exact(key)}:{_dump_exact(item)}")
        return "{" + ",".join(parts) + "}"
    if isinstance(value, list):
        for item in value:
            parts.append(_dump_exact(item))
        return "[" + ",".join(parts) + "]"
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
