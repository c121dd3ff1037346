"""The ``dendrux`` command line (standard library argparse only).

Commands: ``db upgrade``, ``db status``, ``runs``, ``show RUN_ID``,
``events RUN_ID [--follow]``, ``sweep --older-than``, ``purge --before`` and
``demo``. Every command takes ``--database-url`` (default:
``DENDRUX_DATABASE_URL`` or ``~/.dendrux/dendrux.db``), before or after the
command name; the reading and retention commands print JSON with ``--json``.

Errors are one readable line on stderr with any password masked, never a
traceback; exit code 1 for failures, 2 for usage errors (a value the store
refuses counts as one), 130 after Ctrl-C. Only ``demo`` and ``db upgrade``
create a SQLite file. Colour only when stdout is a terminal and ``NO_COLOR``
is unset (or with ``--color always``).

``DENDRUX_DEBUG=1`` adds the traceback after the one-line error.

This module only formats what `RunStore` and `StateStore` return; it never
writes SQL of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import dataclasses
import json
import logging
import math
import os
import re
import sys
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, TextIO

from dendrux import __version__
from dendrux.db.urls import default_database_url, mask_url, parse_database_url
from dendrux.errors import InvalidArgumentError, InvalidArgumentTypeError, RunNotFoundError
from dendrux.status import TERMINAL_STATUS_VALUES, RunStatus
from dendrux.validation import INT64_MAX

if TYPE_CHECKING:
    from dendrux.state import StateStore
    from dendrux.store import (
        LLMCall,
        PausePair,
        RunDetail,
        RunStore,
        RunSummary,
        StoredEvent,
        ToolInvocation,
        TraceEntry,
    )
    from dendrux.types import ParentRef, RunBrief, SubtreeSummary

_STATUSES = [s.value for s in RunStatus]
_META_KEY = re.compile(r"[A-Za-z0-9_-]+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MAX_CHILD_DEPTH = 16
_DETAIL_WIDTH = 120
_EVENT_PAGE = 500
_SHOWN = 40  # characters of a bad value echoed back in a message
_MESSAGE = 400  # characters of an error line before its middle is elided
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_JSON_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_MAX_POLL_SECONDS = 3600.0


# -- parsing command-line values ---------------------------------------------------


def parse_duration(text: str) -> timedelta:
    """``30m``, ``2h``, ``7d``, ``1h30m``, ``500ms`` (ms s m h d w) as a positive timedelta."""
    compact = text.strip().lower()
    if not _DURATION.fullmatch(compact):
        raise ValueError(
            f"{_shown(text)} is not a duration (use e.g. 30s, 30m, 2h, 7d, 1h30m, 500ms)"
        )
    seconds = sum(
        float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(compact)
    )
    if not seconds > 0 or not math.isfinite(seconds):
        raise ValueError(f"duration {_shown(text)} must be positive")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"duration {_shown(text)} is too long") from None


def parse_age(text: str) -> timedelta:
    """A duration that can still be subtracted from now (`sweep` measures idleness as
    ``now - age``, which must not fall before year 1)."""
    age = parse_duration(text)
    try:
        datetime.now(UTC) - age
    except OverflowError:
        raise ValueError(f"duration {_shown(text)} reaches before year 1") from None
    return age


def parse_instant(text: str, *, now: datetime | None = None) -> datetime:
    """An aware UTC datetime from an ISO date/datetime (naive means UTC) or a duration
    meaning that long before now (``7d`` = seven days ago)."""
    value = text.strip()
    if _DURATION.fullmatch(value.lower()):
        try:
            return (now or datetime.now(UTC)) - parse_duration(value)
        except OverflowError:
            raise ValueError(f"duration {_shown(text)} reaches before year 1") from None
    try:
        parsed = datetime.fromisoformat(value)  # a date alone is midnight
    except ValueError:
        raise ValueError(
            f"{_shown(text)} is neither a duration (30m, 2h, 7d) nor an ISO date/datetime "
            "(2026-01-01, 2026-01-01T12:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-14:00 is in year 10000 in UTC
        raise ValueError(
            f"{_shown(text)} is outside the UTC range 0001-01-01 .. 9999-12-31"
        ) from None


def parse_meta_value(text: str) -> Any:
    """A JSON scalar (true, false, null, numbers, "quoted string") or else the text itself."""
    try:
        value = json.loads(text, parse_constant=lambda name: text)  # NaN/Infinity stay text
    except ValueError:
        if _JSON_NUMBER.fullmatch(text):  # a number too long for Python to read
            raise ValueError(f"the number {_shown(text)} has too many digits") from None
        return text
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return text  # objects, arrays, overflowing floats: compare as the literal text


def parse_meta(text: str) -> tuple[str, Any]:
    """``key=value`` for ``--meta``; the key must be a plain top-level ``meta`` key."""
    key, sep, raw = text.partition("=")
    if not sep:
        raise ValueError(f"{_shown(text)} is not key=value (e.g. --meta thread_id=t_1)")
    if not _META_KEY.fullmatch(key):
        raise ValueError(
            f"key {_shown(key)} must match [A-Za-z0-9_-]+ "
            "(top-level meta keys only; nested paths such as a.b are not supported)"
        )
    return key, parse_meta_value(raw)


def parse_statuses(texts: Iterable[str], *, terminal_only: bool = False) -> list[str]:
    """Statuses from repeated and/or comma-separated ``--status`` values."""
    allowed = sorted(TERMINAL_STATUS_VALUES) if terminal_only else _STATUSES
    result: list[str] = []
    for text in texts:
        for item in text.split(","):
            status = item.strip().lower()
            if not status:
                continue
            if status not in allowed:
                raise ValueError(f"{_shown(item.strip())} is not one of: {', '.join(allowed)}")
            if status not in result:
                result.append(status)
    return result


def _arg_type(
    fn: Callable[[str], Any], name: str
) -> Callable[[str], Any]:  # argparse shows __name__ in its message
    def convert(text: str) -> Any:
        try:
            return fn(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name
    return convert


def _shown(text: str) -> str:
    """``text`` quoted for a message, shortened: a 5,000-digit value is not echoed whole."""
    if len(text) <= _SHOWN:
        return repr(text)
    return f"{text[:_SHOWN]!r}... ({len(text):,} characters)"


def _whole(minimum: int, maximum: int = INT64_MAX) -> Callable[[str], Any]:
    """A whole number within ``minimum..maximum`` (the store's 64-bit range by default),
    checked by its digits first: `int` refuses more than 4,300 digits with a message
    about Python internals."""

    def parse(text: str) -> int:
        if not _INTEGER.fullmatch(text):
            raise ValueError(f"{_shown(text)} is not a whole number")
        digits = text.strip().lstrip("+-").lstrip("0")
        value = int(text) if len(digits) <= len(str(INT64_MAX)) else None
        if value is None or not minimum <= value <= maximum:
            raise ValueError(f"{_shown(text)} is not between {minimum} and {maximum}")
        return value

    return _arg_type(parse, "int")


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{_shown(text)} is not a number of seconds") from None
    if not (0 < value <= _MAX_POLL_SECONDS):
        raise ValueError(f"{_shown(text)} must be more than 0 and at most {_MAX_POLL_SECONDS:g}")
    return value


# -- output helpers ------------------------------------------------------------------


class Style:
    """ANSI colour when enabled; plain text otherwise."""

    _CODES: ClassVar[dict[str, str]] = {
        "bold": "1",
        "dim": "2",
        "red": "31",
        "green": "32",
        "yellow": "33",
        "cyan": "36",
    }
    _STATUS: ClassVar[dict[str, str]] = {
        "success": "green",
        "error": "red",
        "cancelled": "yellow",
        "max_iterations": "yellow",
        "running": "cyan",
        "pending": "cyan",
    }

    def __init__(self, enabled: bool, *, unicode: bool = True) -> None:
        self.enabled = enabled
        self.branch = "└─ " if unicode else "`- "

    @classmethod
    def for_stream(cls, stream: TextIO, choice: str) -> Style:
        """``auto``: colour on a terminal unless ``NO_COLOR`` is set and non-empty."""
        if choice == "always":
            enabled = True
        elif choice == "never":
            enabled = False
        else:
            enabled = bool(stream.isatty()) and not os.environ.get("NO_COLOR")
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        return cls(enabled, unicode=encoding.startswith("utf"))

    def paint(self, text: str, *names: str) -> str:
        """``text`` wrapped in the named colours/attributes."""
        if not self.enabled or not names or not text:
            return text
        codes = ";".join(self._CODES[n] for n in names)
        return f"\x1b[{codes}m{text}\x1b[0m"

    def status(self, status: str, text: str | None = None) -> str:
        """A run status in its colour (waiting statuses yellow)."""
        colour = self._STATUS.get(status, "yellow" if status.startswith("waiting") else "")
        return self.paint(text if text is not None else status, *([colour] if colour else []))


def _json_default(value: object) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _dumps(value: object, *, indent: int | None = None) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False, indent=indent)


def _record(value: object) -> dict[str, Any]:
    """A dataclass record as a dict (datetimes are turned into text by `_dumps`)."""
    assert dataclasses.is_dataclass(value) and not isinstance(value, type)
    return dataclasses.asdict(value)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _clock(value: datetime | None) -> str:
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


def _tokens(input_tokens: int, output_tokens: int) -> str:
    return f"{input_tokens:,} in / {output_tokens:,} out"


def _run_seconds(run: RunSummary, now: datetime) -> float | None:
    """Wall time of a finished run (created -> last update), or so far for a live one."""
    if run.created_at is None:
        return None
    end = run.updated_at if run.status in TERMINAL_STATUS_VALUES else now
    if end is None:
        return None
    return (end - run.created_at).total_seconds()


def _truncate(text: str, full: bool, width: int = _DETAIL_WIDTH) -> str:
    text = " ".join(text.split()) if "\n" in text else text
    if full or len(text) <= width:
        return text
    return text[: width - 3] + "..."


def _scalar(value: object) -> str:
    if isinstance(value, str) and value and not any(c.isspace() for c in value):
        return value
    return _dumps(value)


def _pairs(data: dict[str, Any] | None, skip: Iterable[str] = ()) -> str:
    """``key=value`` pairs of an event's data."""
    if not data:
        return ""
    skipped = set(skip)
    return "  ".join(f"{k}={_scalar(v)}" for k, v in data.items() if k not in skipped)


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[tuple[str, str]]], right: set[int]
) -> str:
    """Aligned columns; each cell is (plain text, painted text) so colour does not skew widths."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, (plain, _) in enumerate(row):
            widths[i] = max(widths[i], len(plain))

    def line(cells: Sequence[tuple[str, str]]) -> str:
        parts = []
        for i, (plain, painted) in enumerate(cells):
            pad = " " * (widths[i] - len(plain))
            parts.append(pad + painted if i in right else painted + pad)
        return "  ".join(parts).rstrip()

    return "\n".join([line([(h, h) for h in headers]), *(line(r) for r in rows)])


def _emit(text: str = "", *, flush: bool = False) -> None:
    sys.stdout.write(text + "\n")
    if flush:
        sys.stdout.flush()


def _store(url: str) -> RunStore:
    from dendrux.store import RunStore

    return RunStore.from_database_url(url)


# -- db / demo -----------------------------------------------------------------------


async def _db_upgrade(args: argparse.Namespace, url: str, style: Style) -> int:
    from dendrux.db import upgrade

    applied = await upgrade(url)
    if applied:
        print(f"{mask_url(url)}: applied migration(s) {', '.join(map(str, applied))}")
    else:
        print(f"{mask_url(url)}: already up to date")
    return 0


async def _db_status(args: argparse.Namespace, url: str, style: Style) -> int:
    from dendrux.db import schema_status

    status = await schema_status(url)
    if args.json:
        print(
            _dumps(
                {
                    "database_url": mask_url(url),
                    "dialect": status.dialect,
                    "current_version": status.current_version,
                    "newest_version": status.newest_version,
                    "up_to_date": status.up_to_date,
                }
            )
        )
    else:
        state = "up to date" if status.up_to_date else "needs `dendrux db upgrade`"
        print(
            f"{mask_url(url)} ({status.dialect}): schema version {status.current_version} "
            f"of {status.newest_version}, {state}"
        )
    return 0 if status.up_to_date else 1


async def _demo(args: argparse.Namespace, url: str, style: Style) -> int:
    from dendrux.demo import describe_run, record_sample_run
    from dendrux.state import StateStore

    async with StateStore.from_database_url(url) as store:
        run_id = await record_sample_run(store)
        print(f"recorded a sample run into {mask_url(url)}\n")
        print(await describe_run(store, run_id))
    return 0


# -- runs ------------------------------------------------------------------------------


def _run_filters(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "status": args.status or None,
        "agent_name": args.agent,
        "parent_run_id": args.parent,
        "tenant_id": args.tenant,
        "started_after": args.since,
        "started_before": args.until,
        "metadata_filter": dict(args.meta) if args.meta else None,
    }


async def _runs(args: argparse.Namespace, url: str, style: Style) -> int:
    filters = _run_filters(args)
    async with _store(url) as store:
        runs = await store.list_runs(**filters, limit=args.limit, offset=args.offset)
        if args.json:
            print(_dumps([_record(r) for r in runs], indent=2))
            return 0
        total = await store.count_runs(**filters)
    if not runs:
        print("no runs match" if total == 0 else f"no runs at offset {args.offset} ({total} match)")
        return 0
    now = datetime.now(UTC)
    rows = []
    for run in runs:
        agent = "  " * min(run.delegation_level, 4) + style.branch if run.parent_run_id else ""
        seconds = _run_seconds(run, now) if run.status in TERMINAL_STATUS_VALUES else None
        cells = [
            (run.run_id, style.paint(run.run_id, "dim")),
            (agent + run.agent_name, agent + run.agent_name),
            (run.status, style.status(run.status)),
            (format_ago(run.created_at, now),) * 2,
            ((format_duration(seconds) if seconds is not None else "-"),) * 2,
            (str(run.iteration_count),) * 2,
            (f"{run.total_input_tokens:,}/{run.total_output_tokens:,}",) * 2,
            (format_cost(run.total_cost_usd),) * 2,
        ]
        rows.append(cells)
    headers = ["RUN ID", "AGENT", "STATUS", "STARTED", "DURATION", "ITER", "TOKENS IN/OUT", "COST"]
    print(_table(headers, rows, right={4, 5, 6, 7}))
    shown = f"{len(runs)} run{'s' if len(runs) != 1 else ''}"
    if total > len(runs):
        shown = f"{shown} of {total} (page with --limit / --offset)"
    print(style.paint(shown, "dim"))
    return 0


# -- show ------------------------------------------------------------------------------


@dataclasses.dataclass
class _Child:
    """A delegated run with its own children, for ``show``."""

    run_id: str
    agent_name: str
    status: str
    delegation_level: int
    detail: RunDetail | None
    children: list[_Child]

    def as_json(self) -> dict[str, Any]:
        base: dict[str, Any] = (
            _record(self.detail)
            if self.detail is not None
            else {
                "run_id": self.run_id,
                "agent_name": self.agent_name,
                "status": self.status,
                "delegation_level": self.delegation_level,
            }
        )
        base["children"] = [c.as_json() for c in self.children]
        return base


async def _children(
    reader: RunStore, state: StateStore, briefs: list[RunBrief], seen: set[str], depth: int
) -> list[_Child]:
    """Each delegated run with its details and, recursively, its own children."""
    result = []
    for brief in briefs:
        if brief.run_id in seen:  # a cycle in parent links: show each run once
            continue
        seen.add(brief.run_id)
        info = await state.get_delegation_info(brief.run_id)
        below = info.children if info is not None and depth < _MAX_CHILD_DEPTH else []
        result.append(
            _Child(
                run_id=brief.run_id,
                agent_name=brief.agent_name,
                status=brief.status,
                delegation_level=brief.delegation_level,
                detail=await reader.get_run(brief.run_id),
                children=await _children(reader, state, below, seen, depth + 1),
            )
        )
    return result


@dataclasses.dataclass
class _Timeline:
    """Everything ``show`` prints, read once."""

    run: RunDetail
    events: list[StoredEvent]
    llm_calls: list[LLMCall]
    tools: list[ToolInvocation]
    pauses: list[PausePair]
    parent: ParentRef | None
    subtree: SubtreeSummary | None
    children: list[_Child]
    traces: list[TraceEntry]


async def _all_events(store: RunStore, run_id: str, after: int | None) -> list[StoredEvent]:
    events: list[StoredEvent] = []
    while True:
        page = await store.get_events(run_id, after_sequence_index=after, limit=_EVENT_PAGE)
        events.extend(page)
        if len(page) < _EVENT_PAGE:
            return events
        after = page[-1].sequence_index


async def _read_timeline(reader: RunStore, run_id: str) -> _Timeline:
    from dendrux.state import StateStore

    run = await reader.get_run(run_id)
    if run is None:
        raise RunNotFoundError(run_id)
    state = StateStore.from_engine(reader.engine)  # shares the engine; close() leaves it open
    info = await state.get_delegation_info(run_id)
    return _Timeline(
        run=run,
        events=await _all_events(reader, run_id, None),
        llm_calls=await reader.get_llm_calls(run_id),
        tools=await reader.get_tool_invocations(run_id),
        pauses=await reader.get_pauses(run_id),
        parent=info.parent if info else None,
        subtree=info.subtree_summary if info else None,
        children=await _children(reader, state, info.children if info else [], {run_id}, 1),
        traces=await reader.get_traces(run_id),
    )


def _offset_ms(start: datetime | None, at: datetime | None) -> float | None:
    if start is None or at is None:
        return None
    return (at - start).total_seconds() * 1000


def _wait_seconds(pause: PausePair, now: datetime) -> float | None:
    if pause.pause_at is None:
        return None
    end = pause.resume_at if pause.resume_sequence_index is not None else now
    return None if end is None else (end - pause.pause_at).total_seconds()


def _show_json(t: _Timeline, now: datetime) -> dict[str, Any]:
    llm_by_id = {c.id: c for c in t.llm_calls if c.id}
    tool_by_id = {c.tool_call_id: c for c in t.tools}
    pause_by_seq: dict[int, dict[str, Any]] = {}
    pauses = []
    for pause in t.pauses:
        seconds = _wait_seconds(pause, now)
        entry = {
            **_record(pause),
            "active": pause.resume_sequence_index is None,
            "wait_ms": None if seconds is None else round(seconds * 1000, 3),
        }
        pauses.append(entry)
        pause_by_seq[pause.pause_sequence_index] = entry
        if pause.resume_sequence_index is not None:
            pause_by_seq[pause.resume_sequence_index] = entry
    timeline = []
    for event in t.events:
        offset = _offset_ms(t.run.created_at, event.created_at)
        corr = event.correlation_id
        llm = llm_by_id.get(corr) if corr and event.event_type.startswith("llm.") else None
        tool = tool_by_id.get(corr) if corr else None
        timeline.append(
            {
                **_record(event),
                "offset_ms": None if offset is None else round(offset, 3),
                "llm_call": _record(llm) if llm else None,
                "tool_call": _record(tool) if tool else None,
                "pause": pause_by_seq.get(event.sequence_index),
            }
        )
    seconds = _run_seconds(t.run, now)
    return {
        "run": {
            **_record(t.run),
            "duration_ms": None if seconds is None else round(seconds * 1000, 3),
        },
        "parent": _record(t.parent) if t.parent else None,
        "subtree": _record(t.subtree) if t.subtree else None,
        "timeline": timeline,
        "pauses": pauses,
        "llm_calls": [_record(c) for c in t.llm_calls],
        "tool_calls": [_record(c) for c in t.tools],
        "children": [c.as_json() for c in t.children],
        "conversation": [_record(tr) for tr in t.traces],
    }


class _ShowPrinter:
    """The text form of ``show``."""

    def __init__(self, t: _Timeline, style: Style, *, full: bool, now: datetime) -> None:
        self.t = t
        self.s = style
        self.full = full
        self.now = now
        self.llm_by_id = {c.id: c for c in t.llm_calls if c.id}
        self.tool_by_id = {c.tool_call_id: c for c in t.tools}
        self.pause_at = {p.pause_sequence_index: p for p in t.pauses}
        self.resume_at = {
            p.resume_sequence_index: p for p in t.pauses if p.resume_sequence_index is not None
        }

    def header(self) -> list[str]:
        run, s = self.t.run, self.s
        rows: list[tuple[str, str]] = [
            ("agent", s.paint(run.agent_name, "bold")),
            ("status", s.status(run.status)),
        ]
        if run.failure_reason or run.error:
            reason = " ".join(x for x in (run.failure_reason, run.error) if x)
            rows.append(("error", s.paint(_truncate(reason, self.full), "red")))
        model = run.model or "-"
        if run.strategy:
            model += f" ({run.strategy})"
        rows.append(("model", model))
        if run.tenant_id is not None:
            rows.append(("tenant", run.tenant_id))
        rows.append(
            ("started", f"{_clock(run.created_at)} ({format_ago(run.created_at, self.now)})")
        )
        seconds = _run_seconds(run, self.now)
        if seconds is not None:
            label = "duration" if run.status in TERMINAL_STATUS_VALUES else "elapsed"
            rows.append((label, format_duration(seconds)))
        rows.append(("iterations", str(run.iteration_count)))
        tokens = _tokens(run.total_input_tokens, run.total_output_tokens)
        extra = [
            f"cache read {run.total_cache_read_tokens:,}" if run.total_cache_read_tokens else "",
            f"cache write {run.total_cache_creation_tokens:,}"
            if run.total_cache_creation_tokens
            else "",
            f"reasoning {run.total_reasoning_tokens:,}" if run.total_reasoning_tokens else "",
        ]
        if any(extra):
            tokens += f" ({', '.join(x for x in extra if x)})"
        rows.append(("tokens", tokens))
        rows.append(("cost", format_cost(run.total_cost_usd)))
        sub = self.t.subtree
        if sub is not None and sub.descendant_count:  # subtree totals include this run
            plural = "s" if sub.descendant_count != 1 else ""
            text = (
                f"{sub.descendant_count} delegated run{plural}; in total "
                f"{_tokens(sub.subtree_input_tokens, sub.subtree_output_tokens)}, "
                f"{format_cost(sub.subtree_cost_usd)}"
            )
            if sub.unknown_cost_count:
                text += f" ({sub.unknown_cost_count} without a cost)"
            rows.append(("with children", text))
        parent = self.t.parent
        if parent is not None:
            text = parent.run_id
            if parent.resolved:
                text += f" ({parent.agent_name}, {s.status(parent.status or '')})"
            else:
                text += " (deleted)"
            rows.append(("parent", text))
        if run.meta:
            rows.append(("meta", _truncate(_pairs(run.meta), self.full)))
        if run.answer is not None:
            answer = run.answer if isinstance(run.answer, str) else _dumps(run.answer)
            rows.append(("answer", _truncate(answer, self.full)))
        width = max(len(k) for k, _ in rows)
        lines = [s.paint(f"run {run.run_id}", "bold")]
        lines += [f"  {s.paint(k.ljust(width), 'dim')}  {v}" for k, v in rows]
        return lines

    def event_detail(self, event: StoredEvent) -> str:
        corr, data, s = event.correlation_id, event.data or {}, self.s
        kind = event.event_type
        if kind == "llm.completed" and corr in self.llm_by_id:
            call = self.llm_by_id[corr]
            parts = [
                call.model or "-",
                _tokens(call.input_tokens, call.output_tokens),
                format_cost(call.cost_usd),
            ]
            if call.cache_read_input_tokens:
                parts.append(f"cache read {call.cache_read_input_tokens:,}")
            if call.duration_ms is not None:
                parts.append(format_duration(call.duration_ms / 1000))
            if data.get("has_tool_calls"):
                parts.append("-> tool calls")
            return "  ".join(parts)
        if kind == "tool.completed" and corr in self.tool_by_id:
            tool = self.tool_by_id[corr]
            ok = s.paint("ok", "green") if tool.success else s.paint("FAILED", "red")
            parts = [f"{s.paint(tool.tool_name, 'bold')} ({tool.target})", ok]
            if tool.duration_ms is not None:
                parts.append(format_duration(tool.duration_ms / 1000))
            if tool.success:
                parts.append("-> " + _truncate(_dumps(tool.result), self.full, 80))
            elif tool.error:
                parts.append(s.paint(_truncate(tool.error, self.full, 80), "red"))
            return "  ".join(parts)
        if kind == "run.paused" and event.sequence_index in self.pause_at:
            pause = self.pause_at[event.sequence_index]
            parts = [s.status(pause.reason or "paused")]
            pending = pause.pending_tool_calls
            if isinstance(pending, list) and pending:
                names = [str(p.get("name", "?")) if isinstance(p, dict) else "?" for p in pending]
                parts.append("pending: " + ", ".join(names))
            seconds = _wait_seconds(pause, self.now)
            if pause.resume_sequence_index is None:
                waited = f"still waiting ({format_duration(seconds)})" if seconds else "waiting"
                parts.append(s.paint(waited, "yellow"))
            elif seconds is not None:
                parts.append(
                    f"waited {format_duration(seconds)} (resumed #{pause.resume_sequence_index})"
                )
            return "  ".join(parts)
        if kind == "run.resumed" and event.sequence_index in self.resume_at:
            pause = self.resume_at[event.sequence_index]
            seconds = _wait_seconds(pause, self.now)
            parts = [f"after {format_duration(seconds)} waiting" if seconds is not None else ""]
            if pause.user_input is not None:
                parts.append(f"user input: {_scalar(pause.user_input)}")
            if pause.submitted_results is not None:
                parts.append(f"submitted: {_dumps(pause.submitted_results)}")
            rest = _pairs(data, skip=("user_input", "submitted_results"))
            return _truncate("  ".join(p for p in (*parts, rest) if p), self.full)
        detail = _pairs(data)
        related = self.tool_by_id.get(corr) if corr else None
        if related is not None and "tool_name" not in data:
            detail = f"tool {related.tool_name}  {detail}".rstrip()
        if kind.endswith((".failed", ".error", ".interrupted", ".abandoned", ".cancelled")):
            return s.paint(_truncate(detail, self.full), "red")
        return _truncate(detail, self.full)

    def timeline(self) -> list[str]:
        events, s = self.t.events, self.s
        start = self.t.run.created_at
        seq_width = max((len(str(e.sequence_index)) for e in events), default=1)
        it_width = max((len(str(e.iteration_index)) for e in events), default=1)
        type_width = max((len(e.event_type) for e in events), default=10)
        lead = " " * (seq_width + it_width + 12)  # under "  #N  iter N  "
        lines = [
            s.paint(f"timeline ({len(events)} event{'s' if len(events) != 1 else ''})", "bold")
        ]
        # Children go where they started: after the last event that landed before them.
        times = [e.created_at or datetime.min.replace(tzinfo=UTC) for e in events]
        placed: dict[int, list[_Child]] = {}
        for child in self.t.children:
            at = child.detail.created_at if child.detail else None
            slot = len(events) if at is None else bisect.bisect_right(times, at)
            placed.setdefault(slot, []).append(child)
        for i, event in enumerate([*events, None]):
            for child in placed.get(i, []):
                lines += self.child_lines(child, lead, 0)
            if event is None:
                break
            offset = _offset_ms(start, event.created_at)
            when = "+" + format_duration(offset / 1000) if offset is not None else "-"
            kind = event.event_type.ljust(type_width)
            lines.append(
                f"  #{str(event.sequence_index).ljust(seq_width)}  "
                f"iter {str(event.iteration_index).ljust(it_width)}  "
                f"{s.paint(when.rjust(8), 'dim')}  {s.paint(kind, 'cyan')}  "
                f"{self.event_detail(event)}".rstrip()
            )
        return lines

    def child_lines(self, child: _Child, lead: str, level: int) -> list[str]:
        s, d = self.s, child.detail
        offset = _offset_ms(self.t.run.created_at, d.created_at if d else None)
        when = "+" + format_duration(offset / 1000) if offset is not None else "-"
        parts = [
            "child run",
            s.paint(child.run_id, "dim"),
            s.paint(child.agent_name, "bold"),
            s.status(child.status),
        ]
        if d is not None:
            parts.append(_tokens(d.total_input_tokens, d.total_output_tokens))
            parts.append(format_cost(d.total_cost_usd))
            seconds = _run_seconds(d, self.now)
            if seconds is not None:
                parts.append(format_duration(seconds))
        branch = "   " * level + s.branch
        lines = [f"{lead}{s.paint(when.rjust(8), 'dim')}  {branch}{'  '.join(parts)}"]
        for grandchild in child.children:
            lines += self.child_lines(grandchild, lead, level + 1)
        return lines

    def uncorrelated(self) -> list[str]:
        """LLM and tool calls no event points at (written without events)."""
        used = {e.correlation_id for e in self.t.events if e.correlation_id}
        lines = []
        for call in self.t.llm_calls:
            if call.id not in used:
                tokens = _tokens(call.input_tokens, call.output_tokens)
                lines.append(
                    f"  llm call  iter {call.iteration}  {call.model or '-'}  "
                    f"{tokens}  {format_cost(call.cost_usd)}"
                )
        for tool in self.t.tools:
            if tool.tool_call_id not in used:
                ok = "ok" if tool.success else "FAILED"
                lines.append(f"  tool call iter {tool.iteration}  {tool.tool_name}  {ok}")
        if lines:
            lines.insert(0, self.s.paint("calls without a timeline event", "bold"))
        return lines

    def conversation(self) -> list[str]:
        lines = [self.s.paint("conversation", "bold")]
        for trace in self.t.traces:
            text = _truncate(trace.content, self.full)
            lines.append(f"  [{trace.order_index}] {trace.role.ljust(9)} {text}")
        return lines


async def _show(args: argparse.Namespace, url: str, style: Style) -> int:
    async with _store(url) as reader:
        timeline = await _read_timeline(reader, args.run_id)
    now = datetime.now(UTC)
    if args.json:
        print(_dumps(_show_json(timeline, now), indent=2))
        return 0
    printer = _ShowPrinter(timeline, style, full=args.full, now=now)
    sections = [printer.header(), printer.timeline(), printer.uncorrelated()]
    if args.conversation:
        sections.append(printer.conversation())
    print("\n\n".join("\n".join(lines) for lines in sections if lines))
    return 0


# -- events ----------------------------------------------------------------------------


def _event_line(event: StoredEvent, start: datetime | None, style: Style) -> str:
    at = event.created_at.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3] if event.created_at else "-"
    offset = _offset_ms(start, event.created_at)
    when = "+" + format_duration(offset / 1000) if offset is not None else "-"
    data = _dumps(event.data) if event.data else ""
    corr = f"  [{event.correlation_id}]" if event.correlation_id else ""
    return (
        f"{style.paint(at, 'dim')}  #{event.sequence_index:<3} iter {event.iteration_index:<2} "
        f"{style.paint(when.rjust(8), 'dim')}  {style.paint(event.event_type.ljust(18), 'cyan')}  "
        f"{data}{style.paint(corr, 'dim')}"
    ).rstrip()


async def _events(args: argparse.Namespace, url: str, style: Style) -> int:
    async with _store(url) as store:
        run = await store.get_run(args.run_id)
        if run is None:
            raise RunNotFoundError(args.run_id)

        def emit(event: StoredEvent) -> None:
            if args.json:
                _emit(_dumps({"run_id": run.run_id, **_record(event)}), flush=args.follow)
            else:
                _emit(_event_line(event, run.created_at, style), flush=args.follow)

        if not args.follow:
            for event in await _all_events(store, run.run_id, args.after):
                emit(event)
            return 0
        stream = store.stream_events(
            run.run_id, after_sequence_index=args.after, poll_interval_s=args.poll_interval
        )
        async for event in stream:
            emit(event)
    return 0  # pragma: no cover - the stream never ends on its own


# -- sweep / purge ---------------------------------------------------------------------


async def _sweep(args: argparse.Namespace, url: str, style: Style) -> int:
    from dendrux.state import StateStore

    async with StateStore.from_database_url(url) as store:
        swept = await store.sweep_stale_runs(args.older_than)
        swept += await store.sweep_abandoned_runs(args.older_than)
    if args.json:
        print(_dumps([_record(r) for r in swept], indent=2))
        return 0
    limit = format_duration(args.older_than.total_seconds())
    if not swept:
        print(f"nothing to sweep: no live run has been idle for more than {limit}")
        return 0
    now = datetime.now(UTC)
    rows = [
        [
            (r.run_id, style.paint(r.run_id, "dim")),
            (r.agent_name,) * 2,
            (r.previous_status, style.status(r.previous_status)),
            (r.failure_reason, style.paint(r.failure_reason, "red")),
            (format_ago(r.last_progress_at, now),) * 2,
        ]
        for r in swept
    ]
    plural = "s" if len(swept) != 1 else ""
    print(f"swept {len(swept)} run{plural} idle for more than {limit} (now status error):")
    print(_table(["RUN ID", "AGENT", "WAS", "REASON", "LAST PROGRESS"], rows, right=set()))
    return 0


async def _purge(args: argparse.Namespace, url: str, style: Style) -> int:
    from dendrux.state import StateStore

    async with StateStore.from_database_url(url) as store:
        result = await store.purge_runs(
            before=args.before,
            status=args.status or None,
            batch_size=args.batch_size,
            dry_run=args.dry_run,
        )
    counts = result.as_dict()
    if args.json:
        document = {
            "dry_run": result.dry_run,
            "before": args.before,
            "status": args.status or None,
            "counts": counts,
            "total": sum(counts.values()),
        }
        print(_dumps(document, indent=2))
        return 0
    which = f" ({', '.join(args.status)})" if args.status else ""
    verb = "would delete" if result.dry_run else "deleted"
    head = f"finished runs{which} last updated before {_clock(args.before)}"
    print(f"dry run: {verb} {head}:" if result.dry_run else f"{verb} {head}:")
    width = max(len(name) for name in counts)
    for name, count in counts.items():
        print(f"  {name.ljust(width)}  {count:>8,}")
    print(f"  {'total'.ljust(width)}  {sum(counts.values()):>8,}")
    return 0


# -- parser ----------------------------------------------------------------------------

_Action = Callable[[argparse.Namespace, str, Style], Coroutine[Any, Any, int]]


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (argparse prints the whole usage block first)."""

    def error(self, message: str) -> NoReturn:
        hint = f" (see `{self.prog} --help`)" if self.add_help else ""
        self.exit(2, f"{_squeeze(f'{self.prog}: error: {message}')}{hint}\n")


class _MetaAction(argparse.Action):
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


class _StatusAction(argparse.Action):
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


def _common() -> _Parser:
    """Options every command also accepts after its name."""
    common = _Parser(add_help=False)
    common.add_argument(
        "--database-url", default=argparse.SUPPRESS, help="database URL (overrides the default)"
    )
    common.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default=argparse.SUPPRESS,
        help="colour output (auto: on a terminal unless NO_COLOR is set)",
    )
    return common


def _json_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} (for scripts)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = _Parser(
        prog="dendrux",
        description="The dendrux audit store: inspect, follow and maintain recorded agent runs.",
        epilog=(
            "Times: a duration (30s, 30m, 2h, 7d, 1h30m) means that long ago; an ISO "
            "date or datetime without a zone is UTC. Exit codes: 0 ok, 1 error, 2 usage, "
            "130 interrupted."
        ),
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="database URL (default: $DENDRUX_DATABASE_URL or ~/.dendrux/dendrux.db)",
    )
    parser.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour output (auto: on a terminal unless NO_COLOR is set)",
    )
    parser.add_argument("--version", action="version", version=f"dendrux {__version__}")
    common = _common()
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = commands.add_parser("db", help="schema management", parents=[common])
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    db_commands.add_parser(
        "upgrade", help="migrate the database to the newest schema", parents=[common]
    ).set_defaults(action=_db_upgrade)
    status = db_commands.add_parser(
        "status", help="show the current and newest schema version", parents=[common]
    )
    _json_flag(status, "the schema status as JSON")
    status.set_defaults(action=_db_status, existing_database=True)

    when = _arg_type(parse_instant, "time")
    runs = commands.add_parser(
        "runs", help="list runs, newest first", parents=[common], description="List runs."
    )
    runs.add_argument(
        "--status",
        action=_StatusAction,
        default=[],
        metavar="STATUS",
        help=f"only these statuses; repeat or comma-separate ({', '.join(_STATUSES)})",
    )
    runs.add_argument("--agent", metavar="NAME", help="only runs of this agent")
    runs.add_argument("--tenant", metavar="TENANT_ID", help="only runs of this tenant")
    runs.add_argument("--parent", metavar="RUN_ID", help="only runs delegated by this run")
    runs.add_argument(
        "--meta",
        action=_MetaAction,
        type=_arg_type(parse_meta, "key=value"),
        metavar="KEY=VALUE",
        help="only runs whose meta[KEY] equals VALUE (JSON scalars such as 3, true, null "
        "are typed; anything else is a string); repeat to AND several keys",
    )
    runs.add_argument(
        "--since", type=when, metavar="WHEN", help="started after: 30m, 2h, 7d or an ISO date"
    )
    runs.add_argument(
        "--until", type=when, metavar="WHEN", help="started before: 30m, 2h, 7d or an ISO date"
    )
    runs.add_argument(
        "--limit", type=_whole(1), default=50, metavar="N", help="at most N runs (50)"
    )
    runs.add_argument("--offset", type=_whole(0), default=0, metavar="N", help="skip N runs")
    _json_flag(runs, "a JSON array of runs")
    runs.set_defaults(action=_runs, existing_database=True)

    show = commands.add_parser(
        "show",
        help="a run's header and timeline",
        parents=[common],
        description="A run's status, tokens, cost and its timeline of events, with the "
        "LLM and tool calls, pauses and delegated child runs.",
    )
    show.add_argument("run_id", metavar="RUN_ID")
    show.add_argument("--full", action="store_true", help="do not shorten long values")
    show.add_argument("--conversation", action="store_true", help="also print the messages")
    _json_flag(show, "the run, timeline, calls, pauses and children as one JSON document")
    show.set_defaults(action=_show, existing_database=True)

    events = commands.add_parser(
        "events", help="print a run's events (--follow: as they land)", parents=[common]
    )
    events.add_argument("run_id", metavar="RUN_ID")
    events.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new events until Ctrl-C"
    )
    events.add_argument(
        "--after",
        type=_whole(-INT64_MAX - 1),
        metavar="N",
        help="only events with a sequence index above N",
    )
    events.add_argument(
        "--poll-interval",
        type=_arg_type(_positive_seconds, "seconds"),
        default=0.5,
        metavar="SECONDS",
        help="how often --follow polls (PostgreSQL also wakes on NOTIFY) (0.5)",
    )
    _json_flag(events, "one JSON object per event and line")
    events.set_defaults(action=_events, existing_database=True)

    sweep = commands.add_parser(
        "sweep",
        help="mark stuck runs as error",
        parents=[common],
        description="Mark running/pending runs without progress, and runs waiting for "
        "input, for longer than --older-than as error (stale_running, never_started, "
        "abandoned_waiting).",
    )
    sweep.add_argument(
        "--older-than",
        type=_arg_type(parse_age, "duration"),
        required=True,
        metavar="DURATION",
        help="idle for longer than this: 30m, 2h, 7d",
    )
    _json_flag(sweep, "a JSON array of swept runs")
    sweep.set_defaults(action=_sweep, existing_database=True)

    purge = commands.add_parser(
        "purge",
        help="delete finished runs and their rows",
        parents=[common],
        description="Delete finished runs last updated before --before, with their traces, "
        "tool calls, usage, LLM interactions and events.",
    )
    purge.add_argument(
        "--before",
        type=when,
        required=True,
        metavar="WHEN",
        help="an ISO date/datetime (UTC when no zone) or a duration like 90d (that long ago)",
    )
    purge.add_argument(
        "--status",
        action=_StatusAction,
        terminal_only=True,
        default=[],
        metavar="STATUS",
        help="only these finished statuses; repeat or comma-separate "
        f"({', '.join(sorted(TERMINAL_STATUS_VALUES))})",
    )
    purge.add_argument("--dry-run", action="store_true", help="count, do not delete")
    purge.add_argument(
        "--batch-size",
        type=_whole(1),
        default=500,
        metavar="N",
        help="runs deleted per transaction (500)",
    )
    _json_flag(purge, "the counts as JSON")
    purge.set_defaults(action=_purge, existing_database=True)

    commands.add_parser(
        "demo", help="record a realistic sample run and show it", parents=[common]
    ).set_defaults(action=_demo)
    return parser


# -- entry point -----------------------------------------------------------------------


def _squeeze(message: str) -> str:
    """One line of readable length: whitespace collapsed, the middle of a long one elided."""
    line = " ".join(message.split())
    if len(line) <= _MESSAGE:
        return line
    half = _MESSAGE // 2
    return f"{line[:half]} ... {line[-half:]}"


def _one_line(exc: BaseException, url: str) -> str:
    message = str(exc) or type(exc).__name__
    masked = mask_url(url)
    message = mask_url(message.replace(url, masked))
    if masked != url:  # a hint must not offer a masked password as something to paste
        message = re.sub(
            r"--database-url\s+(['\"]?)" + re.escape(masked) + r"\1",
            lambda _: '--database-url "$DENDRUX_DATABASE_URL"',
            message,
        )
    return f"dendrux: error: {_squeeze(message)}"


def _require_sqlite_file(url: str) -> None:
    """Commands that inspect or maintain runs never create a SQLite file (a typo in a path
    would otherwise leave an empty database behind and report "no runs")."""
    parsed = parse_database_url(url)
    path = parsed.sqlite_path
    if path is None or parsed.is_memory or "mode" in parsed.options or Path(path).exists():
        return
    raise FileNotFoundError(
        f"no dendrux database at {path} (the file does not exist); pass --database-url "
        "(or set DENDRUX_DATABASE_URL), or run `dendrux demo` to record a sample run "
        "(`dendrux db upgrade` creates an empty database)"
    )


def _quiet_stdout() -> None:
    """After a closed pipe: send further output (and the final flush) nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 error, 2 usage, 130 Ctrl-C)."""
    debug = bool(os.environ.get("DENDRUX_DEBUG"))
    # The library's own warnings (a retried write...) would add lines before the one-line
    # error; they are for applications that configure logging, and for DENDRUX_DEBUG.
    quiet = logging.NullHandler()
    library_log = logging.getLogger("dendrux")
    if not debug:
        library_log.addHandler(quiet)
    try:
        args = build_parser().parse_args(argv)
        url = args.database_url or default_database_url()
        return _main(args, url, debug)
    except KeyboardInterrupt:
        return 130
    finally:
        library_log.removeHandler(quiet)


def _main(args: argparse.Namespace, url: str, debug: bool) -> int:
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")  # odd names on a non-UTF-8 terminal
    style = Style.for_stream(sys.stdout, args.color)
    action: _Action = args.action
    try:
        parse_database_url(url)  # a malformed URL is a configuration error (1), not usage
        if getattr(args, "existing_database", False):
            _require_sqlite_file(url)
    except Exception as exc:
        print(_one_line(exc, url), file=sys.stderr)
        if debug:
            raise
        return 1
    try:
        return asyncio.run(action(args, url, style))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except (InvalidArgumentError, InvalidArgumentTypeError) as exc:
        # The store refused a value given on the command line: a usage error.
        print(_one_line(exc, url), file=sys.stderr)
        if debug:
            raise
        return 2
    except Exception as exc:  # every failure is one line, never a traceback
        print(_one_line(exc, url), file=sys.stderr)
        if debug:
            raise
        return 1
