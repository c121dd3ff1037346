"""How store functions reach the database: through an engine, or the caller's connection.

Store functions take either an `Engine` (they hand it write units or open
what they need and, for lifecycle writes, retry transient failures) or a
`Connection` the caller already holds (they join its transaction and never
retry: only the owner of a transaction can retry it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from dendrux.db.engine import Connection, Dialect, Engine
from dendrux.db.units import drive_unit_on
from dendrux.db.writes import UnitResult, WriteUnit
from dendrux.durability import retry_critical
from dendrux.errors import InvalidArgumentTypeError

T = TypeVar("T")

Executor = Engine | Connection
"""An engine, or a connection (possibly inside the caller's transaction)."""


def _check(db: object) -> None:
    if not isinstance(db, Engine) and not isinstance(db, Connection):
        raise InvalidArgumentTypeError(
            f"db must be a dendrux Engine or Connection, got {type(db).__name__}"
        )


def dialect_of(db: Executor) -> Dialect:
    """The dialect whose SQL ``db`` runs (for parameters whose form differs)."""
    _check(db)
    return db.dialect


async def write_unit(db: Executor, unit: WriteUnit) -> UnitResult:
    """A unit through the engine (policy, group commit, one-statement forms), or as
    plain statements on the caller's connection, inside its transaction."""
    _check(db)
    if isinstance(db, Engine):
        return await db.write(unit)
    return await drive_unit_on(db, unit)


async def retried(db: Executor, label: str, run_id: str, attempt: Callable[[], Awaitable[T]]) -> T:
    """``attempt()``, retried like the recorder's writes when the engine is ours to
    retry on (a caller's connection is tried once)."""
    if isinstance(db, Engine):
        return await retry_critical(attempt, label=label, run_id=run_id)
    return await attempt()


async def lifecycle_unit(db: Executor, label: str, run_id: str, unit: WriteUnit) -> UnitResult:
    """A lifecycle write unit, retried on transient failures (see `retried`)."""
    return await retried(db, label, run_id, lambda: write_unit(db, unit))


@asynccontextmanager
async def writing(db: Executor, *, atomic: bool = False) -> AsyncIterator[Connection]:
    """A connection for writes: a transaction when ``atomic``, else each statement
    commits on its own (one-statement writes need no BEGIN/COMMIT). A caller's
    connection is used as it is, inside whatever transaction it holds."""
    _check(db)
    if isinstance(db, Engine):
        async with db.transaction() if atomic else db.autocommit() as conn:
            yield conn
    else:
        yield db


@asynccontextmanager
async def reading(db: Executor) -> AsyncIterator[Connection]:
    """A connection for reads."""
    _check(db)
    if isinstance(db, Engine):
        async with db.connect() as conn:
            yield conn
    else:
        yield db


async def lifecycle_write(
    db: Executor,
    label: str,
    run_id: str,
    work: Callable[[Connection], Awaitable[T]],
    *,
    atomic: bool = False,
) -> T:
    """Run ``work`` on one connection (in a transaction when ``atomic``), retried
    (see `retried`): for writes that decide what to write as they go."""

    async def attempt() -> T:
        async with writing(db, atomic=atomic) as conn:
            return await work(conn)

    return await retried(db, label, run_id, attempt)
