"""How store functions get a connection: from an engine, or the caller's own.

Store functions take either an `Engine` (they open what they need and, for
lifecycle writes, retry transient failures) or a `Connection` the caller
already holds (they join its transaction and never retry: only the owner of
a transaction can retry it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from dendrux.db.engine import Connection, Engine
from dendrux.durability import retry_critical
from dendrux.errors import InvalidArgumentTypeError

T = TypeVar("T")

Executor = Engine | Connection
"""An engine, or a connection (possibly inside the caller's transaction)."""


def _check(db: object) -> None:
    if not isinstance(db, Engine) and not hasattr(db, "fetch_all"):
        raise InvalidArgumentTypeError(
            f"db must be a dendrux Engine or Connection, got {type(db).__name__}"
        )


@asynccontextmanager
async def writing(db: Executor) -> AsyncIterator[Connection]:
    """A connection inside a transaction."""
    _check(db)
    if isinstance(db, Engine):
        async with db.transaction() as conn:
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
    db: Executor, label: str, run_id: str, work: Callable[[Connection], Awaitable[T]]
) -> T:
    """Run ``work`` in a transaction; retried like the recorder when we own it."""

    async def attempt() -> T:
        async with writing(db) as conn:
            return await work(conn)

    if isinstance(db, Engine):
        return await retry_critical(attempt, label=label, run_id=run_id)
    return await attempt()
