"""Option values typed on the command line.

Filter text (metadata values, statuses, instants, integers) is read by
`dendrux.read.text`, exactly as the HTTP router reads its query parameters, so
the same text selects the same runs on both surfaces. Only relative times
(``30m``, ``7d``) are the command line's own convenience.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from dendrux.errors import InvalidArgumentError
from dendrux.read.text import (
    parse_instant_text,
    parse_int_text,
    parse_meta_text,
    parse_statuses_text,
    shown,
)
from dendrux.status import TERMINAL_STATUS_VALUES
from dendrux.validation import INT64_MAX, check_metadata_filter

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DATE_LIKE = re.compile(r"\s*[0-9]{4}")  # text meant as a date, not as a duration
MAX_POLL_SECONDS = 3600.0


def parse_duration(text: str) -> timedelta:
    """``30m``, ``2h``, ``7d``, ``1h30m``, ``500ms`` (ms s m h d w) as a positive timedelta."""
    compact = text.strip().lower()
    if not _DURATION.fullmatch(compact):
        raise ValueError(
            f"{shown(text)} is not a duration (use e.g. 30s, 30m, 2h, 7d, 1h30m, 500ms)"
        )
    seconds = sum(
        float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(compact)
    )
    if not seconds > 0 or not math.isfinite(seconds):
        raise ValueError(f"duration {shown(text)} must be positive")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"duration {shown(text)} is too long") from None


def parse_age(text: str) -> timedelta:
    """A duration that can still be subtracted from now (`sweep` measures idleness as
    ``now - age``, which must not fall before year 1)."""
    age = parse_duration(text)
    try:
        datetime.now(UTC) - age
    except OverflowError:
        raise ValueError(f"duration {shown(text)} reaches before year 1") from None
    return age


def parse_instant(text: str, *, now: datetime | None = None) -> datetime:
    """A duration meaning that long before now (``7d`` = seven days ago), or an absolute
    time read as HTTP reads it: ISO-8601 with ``Z`` or an offset, or a bare date
    (midnight UTC). A datetime without a zone is refused, not guessed."""
    value = text.strip()
    if _DURATION.fullmatch(value.lower()):
        try:
            return (now or datetime.now(UTC)) - parse_duration(value)
        except OverflowError:
            raise ValueError(f"duration {shown(text)} reaches before year 1") from None
    try:
        return parse_instant_text(shown(text), text)
    except InvalidArgumentError:
        if _DATE_LIKE.match(text):
            raise
        raise InvalidArgumentError(
            f"{shown(text)} is neither a duration (30m, 2h, 7d) nor an ISO-8601 date or "
            "datetime (2026-01-01, 2026-01-01T12:00:00Z)"
        ) from None


def parse_meta(text: str) -> tuple[str, Any]:
    """``key=value`` for ``--meta``: the key checked by the store's metadata-key rule,
    the value read as HTTP reads ``?meta.<key>=`` (a JSON scalar, else the text)."""
    key, sep, raw = text.partition("=")
    if not sep:
        raise ValueError(f"{shown(text)} is not key=value (e.g. --meta thread_id=t_1)")
    check_metadata_filter("meta", {key: None})  # the key alone: a clear message first
    value = parse_meta_text(f"meta.{key}", raw)
    check_metadata_filter("meta", {key: value})
    return key, value


def parse_statuses(texts: list[str], *, terminal_only: bool = False) -> list[str]:
    """Statuses from repeated and/or comma-separated ``--status`` values."""
    statuses = parse_statuses_text("status", texts) or []
    if terminal_only:
        for status in statuses:
            if status not in TERMINAL_STATUS_VALUES:
                raise InvalidArgumentError(
                    f"{shown(status)} is not a finished status; expected one of "
                    f"{', '.join(sorted(TERMINAL_STATUS_VALUES))}"
                )
    return statuses


def arg_type(fn: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """``fn`` as an argparse ``type``: a ValueError becomes a usage error naming the option
    (argparse shows ``name`` when the message is not its own)."""

    def convert(text: str) -> Any:
        try:
            return fn(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name
    return convert


def whole(minimum: int, maximum: int = INT64_MAX) -> Callable[[str], Any]:
    """A whole number within ``minimum..maximum`` (the store's 64-bit range by default)."""
    return arg_type(
        lambda text: parse_int_text("the value", text, minimum=minimum, maximum=maximum), "int"
    )


def positive_seconds(text: str) -> float:
    """A wait in seconds: more than 0, at most an hour (finite)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{shown(text)} is not a number of seconds") from None
    if not (0 < value <= MAX_POLL_SECONDS):
        raise ValueError(f"{shown(text)} must be more than 0 and at most {MAX_POLL_SECONDS:g}")
    return value


class MetaAction(argparse.Action):
    """Collects repeated ``--meta key=value`` into a list of pairs; a repeated key is an error."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        pairs: list[tuple[str, Any]] = list(getattr(namespace, self.dest, None) or [])
        key, value = values
        if any(k == key for k, _ in pairs):
            raise argparse.ArgumentError(self, f"key {key!r} given twice")
        pairs.append((key, value))
        setattr(namespace, self.dest, pairs)


class StatusAction(argparse.Action):
    """Repeatable, comma-separable ``--status``."""

    def __init__(self, *args: Any, terminal_only: bool = False, **kwargs: Any) -> None:
        self.terminal_only = terminal_only
        super().__init__(*args, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        current: list[str] = list(getattr(namespace, self.dest, None) or [])
        try:
            new = parse_statuses([str(values)], terminal_only=self.terminal_only)
        except ValueError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None
        setattr(namespace, self.dest, current + [s for s in new if s not in current])
