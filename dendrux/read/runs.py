"""Reads of ``agent_runs``: listings, counts, one run, its status and PII mapping.

Plain functions over a connection the caller holds, taking arguments already
checked (`dendrux.read.filters`): the facades (`RunStore`, `StateStore` and its
store functions) validate, open the connection and call these.
"""

from __future__ import annotations

from typing import Any

from dendrux.db.engine import Connection, Row
from dendrux.read.filters import RunFilters
from dendrux.read.records import RunDetail, RunSummary
from dendrux.status import RunStatus

STATUS_ORDER = [status.value for status in RunStatus]
"""Every status, in the enum's order: the keys of `status_counts`."""
STATUS_COUNT_COLUMNS = ("status", "runs")
"""``status_counts`` (and its ``_by_meta`` twin): a status, and its capped count."""


async def list_run_summaries(
    conn: Connection, filters: RunFilters, page: int, skip: int
) -> list[RunSummary]:
    """Runs newest first (ties by id), the summary columns only."""
    d = conn.dialect
    query = filters.pick(
        d, "list_run_summaries", "list_run_summaries_by_meta", "list_run_summaries_by_meta_one"
    )
    return RunSummary.from_rows(await conn.fetch_all(query, *filters.bind(d), page, skip), d)


async def list_run_rows(conn: Connection, filters: RunFilters, page: int, skip: int) -> list[Row]:
    """Runs newest first (ties by id) as full ``RUN_COLUMNS`` rows, for the upstream
    ``RunRecord`` (`dendrux.state.rowmap`)."""
    d = conn.dialect
    query = filters.pick(d, "list_runs", "list_runs_by_meta", "list_runs_by_meta_one")
    return await conn.fetch_all(query, *filters.bind(d), page, skip)


async def count_runs(conn: Connection, filters: RunFilters, at_most: int | None = None) -> int:
    """How many runs the listings page through with the same filters; with ``at_most``,
    ``min(count, at_most)`` from one statement that stops reading at ``at_most`` runs."""
    if at_most is None:
        return await filters.count(conn)
    d = conn.dialect
    query = filters.pick(
        d, "count_runs_capped", "count_runs_capped_by_meta", "count_runs_capped_by_meta_one"
    )
    return int(await conn.fetch_value(query, *filters.bind(d), at_most))


async def status_counts(conn: Connection, filters: RunFilters, at_most: int) -> dict[str, int]:
    """Runs per status (every status, in `RunStatus` order) matching the filters but
    ``filters.statuses``, each count capped at ``at_most``; one statement."""
    d = conn.dialect
    query = "status_counts_by_meta" if filters.by_meta(d) else "status_counts"
    args = filters.bind(d)
    args[0] = d.text_list(STATUS_ORDER)
    rows = await conn.fetch_all(query, *args, at_most)
    found = {row[STATUS_COUNT_COLUMNS[0]]: int(row[STATUS_COUNT_COLUMNS[1]]) for row in rows}
    return {status: found.get(status, 0) for status in STATUS_ORDER}


async def get_run_row(conn: Connection, run_id: str) -> Row | None:
    """One run's ``RUN_COLUMNS`` row, or None."""
    return await conn.fetch_one("get_run", run_id)


async def get_run_detail(conn: Connection, run_id: str) -> RunDetail | None:
    """One run's anchor row, or None."""
    row = await conn.fetch_one("get_run", run_id)
    return None if row is None else RunDetail.from_row(row, conn.dialect)


async def get_run_status(conn: Connection, run_id: str, tenant_id: str | None) -> str | None:
    """A run's status; None when missing or (``tenant_id`` given) another tenant's."""
    status: str | None = await conn.fetch_value("run_status", run_id, tenant_id)
    return status


async def list_retries(
    conn: Connection, run_id: str, tenant_id: str | None, limit: int
) -> list[RunSummary]:
    """The runs whose ``retry_of_run_id`` is this run, oldest first."""
    rows = await conn.fetch_all("list_retries", run_id, tenant_id, limit)
    return RunSummary.from_rows(rows, conn.dialect)


async def run_exists(conn: Connection, run_id: str, tenant_id: str | None = None) -> bool:
    """Whether the run exists (and, ``tenant_id`` given, belongs to that tenant)."""
    return bool(await conn.fetch_value("run_exists", run_id, tenant_id))


async def read_pii_mapping(conn: Connection, run_id: str) -> Any:
    """The stored placeholder -> real value mapping, decoded; None when absent."""
    return conn.dialect.read_json(await conn.fetch_value("get_pii_mapping", run_id))
