"""`RunFilters`: the filters of ``list_runs`` / ``count_runs``, checked before any SQL
and bound as the parameters ?1..?7 of the listing and count queries.

Shared by the store functions (`dendrux.state.runs`) and `dendrux.store.RunStore`,
so it imports nothing of the write side: the read facade loads without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dendrux.db.engine import Connection, Dialect
from dendrux.validation import (
    check_aware,
    check_metadata_filter,
    check_status_filter,
    check_text,
    encode_json,
)


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
        )

    def by_meta(self, dialect: Dialect) -> bool:
        """Whether to run the ``*_by_meta`` twin of a listing or count query: there is a
        metadata filter and the database has an index for it."""
        return self.metadata_json is not None and dialect.metadata_index

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
        query = "count_runs_by_meta" if self.by_meta(conn.dialect) else "count_runs"
        return int(await conn.fetch_value(query, *self.bind(conn.dialect)))
