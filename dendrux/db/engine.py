"""The interfaces both dialects implement; no implementation lives here.

An `Engine` knows its dialect, hands out connections (`connect()` for reads,
`transaction()` for atomic writes), runs write units (`write()`, see
`dendrux.db.writes` and the one policy in `dendrux.db.units`) and is disposed
with `dispose()`. A `Connection` runs *named* queries only: SQL text never
comes from callers. Driver exceptions are wrapped into `dendrux.errors` by
each dialect's connection, so the layers above never see a driver type.
Every extension point is declared here, so callers never probe an engine.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from dendrux.db.jsoncodec import decode_json
from dendrux.db.queries import DialectName, load_queries
from dendrux.errors import StoreClosedError

if TYPE_CHECKING:
    import asyncio

    from dendrux.db.writes import UnitResult, WriteUnit

__all__ = [
    "Connection",
    "Dialect",
    "Engine",
    "Row",
    "RunEventWakeups",
    "decode_json",
    "utc_from_naive_or_aware",
]

Row = Mapping[str, Any]


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


@runtime_checkable
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
    schema: str | None = None
    """The PostgreSQL schema (namespace) holding the tables, when one was configured."""

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

    @abstractmethod
    async def write(self, unit: WriteUnit) -> UnitResult:
        """Run a write unit with the one policy of `dendrux.db.units` (each dialect
        drives it its fastest way: group commit, one-statement forms)."""

    @abstractmethod
    def migration_transaction(self) -> AbstractAsyncContextManager[Connection]:
        """A transaction that skips the schema check; only `dendrux.db.upgrade` uses it."""

    async def run_event_wakeups(self) -> RunEventWakeups | None:
        """Push notifications of new run events, or None where readers must poll."""
        return None

    def forget_schema_check(self) -> None:
        """Check the schema version again on next use (called by `dendrux.db.upgrade`
        after it migrated); engines that check once per process override it."""
        return None

    @abstractmethod
    async def dispose(self) -> None:
        """Close what this engine owns; using it afterwards raises StoreClosedError."""

    _closed: bool = False

    @property
    def closed(self) -> bool:
        """True once `dispose` ran."""
        return self._closed

    def _check_open(self) -> None:
        """Refuse work after `dispose`: an engine never reconnects silently."""
        if self._closed:
            raise StoreClosedError(f"the engine for {self.url} was disposed")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"  # the masked URL: safe anywhere

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.dispose()
