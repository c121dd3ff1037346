"""Store functions for a run's notes inbox (``run_inbox``, 0.4.1): notes submitted to a
live run, read by its runner at each checkpoint and stamped once delivered.

``add_note`` is one conditional ``INSERT ... SELECT``: a note lands only while its run
exists, is not terminal and is in the caller's tenant scope, never after a finalize
that committed first. Note ids are the caller's, so a retry is exactly-once: the same
note again answers True, another note at a taken id is a `ConflictError`.
"""

from __future__ import annotations

import json
from typing import Any

from dendrux.db.engine import Connection
from dendrux.errors import ConflictError, InvalidArgumentError
from dendrux.read.notes import note_rows
from dendrux.scope import UNSCOPED, TenantScope, check_scope
from dendrux.state._executor import Executor, lifecycle_write, reading
from dendrux.state.appended import now_utc
from dendrux.types import NoteRecord
from dendrux.validation import (
    check_bool,
    check_list,
    check_required_id,
    check_required_index,
    check_required_text,
    encode_json,
)


async def add_note(
    db: Executor,
    run_id: str,
    *,
    note_id: str,
    text: str,
    metadata: Any = None,
    tenant_id: TenantScope = UNSCOPED,
) -> bool:
    """Add a note to a live run's inbox; False when the run is missing, terminal or
    outside the tenant scope (left out: any run; ``None``: untenanted runs only; a
    string: that tenant's). ``metadata`` is the application's, never the model's."""
    run_id = check_required_id("run_id", run_id)
    note_id = check_required_id("note_id", note_id)
    text = check_required_text("text", text)
    if not text:
        raise InvalidArgumentError("text must not be empty")
    encoded = encode_json("metadata", metadata)
    scope = check_scope("tenant_id", tenant_id)
    args = (run_id, note_id, text, encoded, now_utc(), *scope)

    async def work(conn: Connection) -> bool:
        if await conn.fetch_value("add_note", *args) is not None:
            return True
        held = await conn.fetch_one("note_by_id", note_id)
        if held is None:
            return False  # the run refused it
        stored: Any = held  # rows index by position
        given = None if encoded is None else json.loads(encoded)  # as stored, e.g. tuples
        same = (
            stored[0] == run_id and stored[1] == text and conn.dialect.read_json(stored[2]) == given
        )
        if same:
            return True  # a retry of a note that already landed
        raise ConflictError(
            f"run_inbox: note_id {note_id!r} already holds a different note; "
            "give each note its own id (a retry of the same note is fine)"
        )

    return await lifecycle_write(db, "add_note", run_id, work)


async def get_notes(
    db: Executor,
    run_id: str,
    *,
    undelivered_only: bool = False,
    tenant_id: TenantScope = UNSCOPED,
) -> list[NoteRecord]:
    """A run's notes ordered by ``(created_at, id)``; with a tenant scope (``None``
    included) none unless the run belongs to exactly that tenant."""
    run_id = check_required_id("run_id", run_id)
    undelivered = check_bool("undelivered_only", undelivered_only)
    scope = check_scope("tenant_id", tenant_id)
    async with reading(db) as conn:
        rows: list[Any] = await note_rows(conn, run_id, undelivered, scope)
        ts, js = conn.dialect.read_ts, conn.dialect.read_json
        return [NoteRecord(r[0], r[1], r[2], js(r[3]), ts(r[4]), ts(r[5]), r[6]) for r in rows]


async def mark_notes_delivered(
    db: Executor, run_id: str, note_ids: list[str], *, iteration: int
) -> int:
    """Stamp ``delivered_at`` (now) and ``delivered_iteration`` on those of ``note_ids``
    that are the run's and still undelivered; how many were stamped."""
    run_id = check_required_id("run_id", run_id)
    ids = [
        check_required_id(f"note_ids[{i}]", v)
        for i, v in enumerate(check_list("note_ids", note_ids))
    ]
    iteration = check_required_index("iteration", iteration)
    if not ids:
        return 0

    async def work(conn: Connection) -> int:
        bound = conn.dialect.text_list(ids)
        stamped = await conn.fetch_all("mark_notes_delivered", run_id, bound, now_utc(), iteration)
        return len(stamped)

    return await lifecycle_write(db, "mark_notes_delivered", run_id, work)


__all__ = ["add_note", "get_notes", "mark_notes_delivered"]
