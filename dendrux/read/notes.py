"""Reads of a run's notes inbox (``run_inbox``) and the tenant scope they take.

Plain functions over a connection the caller holds; the facades (`RunStore`,
`StateStore`) check arguments first. A scope is 0.4.1's ``tenant_id=``:
`dendrux.types.UNSCOPED` (left out: no tenant predicate), ``None`` (untenanted
runs only) or a tenant string.
"""

from __future__ import annotations

from typing import Any

from dendrux.db.engine import Connection, Row


async def note_rows(
    conn: Connection, run_id: str, undelivered_only: bool, scope: tuple[bool, str | None]
) -> list[Row]:
    """A run's notes in delivery order (``NOTE_COLUMNS``); none outside the scope."""
    query = "get_undelivered_notes" if undelivered_only else "get_notes"
    return await conn.fetch_all(query, run_id, *scope)


async def run_in_scope(conn: Connection, run_id: str, tenant: str | None) -> bool:
    """Whether the run exists and belongs to exactly ``tenant`` (None: untenanted)."""
    value: Any = await conn.fetch_value("run_in_scope", run_id, tenant)
    return bool(value)
