"""What runs on SQLite's writer thread: groups of write units in one transaction.

The units that concurrent callers queue while the writer is busy run
together, in one thread hop, inside one transaction, so they share one fsync.
Each unit is the one policy of `dendrux.db.units`, driven here with plain
sqlite3 calls: its fail-closed block is a savepoint (a unit that fails
logically rolls back alone), a best-effort statement needs none (a failed
SQLite statement undoes only itself). Every caller resumes only after the
commit that holds its rows.
"""

from __future__ import annotations

import sqlite3
from contextlib import suppress
from typing import Any

from dendrux.db.sqlite.dialect import SqliteDialect, wrap_sqlite_error
from dendrux.db.units import KEEP, OPEN, UNDO, Statement, unit_steps
from dendrux.db.writes import Outcome, UnitResult, WriteUnit
from dendrux.errors import DatabaseError, DendruxError

_BLOCK_QUERIES = {
    OPEN: ("savepoint",),
    KEEP: ("release_savepoint",),
    # UNDO: the savepoint's writes go, the savepoint with them.
    UNDO: ("rollback_to_savepoint", "release_savepoint"),
}


def run_unit(
    conn: sqlite3.Connection, dialect: SqliteDialect, unit: WriteUnit, url: str, *, grouped: bool
) -> UnitResult:
    """One unit's steps on the writer thread. When a statement's failure ended the
    whole group transaction (an I/O error, a trigger's RAISE(ROLLBACK)), it is not
    one row's failure to skip or undo: the unit fails with it at once."""
    steps = unit_steps(unit)
    sql = dialect.sql
    bind = dialect.bind
    try:
        step = next(steps)
        while True:
            if isinstance(step, Statement):
                try:
                    rows = conn.execute(sql(step.query), bind(step.args)).fetchall()
                except Exception as exc:
                    error = caused(exc, url)
                    if grouped and not conn.in_transaction:
                        steps.close()
                        raise error from exc
                    step = steps.throw(error)
                    continue
                step = steps.send(rows[0][0] if rows else None)
            else:
                for query in _BLOCK_QUERIES[step]:
                    conn.execute(sql(query))
                step = steps.send(None)
    except StopIteration as stop:
        result: UnitResult = stop.value
        return result


def commit_on_writer_thread(
    conn: sqlite3.Connection, dialect: SqliteDialect, units: list[WriteUnit], url: str
) -> list[Outcome]:
    """Every unit in one transaction, on the writer thread; an outcome per unit, its
    errors already dendrux errors.

    A lone one-write unit commits on its own (no BEGIN/COMMIT to send). If a
    member's failure ended the whole transaction, the members whose work it
    took with it run again in a new one; only the failed member keeps its error.
    """
    outcomes: list[Any] = [None] * len(units)
    if len(units) == 1 and len(units[0].writes) == 1:
        try:
            outcomes[0] = run_unit(conn, dialect, units[0], url, grouped=False)
        except Exception as exc:
            outcomes[0] = caused(exc, url)
        return outcomes
    if conn.in_transaction:
        error = DatabaseError(
            "the connection already has an open transaction; commit it before handing "
            "the connection to dendrux"
        )
        return [error] * len(units)
    todo = list(range(len(units)))
    while todo:
        try:
            conn.execute(dialect.sql("begin_immediate"))
        except Exception as exc:
            for i in todo:
                outcomes[i] = caused(exc, url)
            break
        lost = False
        for i in todo:
            try:
                outcomes[i] = run_unit(conn, dialect, units[i], url, grouped=True)
            except Exception as exc:
                outcomes[i] = caused(exc, url)
                if not conn.in_transaction:
                    todo = [j for j in todo if j != i and not isinstance(outcomes[j], Exception)]
                    lost = True
                    break
        if lost:
            continue
        try:
            conn.execute(dialect.sql("commit"))
        except Exception as exc:
            if conn.in_transaction:
                with suppress(Exception):
                    conn.execute(dialect.sql("rollback"))
            for i in todo:
                if not isinstance(outcomes[i], Exception):
                    outcomes[i] = caused(exc, url)
        break
    return outcomes


def caused(exc: Exception, url: str) -> DendruxError:
    """`wrap_sqlite_error` for an error caught on the writer thread: the original is
    kept as ``__cause__``, as ``raise ... from`` does."""
    wrapped = wrap_sqlite_error(exc, url)
    if wrapped is not exc:
        wrapped.__cause__ = exc
    return wrapped
