"""The engine and connection interface both dialects implement.

An `Engine` knows its dialect, hands out connections (`connect()` for reads,
`transaction()` for atomic writes), runs write units (`write()`, see
`dendrux.db.writes`) and is disposed with `dispose()`. A `Connection` runs
*named* queries only: SQL text never comes from callers. Driver exceptions
are wrapped into `dendrux.errors` exactly here, so the layers above never
see a driver type.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from json.scanner import make_scanner
from typing import TYPE_CHECKING, Any, Protocol

from dendrux.db.queries import DialectName, load_queries
from dendrux.db.writes import UnitResult, Write, WriteUnit, may_skip

if TYPE_CHECKING:
    import asyncio

Row = Mapping[str, Any]

_scan_json: Any = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]  # typeshed: a class


def decode_json(text: str | bytes) -> Any:
    """``json.loads`` for a stored JSON column, about twice as fast on the compact text
    we store: the decoder's scanner straight away, without the two whitespace regex
    matches around it; anything else (padding, bytes, bad JSON) goes to ``json.loads``,
    which decodes it or raises exactly as it always does."""
    if text.__class__ is str:
        try:
            value, end = _scan_json(text, 0)
        except StopIteration:
            return json.loads(text)
        if end == len(text):
            return value
    return json.loads(text)


class Dialect(ABC):
    """What differs between SQLite and PostgreSQL beyond SQL text."""

    name: DialectName

    def __init__(self) -> None:
        self.queries = load_queries(self.name)

    def sql(self, name: str) -> str:
        """The statement of a named query."""
        try:
            return self.queries[name]
        except KeyError:
            raise KeyError(f"no query named {name!r} for {self.name}") from None

    @abstractmethod
    def text_list(self, values: Sequence[str] | None) -> Any:
        """A list-of-text parameter (``text[]`` on PostgreSQL, a JSON array on SQLite)."""

    @abstractmethod
    def read_ts(self, value: Any) -> datetime | None:
        """A stored timestamp as an aware UTC datetime."""

    def read_json(self, value: Any) -> Any:
        """A stored JSON column as Python values."""
        if value is None:
            return None
        if isinstance(value, str | bytes):
            return decode_json(value)
        return value

    def read_bool(self, value: Any) -> bool:
        """A stored boolean."""
        return bool(value)

    @property
    def metadata_index(self) -> bool:
        """Whether metadata filters run the ``*_by_meta`` queries, which an index serves
        (PostgreSQL's GIN index on ``meta``; SQLite's ``agent_run_meta`` table)."""
        return True


def utc_from_naive_or_aware(value: datetime) -> datetime:
    """Naive values (older schemas) are UTC by convention."""
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class Connection(Protocol):
    """A connection (possibly inside a transaction) that runs named queries."""

    @property
    def dialect(self) -> Dialect:
        """The dialect whose SQL this connection runs."""
        ...

    async def execute(self, query: str, *args: Any) -> None:
        """Run a named statement, ignoring any result."""
        ...

    async def fetch_one(self, query: str, *args: Any) -> Row | None:
        """First row of a named query, or None."""
        ...

    async def fetch_all(self, query: str, *args: Any) -> list[Row]:
        """All rows of a named query."""
        ...

    async def fetch_value(self, query: str, *args: Any) -> Any:
        """First column of the first row, or None."""
        ...

    async def execute_many(self, query: str, args: Sequence[Sequence[Any]]) -> None:
        """Run a named statement once per argument tuple."""
        ...

    async def execute_script(self, script: str) -> None:
        """Run a trusted multi-statement script (migrations only)."""
        ...


class RunEventWakeups(Protocol):
    """Wakes streaming readers when a run gets a new event (PostgreSQL LISTEN/NOTIFY)."""

    def subscribe(self, run_id: str) -> asyncio.Event:
        """An event set whenever ``run_id`` may have new rows (and on reconnects)."""
        ...

    def unsubscribe(self, run_id: str, wakeup: asyncio.Event) -> None:
        """Stop waking ``wakeup``."""
        ...


class Engine(ABC):
    """A database the library can read and write; created by `create_engine`."""

    dialect: Dialect
    url: str
    """The URL with the password masked; safe to log."""

    @abstractmethod
    def connect(self) -> AbstractAsyncContextManager[Connection]:
        """A connection for reads (autocommit, no transaction held)."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """A connection inside a transaction: committed on exit, rolled back on error."""

    @abstractmethod
    def autocommit(self) -> AbstractAsyncContextManager[Connection]:
        """A connection for writes where each statement commits on its own.

        Saves the BEGIN/COMMIT round trips of a one-statement write; anything
        that must be atomic across statements uses `transaction` instead.
        """

    async def write(self, unit: WriteUnit) -> UnitResult:
        """Run a write unit with the policy of `dendrux.db.writes`.

        This general path sends each best-effort write on its own and the
        fail-closed ones together (one transaction, or one autocommit
        statement when there is only one); dialects override it with faster
        paths of the same meaning.
        """
        values: list[Any] = [None] * len(unit.writes)
        skipped: list[tuple[str, Any]] = []
        required = unit.required
        i = 0
        while i < len(unit.writes):
            if required and i == required.start:
                opened = self.transaction() if len(required) > 1 else self.autocommit()
                async with opened as conn:
                    for j in required:
                        values[j] = await run_write(conn, unit.writes[j])
                i = required.stop
                continue
            write = unit.writes[i]
            try:
                async with self.autocommit() as conn:
                    values[i] = await run_write(conn, write)
            except Exception as exc:
                if not may_skip(exc):
                    raise
                skipped.append((write.label, exc))
            i += 1
        return UnitResult(tuple(values), tuple(skipped))

    @abstractmethod
    def migration_transaction(self) -> AbstractAsyncContextManager[Connection]:
        """A transaction that skips the schema check; only `dendrux.db.upgrade` uses it."""

    async def run_event_wakeups(self) -> RunEventWakeups | None:
        """Push notifications of new run events, or None where readers must poll."""
        return None

    @abstractmethod
    async def dispose(self) -> None:
        """Close what this engine owns; using it afterwards raises StoreClosedError."""

    @property
    @abstractmethod
    def closed(self) -> bool:
        """True once `dispose` ran."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"  # the masked URL: safe anywhere

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.dispose()


async def run_write(conn: Connection, write: Write) -> Any:
    """One write on a connection: its value, or its own id when a retry finds its
    row already stored; `SlotTakenError` when another row holds the slot."""
    value = await conn.fetch_value(write.query, *write.args)
    if value is None and write.own_row_query is not None:
        if not await conn.fetch_value(write.own_row_query, write.args[0]):
            raise write.taken()
        return write.args[0]
    return value


async def run_unit_on(conn: Connection, unit: WriteUnit) -> UnitResult:
    """A unit on a connection the caller holds, inside whatever transaction it
    has: the writes in order, any failure raised (only the owner of a
    transaction can apply a policy to it)."""
    return UnitResult(tuple([await run_write(conn, w) for w in unit.writes]))
