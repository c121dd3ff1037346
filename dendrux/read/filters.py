"""The read arguments, declared once: run filters, pages and their limits.

`RunFilters` holds the seven filters of ``list_runs`` / ``count_runs`` for
`RunStore` and `StateStore` alike (and, through `dendrux.read.text`, for the
HTTP router and the CLI), checked before any SQL and bound as the parameters
?1..?7 of the listing and count queries. One metadata-key rule
(`is_meta_key`), one value rule (`dendrux.validation.check_metadata_filter`)
and one status parser (`dendrux.validation.check_status_filter`) serve every
caller. Imports nothing of the write side: the read facade loads without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dendrux.db.engine import Connection, Dialect
from dendrux.validation import _is_meta_key as is_meta_key
from dendrux.validation import (
    check_aware,
    check_int,
    check_metadata_filter,
    check_offset,
    check_status_filter,
    check_text,
    clamp_limit,
    encode_json,
)

MAX_PAGE = 1000
"""The largest page any read returns; larger limits are clamped to it."""
RUNS_PAGE = 50
"""``list_runs``' default page."""
ROWS_PAGE = 100
"""The HTTP router's default page for a run's events, LLM calls, tool calls and traces
(the Python API's default is every row)."""
STREAM_PAGE = 500
"""Events read per query while following a run: memory stays bounded by one page."""
TOTAL_CAP = 10_000
"""Where a capped count (``count_runs(at_most=)``, the router's ``/runs?total=capped`` and
``/status-counts``) stops: a list over a large store shows "10,000+" instead of paying
for a count of every run."""
META_KEY_RULE = "^[A-Za-z0-9_-]+$"
"""What `is_meta_key` accepts: a top-level ``meta`` key (no nested paths)."""

__all__ = [
    "MAX_PAGE",
    "META_KEY_RULE",
    "ROWS_PAGE",
    "RUNS_PAGE",
    "STREAM_PAGE",
    "TOTAL_CAP",
    "RunFilters",
    "is_meta_key",
    "rows_page",
    "runs_page",
]


@dataclass(slots=True, eq=False, repr=False)
class RunFilters:
    """Validated ``list_runs`` / ``count_runs`` filters, ready to bind. Built per call,
    so not frozen (a frozen ``__init__`` costs more than all the checks), and without
    generated ``__eq__``/``__repr__`` nothing uses (each costs import time)."""

    statuses: list[str] | None
    agent_name: str | None
    parent_run_id: str | None
    tenant_id: str | None
    started_after: datetime | None
    started_before: datetime | None
    metadata_json: str | None
    metadata_keys: int = 0

    @classmethod
    def check(
        cls,
        *,
        status: object = None,
        agent_name: object = None,
        parent_run_id: object = None,
        tenant_id: object = None,
        started_after: object = None,
        started_before: object = None,
        metadata_filter: object = None,
    ) -> RunFilters:
        """Validate every filter (before any SQL), naming the bad argument."""
        meta = check_metadata_filter("metadata_filter", metadata_filter)
        return cls(
            statuses=check_status_filter("status", status),
            agent_name=check_text("agent_name", agent_name, optional=True),
            parent_run_id=check_text("parent_run_id", parent_run_id, optional=True),
            tenant_id=check_text("tenant_id", tenant_id, optional=True),
            started_after=check_aware("started_after", started_after),
            started_before=check_aware("started_before", started_before),
            metadata_json=encode_json("metadata_filter", meta) if meta else None,
            metadata_keys=len(meta) if meta else 0,
        )

    def by_meta(self, dialect: Dialect) -> bool:
        """Whether to run the ``*_by_meta`` twin of a listing or count query: there is a
        metadata filter and the database has an index for it."""
        return self.metadata_json is not None and dialect.metadata_index

    def pick(self, dialect: Dialect, plain: str, by_meta: str, one_key: str) -> str:
        """The listing or count query to run: ``plain`` without a metadata filter (or an
        index for it); for a filter of one key, ``one_key`` where the dialect has that
        twin (SQLite's skips grouping the index's hits per run); else ``by_meta``."""
        if self.metadata_json is None or not dialect.metadata_index:
            return plain
        if self.metadata_keys == 1 and one_key in dialect.queries:
            return one_key
        return by_meta

    def bind(self, dialect: Dialect) -> list[Any]:
        """Parameters ?1..?7 of the listing and count queries."""
        return [
            dialect.text_list(self.statuses),
            self.agent_name,
            self.parent_run_id,
            self.tenant_id,
            self.started_after,
            self.started_before,
            self.metadata_json,
        ]

    async def count(self, conn: Connection) -> int:
        """How many runs match, counted on ``conn``."""
        query = self.pick(
            conn.dialect, "count_runs", "count_runs_by_meta", "count_runs_by_meta_one"
        )
        return int(await conn.fetch_value(query, *self.bind(conn.dialect)))


def runs_page(limit: object, offset: object) -> tuple[int, int]:
    """A run listing's page: ``limit`` clamped to 1..`MAX_PAGE`, ``offset`` to >= 0."""
    return clamp_limit("limit", limit, maximum=MAX_PAGE), check_offset("offset", offset)


def rows_page(limit: object, offset: object) -> tuple[int | None, int]:
    """A per-run read's page: ``limit`` >= 1 or None (every row), ``offset`` >= 0;
    anything else refused, naming the argument."""
    page = check_int("limit", limit, optional=True, minimum=1)
    skip = check_int("offset", offset, minimum=0)
    return page, 0 if skip is None else skip
