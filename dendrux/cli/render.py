"""Output shared by the commands: JSON for scripts, and the short human forms of
times, durations, tokens and costs used in tables and timelines."""

from __future__ import annotations

import os
import re
import shutil
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dendrux.read import jsonable
from dendrux.read.jsonable import record
from dendrux.status import TERMINAL_STATUS_VALUES

if TYPE_CHECKING:
    from dendrux.store import RunSummary, RunUsage

__all__ = ["dumps", "iso", "record"]  # re-exported for the commands

DETAIL_WIDTH = 120
MIN_WIDTH = 40
"""The narrowest terminal the tables and timelines fit themselves to."""
ELLIPSIS = "\u2026"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


# -- JSON ------------------------------------------------------------------------------
# One JSON/ISO-8601 output for every surface: `dendrux.read.jsonable` (the router's too).


def dumps(value: object, *, indent: int | None = None) -> str:
    """JSON text for a terminal: one spaced line, or indented for ``--json``."""
    return jsonable.dumps(value, indent=indent, spaced=True)


def iso(value: datetime | None) -> str | None:
    """ISO-8601 in UTC, or None."""
    return None if value is None else jsonable.iso(value)


def emit(text: str = "", *, flush: bool = False) -> None:
    """One line on stdout; flushed at once when following a live run."""
    sys.stdout.write(text + "\n")
    if flush:
        sys.stdout.flush()


# -- human forms -----------------------------------------------------------------------


def clock(value: datetime | None) -> str:
    """``2026-01-31 12:00:00 UTC``."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(seconds: float) -> str:
    """``0.9ms``, ``120ms``, ``12.3s``, ``2m05s``, ``3h07m``, ``4d02h``."""
    seconds = max(seconds, 0.0)
    if seconds < 0.01:
        return f"{seconds * 1000:.1f}ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def format_ago(value: datetime | None, now: datetime) -> str:
    """``just now``, ``42s ago``, ``3m ago``, ``2h ago``, ``5d ago``; a date after 60 days."""
    if value is None:
        return "-"
    seconds = (now - value).total_seconds()
    if seconds < 0:
        return "in " + format_duration(-seconds)  # clock skew between hosts
    if seconds < 1:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            if unit == "d" and seconds >= 60 * 86400:
                return value.astimezone(UTC).strftime("%Y-%m-%d")
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def format_cost(cost: float | None) -> str:
    """``$0.00159``, ``$0.25``, ``$12.40``; ``-`` when unknown."""
    if cost is None:
        return "-"
    if cost >= 1 or cost == 0:
        return f"${cost:,.2f}"
    text = f"{cost:.5f}".rstrip("0")
    if len(text.partition(".")[2]) < 2:
        text = f"{cost:.2f}"
    return f"${text}"


def tokens(input_tokens: int, output_tokens: int) -> str:
    """``1,262 in / 82 out``."""
    return f"{input_tokens:,} in / {output_tokens:,} out"


def run_seconds(run: RunSummary, now: datetime) -> float | None:
    """Wall time of a finished run (created -> last update), or so far for a live one."""
    if run.created_at is None:
        return None
    end = run.updated_at if run.status in TERMINAL_STATUS_VALUES else now
    if end is None:
        return None
    return (end - run.created_at).total_seconds()


def offset_ms(start: datetime | None, at: datetime | None) -> float | None:
    """Milliseconds from ``start`` to ``at`` (None when either is unknown)."""
    if start is None or at is None:
        return None
    return (at - start).total_seconds() * 1000


def since_start(start: datetime | None, at: datetime | None) -> str:
    """``+1.2s`` from the run's start; ``-`` when unknown."""
    offset = offset_ms(start, at)
    return "+" + format_duration(offset / 1000) if offset is not None else "-"


def truncate(text: str, full: bool, width: int = DETAIL_WIDTH) -> str:
    """One line of at most ``width`` characters, unless ``full``."""
    text = " ".join(text.split()) if "\n" in text else text
    if full or len(text) <= width:
        return text
    return text[: width - 1] + ELLIPSIS


# -- the terminal's width ----------------------------------------------------------------


UNLIMITED_WIDTH = 1 << 30
"""What a pipe or a file gets: whole lines, as ``ls`` and git give them (``grep`` must
find the end of a tool's parameters)."""


def terminal_width() -> int:
    """Columns to fit lines into: ``COLUMNS`` when set, else the terminal's; unlimited
    when stdout is not a terminal."""
    if "COLUMNS" not in os.environ and not sys.stdout.isatty():
        return UNLIMITED_WIDTH
    return max(shutil.get_terminal_size((80, 24)).columns, MIN_WIDTH)


def _cells(char: str) -> int:
    """Columns one character takes: two for wide East Asian ones, none for combining."""
    if char < "\u0300":
        return 1
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def visible_width(text: str) -> int:
    """Columns ``text`` takes on a terminal, colour codes left out."""
    plain = _ANSI.sub("", text) if "\x1b" in text else text
    if plain.isascii():
        return len(plain)
    return sum(_cells(c) for c in plain)


def fit(line: str, width: int, ellipsis: str = ELLIPSIS) -> str:
    """``line`` cut to ``width`` columns with an ellipsis; colour codes kept whole (and
    closed after a cut)."""
    if "\x1b" not in line and line.isascii():
        return line if len(line) <= width else line[: width - len(ellipsis)] + ellipsis
    if visible_width(line) <= width:
        return line
    room = width - len(ellipsis)
    out: list[str] = []
    used = 0
    painted = False
    pos = 0
    for match in [*_ANSI.finditer(line), None]:
        end = match.start() if match else len(line)
        for char in line[pos:end]:
            cells = _cells(char)
            if used + cells > room:
                tail = ellipsis + ("\x1b[0m" if painted else "")
                return "".join(out) + tail
            out.append(char)
            used += cells
        if match is None:
            break
        out.append(match.group())
        painted = True
        pos = match.end()
    return "".join(out)


def scalar(value: object) -> str:
    """A value for ``key=value``: plain words as they are, anything else as JSON."""
    if isinstance(value, str) and value and not any(c.isspace() for c in value):
        return value
    return dumps(value)


def pairs(data: dict[str, Any] | None, skip: Iterable[str] = ()) -> str:
    """``key=value`` pairs of an event's data."""
    if not data:
        return ""
    skipped = set(skip)
    return "  ".join(f"{k}={scalar(v)}" for k, v in data.items() if k not in skipped)


def table(
    headers: Sequence[str], rows: Sequence[Sequence[tuple[str, str]]], right: set[int]
) -> str:
    """Aligned columns; each cell is (plain text, painted text) so colour does not skew widths."""
    widths = [visible_width(h) for h in headers]
    for row in rows:
        for i, (plain, _) in enumerate(row):
            widths[i] = max(widths[i], visible_width(plain))

    def line(cells: Sequence[tuple[str, str]]) -> str:
        parts = []
        for i, (plain, painted) in enumerate(cells):
            pad = " " * (widths[i] - visible_width(plain))
            parts.append(pad + painted if i in right else painted + pad)
        return "  ".join(parts).rstrip()

    return "\n".join([line([(h, h) for h in headers]), *(line(r) for r in rows)])


def live_usage(usage: RunUsage) -> str:
    """``1,262 in / 82 out, cache read 10, reasoning 5; $0.01`` or, when some call had no
    price, ``...; cost unknown (2 unpriced calls)``: a partial sum is not the spend."""
    text = tokens(usage.input_tokens, usage.output_tokens)
    extra = [
        f"cache read {usage.cache_read_tokens:,}" if usage.cache_read_tokens else "",
        f"cache write {usage.cache_write_tokens:,}" if usage.cache_write_tokens else "",
        f"reasoning {usage.reasoning_tokens:,}" if usage.reasoning_tokens else "",
    ]
    text += "".join(f", {x}" for x in extra if x)
    calls = f"{usage.llm_calls} LLM call{'s' if usage.llm_calls != 1 else ''}"
    if usage.cost_usd is not None:
        return f"{text}; {format_cost(usage.cost_usd)} ({calls})"
    unpriced = usage.unpriced_calls
    return (
        f"{text}; cost unknown ({unpriced} unpriced call{'s' if unpriced != 1 else ''} "
        f"of {usage.llm_calls}, {format_cost(usage.known_cost_usd)} known)"
    )
