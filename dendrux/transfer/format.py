"""The export file format: JSON Lines, one header, one line per stored row, one trailer.

A file is a faithful copy of the rows: every column of every table, ids,
timestamps (ISO-8601 UTC with microseconds), JSON columns as JSON values and
SQL NULL as ``null``. It holds raw values, ``pause_data`` and the PII mapping
(unless exported with ``without_pii``): treat it like the database itself.

Lines are written with sorted keys and no spaces, so the same rows make the
same bytes whichever dialect they were read from (PostgreSQL's JSONB reorders
object keys; SQLite keeps them as written). The trailer counts the rows, so a
file cut at a line boundary is refused instead of half-imported.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from dendrux.errors import DendruxError, InvalidArgumentError, InvalidArgumentTypeError
from dendrux.validation import (
    INT32_MAX,
    INT32_MIN,
    check_id,
    check_int,
    check_text,
    encode_json,
)

FORMAT = "dendrux-export"
VERSION = 1
"""Bumped when a reader of the previous version could not import the file."""

Kind = Literal["id", "text", "int", "bigint", "float", "bool", "ts", "json"]


class Column(NamedTuple):
    """One stored column: its name, how its value is written, whether it may be NULL."""

    name: str
    kind: Kind
    nullable: bool = True


class Table(NamedTuple):
    """One table as the file carries it; ``run_column`` names its run.

    ``page_query`` reads a run's rows a page at a time, in the order the file
    lists them (``cursor`` says how it pages); ``insert_query`` writes one row.
    """

    name: str
    run_column: str
    columns: tuple[Column, ...]
    page_query: str
    insert_query: str
    cursor: Literal["run", "order_index", "sequence_index", "created_at"]


def _c(name: str, kind: Kind, nullable: bool = True) -> Column:
    return Column(name, kind, nullable)


_ID, _AT = _c("id", "id", False), _c("created_at", "ts", False)

RUNS = Table(
    "agent_runs",
    "id",
    (
        _ID,
        _c("tenant_id", "text"),
        _c("agent_name", "text", False),
        _c("status", "text", False),
        _c("input_data", "json"),
        _c("output_data", "json"),
        _c("iteration_count", "int", False),
        _c("model", "text"),
        _c("strategy", "text"),
        _c("parent_run_id", "id"),
        _c("delegation_level", "int", False),
        _c("retry_of_run_id", "id"),
        _c("total_input_tokens", "bigint", False),
        _c("total_output_tokens", "bigint", False),
        _c("total_cost_usd", "float"),
        _c("total_cache_read_tokens", "bigint", False),
        _c("total_cache_creation_tokens", "bigint", False),
        _c("total_reasoning_tokens", "bigint", False),
        _c("meta", "json"),
        _c("pause_data", "json"),
        _c("pii_mapping", "json"),
        _c("error", "text"),
        _c("last_progress_at", "ts"),
        _c("failure_reason", "text"),
        _c("idempotency_key", "text"),
        _c("idempotency_fingerprint", "text"),
        _c("cancel_requested", "bool", False),
        _c("pause_requested", "bool", False),
        _AT,
        _c("updated_at", "ts", False),
    ),
    "transfer_run",
    "transfer_insert_run",
    "run",
)

TRACES = Table(
    "react_traces",
    "agent_run_id",
    (
        _ID,
        _c("agent_run_id", "id", False),
        _c("role", "text", False),
        _c("content", "text", False),
        _c("order_index", "int", False),
        _c("meta", "json"),
        _AT,
        _c("updated_at", "ts", False),
    ),
    "transfer_traces",
    "transfer_insert_trace",
    "order_index",
)

TOOL_CALLS = Table(
    "tool_calls",
    "agent_run_id",
    (
        _ID,
        _c("agent_run_id", "id", False),
        _c("tool_call_id", "id", False),
        _c("provider_tool_call_id", "text"),
        _c("tool_name", "text", False),
        _c("target", "text", False),
        _c("params", "json"),
        _c("result", "json"),
        _c("success", "bool", False),
        _c("duration_ms", "int"),
        _c("iteration_index", "int"),
        _c("error_message", "text"),
        _c("meta", "json"),
        _AT,
        _c("updated_at", "ts", False),
    ),
    "transfer_tool_calls",
    "transfer_insert_tool_call",
    "created_at",
)

_USAGE_TOKENS = (
    _c("input_tokens", "bigint", False),
    _c("output_tokens", "bigint", False),
    _c("cost_usd", "float"),
    _c("duration_ms", "int"),
    _c("cache_read_input_tokens", "bigint"),
    _c("cache_creation_input_tokens", "bigint"),
    _c("reasoning_tokens", "bigint"),
)

USAGE = Table(
    "token_usage",
    "agent_run_id",
    (
        _ID,
        _c("agent_run_id", "id", False),
        _c("iteration_index", "int", False),
        _c("model", "text"),
        _c("provider", "text"),
        *_USAGE_TOKENS,
        _c("meta", "json"),
        _AT,
    ),
    "transfer_token_usage",
    "transfer_insert_usage",
    "created_at",
)

INTERACTIONS = Table(
    "llm_interactions",
    "agent_run_id",
    (
        _ID,
        _c("agent_run_id", "id", False),
        _c("iteration_index", "int", False),
        _c("model", "text"),
        _c("provider", "text"),
        _c("semantic_request", "json"),
        _c("semantic_response", "json"),
        _c("provider_request", "json"),
        _c("provider_response", "json"),
        *_USAGE_TOKENS,
        _c("guardrail_findings", "json"),
        _AT,
    ),
    "transfer_llm_interactions",
    "transfer_insert_llm_interaction",
    "created_at",
)

EVENTS = Table(
    "run_events",
    "agent_run_id",
    (
        _ID,
        _c("agent_run_id", "id", False),
        _c("event_type", "text", False),
        _c("sequence_index", "int", False),
        _c("iteration_index", "int", False),
        _c("correlation_id", "text"),
        _c("data", "json"),
        _AT,
    ),
    "transfer_events",
    "transfer_insert_event",
    "sequence_index",
)

NOTES = Table(
    "run_inbox",
    "run_id",
    (
        _ID,
        _c("run_id", "id", False),
        _c("text", "text", False),
        _c("metadata", "json"),
        _AT,
        _c("delivered_at", "ts"),
        _c("delivered_iteration", "int"),
    ),
    "transfer_notes",
    "transfer_insert_note",
    "created_at",
)

TABLES = (RUNS, TRACES, TOOL_CALLS, USAGE, INTERACTIONS, EVENTS, NOTES)
"""In file order: runs first (parents before children), then each run's rows."""
TABLES_BY_NAME = {t.name: t for t in TABLES}


class TransferFormatError(DendruxError, ValueError):
    """An export file that cannot be imported; ``line`` is its 1-based line number
    (0 when the file as a whole is wrong, e.g. empty)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


# -- writing -------------------------------------------------------------------------

_dump = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
).encode


def dump_line(document: dict[str, Any]) -> str:
    """One line of the file (no newline)."""
    return _dump(document)


def dump_row(table: str, row: dict[str, Any]) -> str:
    """A row line: the table first, then the row (its keys, and those of its JSON
    values, sorted)."""
    return f'{{"table":{_dump(table)},"row":{_dump(row)}}}'


def timestamp_text(value: datetime) -> str:
    """ISO-8601 UTC with microseconds: the one form every timestamp takes in a file."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


# -- reading -------------------------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_line(number: int, text: str) -> dict[str, Any]:
    """A line as a JSON object, or `TransferFormatError` naming it."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise TransferFormatError(number, f"not a JSON object ({exc})") from None
    if not isinstance(value, dict):
        raise TransferFormatError(number, f"not a JSON object (got {type(value).__name__})")
    return value


def check_header(document: dict[str, Any]) -> list[str]:
    """The run ids a header announces; refuses another format or version."""
    if document.get("format") != FORMAT:
        raise TransferFormatError(
            1, f"not a dendrux export (format {document.get('format')!r}, expected {FORMAT!r})"
        )
    version = document.get("version")
    if version != VERSION:
        raise TransferFormatError(
            1,
            f"export format version {version!r} is not supported (this dendrux reads version "
            f"{VERSION}); import it with the dendrux version that wrote it",
        )
    run_ids = document.get("run_ids")
    if not isinstance(run_ids, list) or not run_ids or not all(isinstance(i, str) for i in run_ids):
        raise TransferFormatError(1, "the header's run_ids must be a non-empty list of run ids")
    return run_ids


def _ts(name: str, value: object) -> datetime:
    if not isinstance(value, str):
        raise InvalidArgumentTypeError(f"{name} must be an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidArgumentError(f"{name} is not an ISO-8601 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        raise InvalidArgumentError(f"{name} has no UTC offset: {value!r}")
    return parsed.astimezone(UTC)


def _float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentTypeError(f"{name} must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidArgumentError(f"{name} must be finite")
    return number


def _bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgumentTypeError(f"{name} must be true or false")
    return value


_CHECKS: dict[Kind, Callable[[str, object], Any]] = {
    "id": lambda n, v: check_id(n, v),
    "text": lambda n, v: check_text(n, v),
    "int": lambda n, v: check_int(n, v, minimum=INT32_MIN, maximum=INT32_MAX),
    "bigint": lambda n, v: check_int(n, v, minimum=None),
    "float": _float,
    "bool": _bool,
    "ts": _ts,
    "json": encode_json,
}
"""Per kind: the file's value checked and turned into the bound parameter (JSON
columns become JSON text, which both dialects' insert statements take)."""


def row_parameters(number: int, table: Table, row: object) -> tuple[Any, ...]:
    """A row's values as insert parameters, in column order; every column must be
    present and nothing else (so a file from another schema is noticed)."""
    if not isinstance(row, dict):
        raise TransferFormatError(number, f"{table.name}: row must be a JSON object")
    names = {c.name for c in table.columns}
    extra = sorted(set(row) - names)
    missing = [c.name for c in table.columns if c.name not in row]
    if extra or missing:
        detail = "; ".join(
            part
            for part in (
                f"unknown columns {', '.join(extra)}" if extra else "",
                f"missing columns {', '.join(missing)}" if missing else "",
            )
            if part
        )
        raise TransferFormatError(number, f"{table.name}: {detail}")
    args: list[Any] = []
    try:
        for column in table.columns:
            value = row[column.name]
            name = f"{table.name}.{column.name}"
            if value is None:
                if not column.nullable:
                    raise InvalidArgumentError(f"{name} must not be null")
                args.append(None)
            else:
                args.append(_CHECKS[column.kind](name, value))
    except (InvalidArgumentError, InvalidArgumentTypeError) as exc:
        raise TransferFormatError(number, str(exc)) from None
    return tuple(args)


__all__ = [
    "FORMAT",
    "TABLES",
    "TABLES_BY_NAME",
    "VERSION",
    "Column",
    "Table",
    "TransferFormatError",
    "check_header",
    "dump_line",
    "dump_row",
    "parse_line",
    "row_parameters",
    "timestamp_text",
]
