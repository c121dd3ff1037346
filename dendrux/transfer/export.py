"""``export_run``: one run (optionally with its delegated subtree) as export-file lines.

Lines are produced a page of rows at a time on one read connection, so a long
run never sits in memory whole. Runs come first, parents before children, then
each run's rows table by table in the order readers list them. A run that is
still being written while it is exported may be caught mid-way: the file then
holds what was committed when each page was read (it still imports cleanly).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from dendrux.db.engine import Connection, Dialect, Row
from dendrux.errors import RunNotFoundError
from dendrux.read.delegation import MAX_DELEGATION_DEPTH
from dendrux.state._executor import Executor, reading
from dendrux.transfer.format import (
    FORMAT,
    RUNS,
    TABLES,
    VERSION,
    Kind,
    Table,
    dump_line,
    dump_row,
    timestamp_text,
)
from dendrux.validation import check_bool, check_int, check_required_id

PAGE_SIZE = 500
"""Rows read per statement."""
_FIRST_INDEX = -(2**63)  # below every order/sequence index


def _readers(dialect: Dialect) -> dict[Kind, Callable[[Any], Any]]:
    """Per kind: a stored value as the file writes it (NULL stays None)."""
    read_ts = dialect.read_ts

    def ts(value: Any) -> str:
        parsed = read_ts(value)
        assert parsed is not None  # callers pass non-NULL values only
        return timestamp_text(parsed)

    return {
        "id": str,
        "text": str,
        "int": int,
        "bigint": int,
        "float": float,
        "bool": dialect.read_bool,
        "ts": ts,
        "json": dialect.read_json,
    }


def _row_document(
    table: Table, row: Row, readers: dict[Kind, Callable[[Any], Any]]
) -> dict[str, Any]:
    values: Any = row  # rows index by position
    document: dict[str, Any] = {}
    for i, column in enumerate(table.columns):
        value = values[i]
        document[column.name] = None if value is None else readers[column.kind](value)
    return document


async def _pages(conn: Connection, table: Table, run_id: str, page_size: int) -> AsyncIterator[Row]:
    """A run's rows of one table, a page per statement, keyset-paged in file order."""
    if table.cursor in ("order_index", "sequence_index"):
        after: int = _FIRST_INDEX
        at = [c.name for c in table.columns].index(table.cursor)
        while True:
            rows = await conn.fetch_all(table.page_query, run_id, after, page_size)
            for row in rows:
                yield row
            if len(rows) < page_size:
                return
            last: Any = rows[-1]
            after = int(last[at])
    created_at: Any = None  # the stored value, passed back as it came
    last_id: str | None = None
    at = [c.name for c in table.columns].index("created_at")
    while True:
        rows = await conn.fetch_all(table.page_query, run_id, created_at, last_id, page_size)
        for row in rows:
            yield row
        if len(rows) < page_size:
            return
        last = rows[-1]
        created_at, last_id = last[at], last[0]


async def export_run(
    db: Executor,
    run_id: str,
    *,
    subtree: bool = False,
    without_pii: bool = False,
    page_size: int = PAGE_SIZE,
) -> AsyncIterator[str]:
    """The export file of a run as lines (without newlines): a header, every row, a
    trailer. ``subtree``: every delegated descendant too. ``without_pii``: each run's
    ``pii_mapping`` written as null. Raises `RunNotFoundError` before the first line
    when the run does not exist."""
    from dendrux import __version__

    run_id = check_required_id("run_id", run_id)
    subtree = check_bool("subtree", subtree)
    without_pii = check_bool("without_pii", without_pii)
    page_size = check_int("page_size", page_size, minimum=1, maximum=10_000) or PAGE_SIZE
    async with reading(db) as conn:
        if subtree:
            tree = await conn.fetch_all("transfer_run_tree", run_id, MAX_DELEGATION_DEPTH)
            found: Any = tree
            run_ids = [str(r[0]) for r in found]
        else:
            exists = await conn.fetch_value("run_exists", run_id, None)
            run_ids = [run_id] if exists else []
        if not run_ids:
            raise RunNotFoundError(run_id)
        readers = _readers(conn.dialect)
        yield dump_line(
            {
                "format": FORMAT,
                "version": VERSION,
                "dendrux_version": __version__,
                "source_dialect": conn.dialect.name,
                "exported_at": timestamp_text(datetime.now(UTC)),
                "root_run_id": run_id,
                "run_ids": run_ids,
                "subtree": subtree,
                "without_pii": without_pii,
            }
        )
        count = 0
        for rid in run_ids:
            row = await conn.fetch_one(RUNS.page_query, rid)
            if row is None:  # deleted since the tree was read
                continue
            document = _row_document(RUNS, row, readers)
            if without_pii:
                document["pii_mapping"] = None
            count += 1
            yield dump_row(RUNS.name, document)
        for rid in run_ids:
            for table in TABLES[1:]:
                async for row in _pages(conn, table, rid, page_size):
                    count += 1
                    yield dump_row(table.name, _row_document(table, row, readers))
        yield dump_line({"end": True, "rows": count})


__all__ = ["PAGE_SIZE", "export_run"]
