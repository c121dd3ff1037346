"""What runs on SQLite's writer thread: groups of write units in one transaction.

The units that concurrent callers queue while the writer is busy run
together, in one thread hop, inside one transaction, so they share one fsync.
Each unit is the one policy of `dendrux.db.units`, driven here with plain
sqlite3 calls: its fail-closed block is a savepoint (a unit that fails
logically rolls back alone), a best-effort statement needs none (a failed
SQLite statement undoes only itself). Every caller resumes only after the
commit that holds its rows.

The writer thread holds the GIL while it runs Python, so every microsecond
spent here is taken from the event loop that prepares the next units: a unit
whose statements all succeed runs in a plain loop (`run_unit`), and only a
unit that meets a failure or an insert that stored nothing is handed to the
policy's generator, which replays what already ran (`_finish_with_policy`).
"""

from __future__ import annotations

import sqlite3
from contextlib import suppress
from typing import Any

from dendrux.db.sqlite.dialect import SqliteDialect, wrap_sqlite_error
from dendrux.db.units import KEEP, OPEN, UNDO, Statement, Step, Steps, unit_steps
from dendrux.db.writes import Outcome, UnitResult, WriteUnit
from dendrux.errors import DatabaseError, DendruxError

_BLOCK_QUERIES = {
    OPEN: ("savepoint",),
    KEEP: ("release_savepoint",),
    # UNDO: the savepoint's writes go, the savepoint with them.
    UNDO: ("rollback_to_savepoint", "release_savepoint"),
}

_NOTHING = object()
"""Where the plain loop stopped: an insert that returned no row (no error to throw)."""


def run_unit(
    conn: sqlite3.Connection, dialect: SqliteDialect, unit: WriteUnit, url: str, *, grouped: bool
) -> UnitResult:
    """One unit on the writer thread, in the steps `unit_steps` would take.

    Statements run in a plain loop while each succeeds with its row; the block's
    savepoint opens and closes where the policy opens and keeps it. At the first
    failure or empty insert the policy takes over from that point. When a
    statement's failure ended the whole group transaction (an I/O error, a
    trigger's RAISE(ROLLBACK)), it is not one row's failure to skip or undo: the
    unit fails with it at once."""
    queries = dialect.queries
    bind = dialect.bind
    execute = conn.execute
    writes = unit.writes
    required = unit.required
    opens = keeps = -1
    if len(required) > 1:
        opens, keeps = required.start, required.stop - 1
    values: list[Any] = []
    for i, write in enumerate(writes):
        if i == opens:
            execute(queries["savepoint"])
        try:
            rows = execute(queries[write.query], bind(write.args)).fetchall()
        except Exception as exc:
            error = caused(exc, url)
            if grouped and not conn.in_transaction:
                raise error from exc
            return _finish_with_policy(conn, dialect, unit, url, values, error, grouped=grouped)
        value = rows[0][0] if rows else None
        if value is None and write.own_row_query is not None:
            return _finish_with_policy(conn, dialect, unit, url, values, _NOTHING, grouped=grouped)
        values.append(value)
        if i == keeps:
            execute(queries["release_savepoint"])
    return UnitResult(tuple(values))


def _finish_with_policy(
    conn: sqlite3.Connection,
    dialect: SqliteDialect,
    unit: WriteUnit,
    url: str,
    done: list[Any],
    stopped: object,
    *,
    grouped: bool,
) -> UnitResult:
    """The policy's generator from where the plain loop stopped: the steps that
    already ran are replayed without running them again (each statement gets the
    value it returned), the stopping statement gets its error or its empty
    result, and the rest is driven as usual."""
    steps = unit_steps(unit)
    try:
        step = next(steps)
        replayed = 0
        while not isinstance(step, Statement) or replayed < len(done):
            if isinstance(step, Statement):
                step = steps.send(done[replayed])
                replayed += 1
            else:  # OPEN or KEEP, run already by the plain loop
                step = steps.send(None)
        if step.query != unit.writes[replayed].query:  # pragma: no cover
            raise AssertionError("the writer's plain loop left the unit policy's steps")
        if stopped is _NOTHING:
            step = steps.send(None)
        else:
            assert isinstance(stopped, Exception)
            step = steps.throw(stopped)
        _drive(conn, dialect, steps, step, url, grouped=grouped)
    except StopIteration as stop:
        result: UnitResult = stop.value
        return result
    raise AssertionError("unreachable: the policy ends with StopIteration")  # pragma: no cover


def _drive(
    conn: sqlite3.Connection,
    dialect: SqliteDialect,
    steps: Steps,
    step: Step,
    url: str,
    *,
    grouped: bool,
) -> None:
    """The policy's steps from ``step`` on, each run on ``conn``, until the generator
    ends with StopIteration carrying the unit's result."""
    sql = dialect.sql
    bind = dialect.bind
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
