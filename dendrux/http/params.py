"""Query parameters: decoded once, read by name, each failure an `InvalidArgumentError`
naming the parameter (the application answers it with a 400).

Filter values are read by `dendrux.read.text`, the reading the CLI shares, so the
same text selects the same runs on both surfaces. Integers keep the router's
stricter grammar (``-?[0-9]+``: no ``+``, no spaces) and its ranges: a value
below a parameter's minimum is a 400, one above its maximum is clamped.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import unquote_to_bytes

from dendrux.errors import InvalidArgumentError
from dendrux.read.text import (
    parse_instant_text,
    parse_int_text,
    parse_meta_key_text,
    parse_meta_text,
    parse_statuses_text,
)

MAX_QUERY_FIELDS = 200
_INT = re.compile(r"-?[0-9]+")
_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
META_PREFIX = "meta."


def _show(text: str) -> str:
    """A client's value for a message: quoted, cut short."""
    return repr(text) if len(text) <= 40 else repr(text[:40]) + "..."


def _name(name: str) -> str:
    """A client's parameter name for a message."""
    return name if len(name) <= 60 and name.isprintable() else _show(name)


def _unquote(raw: bytes, what: str) -> str:
    """Form-style percent-decoding (``+`` is a space) of UTF-8, or a 400 naming ``what``."""
    if _PERCENT.search(raw):
        raise InvalidArgumentError(f"the query string has a malformed %-escape in {what}")
    try:
        return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgumentError(f"the query string is not valid UTF-8 in {what}") from None


def bounded_int(text: str, *, minimum: int, maximum: int) -> int | None:
    """An integer in the router's grammar (``-?[0-9]+``) within ``minimum..maximum``,
    read by the shared `parse_int_text`; None for anything else (never raises)."""
    if not _INT.fullmatch(text):
        return None
    try:
        return parse_int_text("value", text, minimum=minimum, maximum=maximum)
    except InvalidArgumentError:
        return None


def _integer(name: str, text: str) -> int:
    """A 64-bit decimal integer in the router's grammar."""
    if not _INT.fullmatch(text):
        raise InvalidArgumentError(f"{name} must be an integer, got {_show(text)}")
    try:
        return parse_int_text(name, text)
    except InvalidArgumentError:
        raise InvalidArgumentError(f"{name} is outside the 64-bit integer range") from None


class Query:
    """The query string, read parameter by parameter; unknown names are a 400."""

    def __init__(self, raw: bytes) -> None:
        self._values: dict[str, list[str]] = {}
        parts = [part for part in raw.split(b"&") if part]
        if len(parts) > MAX_QUERY_FIELDS:
            raise InvalidArgumentError(f"too many query parameters (at most {MAX_QUERY_FIELDS})")
        for part in parts:
            raw_name, _, raw_value = part.partition(b"=")
            name = _unquote(raw_name, "a parameter name")
            value = _unquote(raw_value, f"parameter {_name(name)}")
            self._values.setdefault(name, []).append(value)
        self._read: set[str] = set()

    def text(self, name: str) -> str | None:
        """A single-valued parameter; empty counts as absent."""
        self._read.add(name)
        values = self._values.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise InvalidArgumentError(f"{name} must be given at most once")
        return values[0] or None

    def integer(self, name: str, *, default: int, minimum: int, maximum: int | None = None) -> int:
        """An integer of at least ``minimum``; above ``maximum`` it is clamped."""
        value = self.optional_integer(name, minimum=minimum)
        if value is None:
            return default
        return value if maximum is None or value <= maximum else maximum

    def optional_integer(self, name: str, *, minimum: int | None = None) -> int | None:
        text = self.text(name)
        if text is None:
            return None
        value = _integer(name, text)
        if minimum is not None and value < minimum:
            raise InvalidArgumentError(f"{name} must be >= {minimum}, got {value}")
        return value

    def statuses(self) -> list[str] | None:
        """``status``: repeatable and/or comma-separated."""
        self._read.add("status")
        values = self._values.get("status")
        return parse_statuses_text("status", values) if values else None

    def instant(self, name: str) -> datetime | None:
        """An aware datetime, or a bare date meaning midnight UTC."""
        text = self.text(name)
        return None if text is None else parse_instant_text(name, text)

    def meta(self) -> dict[str, Any] | None:
        """``meta.<key>=<value>`` filters: a JSON scalar, else the text itself."""
        found: dict[str, Any] = {}
        for name, values in self._values.items():
            if not name.startswith(META_PREFIX):
                continue
            self._read.add(name)
            key = name[len(META_PREFIX) :]
            parse_meta_key_text(_name(name), key)
            if len(values) > 1:
                raise InvalidArgumentError(f"{name} must be given at most once")
            found[key] = parse_meta_text(name, values[0])
        return found or None

    def finish(self) -> None:
        """Reject parameters no reader asked for (a typo would otherwise select everything)."""
        for name in self._values:
            if name not in self._read:
                raise InvalidArgumentError(f"unknown query parameter {_show(name)}")
