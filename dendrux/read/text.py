"""Filter values typed as text (HTTP query strings, command-line options), read one way.

The HTTP router and the CLI both take run filters as text; they read them
here so that the same text selects the same runs on both surfaces. Every
failure is an `InvalidArgumentError` naming the parameter, raised before any
SQL; no value is echoed whole (a 5,000-digit number is not printed back).
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

from dendrux.errors import InvalidArgumentError
from dendrux.status import STATUS_VALUES
from dendrux.validation import INT64_MAX
from dendrux.validation import _is_meta_key as is_meta_key

MAX_DIGITS = 30
"""Digits of an integer parameter read at all; more is refused before `int()`."""
MAX_DATETIME_LENGTH = 64
SHOWN = 40
"""Characters of a refused value quoted back in a message."""

_INT = r"[+-]?[0-9]+"
_JSON_NUMBER = r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?"
# A '+' in a query string decodes to a space: "...T12:00:00 00:00" meant "+00:00".
_SPACE_OFFSET = r"(.*[0-9]) ([0-9]{2}(?::?[0-9]{2})?)"
_DATE_ONLY = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"


def shown(text: str) -> str:
    """``text`` quoted for a message, cut short."""
    return repr(text) if len(text) <= SHOWN else f"{text[:SHOWN]!r}... ({len(text):,} characters)"


def parse_int_text(
    name: str, text: str, *, minimum: int = -INT64_MAX - 1, maximum: int = INT64_MAX
) -> int:
    """A decimal integer within ``minimum..maximum``, its length checked before `int()`."""
    stripped = text.strip()
    if not re.fullmatch(_INT, stripped):
        raise InvalidArgumentError(f"{name} must be an integer, got {shown(text)}")
    digits = stripped.lstrip("+-").lstrip("0")
    if len(digits) > MAX_DIGITS:
        raise InvalidArgumentError(f"{name} must be between {minimum} and {maximum}")
    value = int(stripped)
    if not minimum <= value <= maximum:
        raise InvalidArgumentError(f"{name} must be between {minimum} and {maximum}")
    return value


def parse_meta_text(name: str, text: str) -> Any:
    """A ``meta`` filter value: JSON when the text is a JSON scalar (``true``,
    ``false``, ``null``, a number, a ``"double-quoted string"``), else the text
    itself. So ``5`` is the number and ``"5"`` the string; ``x`` and ``"x"`` are
    both the string ``x``."""
    if text in ("true", "false", "null"):
        return json.loads(text)
    number = re.fullmatch(_JSON_NUMBER, text)
    if number is not None:
        if number[1] is None and number[2] is None:
            return parse_int_text(name, text)
        if len(text) > MAX_DIGITS * 2:
            raise InvalidArgumentError(f"{name}: the number {shown(text)} has too many digits")
        real = float(text)
        return real if math.isfinite(real) else text
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        try:
            value = json.loads(text)
        except ValueError:
            return text
        if isinstance(value, str):
            return value
    return text


def parse_meta_key_text(name: str, key: str) -> str:
    """A ``meta`` filter key, by the one rule every API applies (``^[A-Za-z0-9_-]+$``,
    top-level keys only; `dendrux.validation.check_metadata_filter` uses the same)."""
    if not is_meta_key(key):
        raise InvalidArgumentError(
            f"{name}: the key {shown(key)} must match ^[A-Za-z0-9_-]+$ "
            "(top-level meta keys only; nested paths such as a.b are not supported)"
        )
    return key


def parse_meta_filter_text(name: str, items: list[tuple[str, str]]) -> dict[str, Any] | None:
    """A ``metadata_filter`` from ``(key, value text)`` pairs, as HTTP (``meta.KEY=VALUE``)
    and the CLI (``--meta KEY=VALUE``) take them: each key checked by
    `parse_meta_key_text`, each value read by `parse_meta_text`; a key given twice is
    refused. None when there is no pair."""
    found: dict[str, Any] = {}
    for key, text in items:
        parse_meta_key_text(name, key)
        if key in found:
            raise InvalidArgumentError(f"{name}: the key {shown(key)} is given more than once")
        found[key] = parse_meta_text(f"{name} {key}", text)
    return found or None


def parse_instant_text(name: str, text: str) -> datetime:
    """An ISO-8601 datetime with ``Z`` or an offset, or a date alone (midnight UTC),
    as an aware UTC datetime. A datetime without an offset is refused, as every
    API refuses naive datetimes."""
    if len(text) > MAX_DATETIME_LENGTH:
        raise InvalidArgumentError(
            f"{name} must be an ISO-8601 datetime such as 2025-01-31T12:00:00Z"
        )
    candidate = text.strip()
    try:
        value = datetime.fromisoformat(candidate)
    except ValueError:
        match = re.fullmatch(_SPACE_OFFSET, candidate)
        try:
            if match is None:
                raise
            value = datetime.fromisoformat(f"{match[1]}+{match[2]}")
        except ValueError:
            raise InvalidArgumentError(
                f"{name} must be an ISO-8601 datetime such as 2025-01-31T12:00:00Z "
                f"or a date such as 2025-01-31, got {shown(text)}"
            ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        if not re.fullmatch(_DATE_ONLY, candidate):
            raise InvalidArgumentError(
                f"{name} must say its time zone: end it in Z or an offset such as +00:00"
            )
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is past the last UTC datetime
        raise InvalidArgumentError(
            f"{name} is outside the range of datetimes once converted to UTC"
        ) from None


def parse_statuses_text(name: str, texts: list[str]) -> list[str] | None:
    """Comma-separated run statuses (repeatable); None when none is named."""
    statuses = [item.strip() for text in texts for item in text.split(",")]
    statuses = [item for item in statuses if item]
    if not statuses:
        return None
    for item in statuses:
        if item not in STATUS_VALUES:
            raise InvalidArgumentError(
                f"{name} {shown(item)} is not a run status; expected one of "
                f"{', '.join(sorted(STATUS_VALUES))}"
            )
    return list(dict.fromkeys(statuses))
