"""SQLite through aiosqlite: one writer, a few readers, WAL.

Writes are serialised in-process on the single writer connection and run
inside ``BEGIN IMMEDIATE`` (so another process's writer waits on the busy
timeout instead of failing half-way). Readers use their own connections and
never block on the writer. ``synchronous=FULL`` is the default: an audit
trail must survive power loss.

Write units (`dendrux.db.writes`) are group-committed: the units that
concurrent callers queue while the writer is busy run together, in one
thread hop, inside one transaction, so they share one fsync; each unit's
fail-closed writes sit in a savepoint, so a unit that fails logically
rolls back alone, and every caller resumes only after the commit that holds
its rows. This module must never be imported unless a SQLite URL is used
(it imports aiosqlite).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiosqlite

from dendrux.db.engine import (
    Connection,
    Dialect,
    Engine,
    Row,
    decode_json,
    utc_from_naive_or_aware,
)
from dendrux.db.group import GroupCommit
from dendrux.db.options import bool_option, int_option, seconds_option
from dendrux.db.urls import DatabaseURL
from dendrux.db.writes import Outcome, UnitResult, Write, WriteUnit, may_skip
from dendrux.errors import (
    DatabaseError,
    DatabaseLocationError,
    DatabaseMissingError,
    DendruxError,
    IntegrityError,
    InvalidArgumentError,
    ReadOnlyDatabaseError,
    StoreClosedError,
    TransientDatabaseError,
)

_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_READONLY = 8
_SQLITE_CANTOPEN = 14
_SQLITE_CONSTRAINT = 19
_parse_iso = datetime.fromisoformat
_loads = decode_json
_SYNCHRONOUS = {
    "FULL": "synchronous_full",
    "NORMAL": "synchronous_normal",
    "OFF": "synchronous_off",
}


def read_sqlite_timestamp(value: Any) -> datetime | None:
    """A stored timestamp as an aware UTC datetime: our aware UTC text parses to the UTC
    singleton in one C call; naive (upstream) text is UTC by convention."""
    if value.__class__ is str:
        parsed = _parse_iso(value)
        return parsed if parsed.tzinfo is UTC else utc_from_naive_or_aware(parsed)
    if value is None:
        return None
    if isinstance(value, datetime):
        return utc_from_naive_or_aware(value)
    return utc_from_naive_or_aware(_parse_iso(value))


def read_sqlite_json(value: Any) -> Any:
    """A stored JSON column: text on our schema; the upstream schema's NUMERIC-affinity
    JSON columns may hand back numbers, which are the values themselves."""
    if value.__class__ is str:
        return _loads(value)
    if value is None or not isinstance(value, bytes):
        return value
    return _loads(value)


class SqliteDialect(Dialect):
    """SQLite: timestamps as ISO-8601 text, lists as JSON arrays.

    ``naive_timestamps``: the database stores naive UTC ``YYYY-MM-DD
    HH:MM:SS.ffffff`` text (the upstream schema), so bound datetimes are
    written that way too and text comparisons stay correct.
    """

    name = "sqlite"
    naive_timestamps = False

    def bind(self, args: Sequence[Any]) -> tuple[Any, ...]:
        """Parameters as sqlite3 takes them: datetimes become the database's text form."""
        for arg in args:
            if isinstance(arg, datetime):
                break
        else:
            return tuple(args)  # most reads bind no datetime: nothing to rebuild
        text = _naive_text if self.naive_timestamps else sqlite_timestamp
        return tuple([text(a) if isinstance(a, datetime) else a for a in args])

    def text_list(self, values: Sequence[str] | None) -> Any:
        return None if values is None else json.dumps(list(values))

    @property
    def metadata_index(self) -> bool:
        # An upstream-schema database (read as it is) has no agent_run_meta table.
        return not self.naive_timestamps

    # Both readers run once per value of every row read, so they are plain functions
    # (no method binding per call) with the common case first.
    read_ts = staticmethod(read_sqlite_timestamp)
    read_json = staticmethod(read_sqlite_json)


def _naive_text(value: datetime) -> str:
    """Upstream form; whole seconds without a fraction, as that schema may store them,
    so text comparison orders ``10:00:00`` and ``10:00:00.500000`` correctly."""
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{value.microsecond:06d}" if value.microsecond else text


def sqlite_timestamp(value: datetime) -> str:
    """Fixed-width UTC text, so text order is time order."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")


def sqlite_location_error(path: str | None, url: str, detail: object) -> DatabaseError:
    """Why SQLite cannot open ``path``, read from the file system (each cause has its
    own fix). Never transient: a retry meets the same directory."""
    if path is None or path == ":memory:":
        return DatabaseLocationError(
            f"cannot open SQLite database {url} ({detail}); check that its directory "
            "exists and is writable"
        )
    target = Path(path)
    where = f"cannot use SQLite database {url}"
    try:
        if target.is_dir():
            return DatabaseLocationError(
                f"{where}: {path} is a directory; name a file inside it instead, "
                f"e.g. {target / 'dendrux.db'}"
            )
        ancestor = _nearest_existing(target.parent)
        if not ancestor.is_dir():
            return DatabaseLocationError(
                f"{where}: {ancestor} is a file, not a directory; choose a path whose "
                "parents are directories"
            )
        if ancestor != target.parent:
            return DatabaseLocationError(
                f"{where}: its directory {target.parent} does not exist and cannot be "
                f"created ({detail}); create it, or choose another location"
            )
    except OSError:  # an unreadable parent: the generic advice below still applies
        pass
    name = target.name
    return ReadOnlyDatabaseError(
        f"{where}: {path} cannot be opened for writing ({detail}); the file or its "
        f"directory {target.parent} is not writable (SQLite also keeps {name}-wal and "
        f"{name}-shm beside it): make them writable, or choose another location"
    )


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def wrap_sqlite_error(exc: Exception, url: str, path: str | None = None) -> DendruxError:
    """The dendrux error for a sqlite3/aiosqlite failure (the original is kept as cause);
    ``path``, when known, lets a file that cannot be opened say why."""
    if isinstance(exc, DendruxError):
        return exc
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if isinstance(exc, sqlite3.IntegrityError) or primary == _SQLITE_CONSTRAINT:
        return IntegrityError(f"{url}: constraint violated: {exc}")
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return TransientDatabaseError(
            f"{url}: database is locked by another writer beyond the busy timeout ({exc}); "
            "retry, or raise busy_timeout"
        )
    if primary == _SQLITE_READONLY:
        return ReadOnlyDatabaseError(
            f"{url} is read-only ({exc}); make the file and its directory writable, "
            "or open it for reading only"
        )
    if primary == _SQLITE_CANTOPEN:
        return sqlite_location_error(path, url, exc)
    return DatabaseError(f"{url}: {type(exc).__name__}: {exc}")


T = TypeVar("T")


async def in_connection_thread(raw: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
    """``fn(sqlite3_connection, *args)`` on the connection's own thread, in one hop.

    aiosqlite has no public call for this; ``_execute`` and ``_conn`` have been
    its queueing primitive since its first releases (tests/test_write_units.py
    checks they are there, so an aiosqlite that drops them fails loudly).
    """
    return await raw._execute(fn, raw._conn, *args)  # type: ignore[no-untyped-call,no-any-return]


# -- group commit: what runs on the writer's thread ------------------------------------


def _run_write(conn: sqlite3.Connection, dialect: SqliteDialect, write: Write) -> Any:
    """`dendrux.db.engine.run_write`, on the writer thread."""
    rows = conn.execute(dialect.sql(write.query), dialect.bind(write.args)).fetchall()
    value = rows[0][0] if rows else None
    if value is None and write.own_row_query is not None:
        if not conn.execute(dialect.sql(write.own_row_query), (write.args[0],)).fetchone()[0]:
            raise write.taken()
        return write.args[0]
    return value


def _run_unit(
    conn: sqlite3.Connection, dialect: SqliteDialect, unit: WriteUnit, url: str, *, grouped: bool
) -> UnitResult:
    """One unit's writes: the fail-closed ones inside a savepoint when there are
    several, a best-effort one skipped (`may_skip`) when it is refused for a logical
    reason (a failed statement undoes only itself) while the transaction goes on."""
    values: list[Any] = []
    skipped: list[tuple[str, DendruxError]] = []
    required = unit.required
    guarded = len(required) > 1
    for i, write in enumerate(unit.writes):
        if guarded and i == required.start:
            conn.execute(dialect.sql("savepoint"))
        try:
            values.append(_run_write(conn, dialect, write))
        except Exception as exc:
            if write.best_effort and (conn.in_transaction or not grouped):
                error = _caused(exc, url)
                if may_skip(error):
                    skipped.append((write.label, error))
                    values.append(None)
                    continue
            if guarded and required.start <= i < required.stop and conn.in_transaction:
                conn.execute(dialect.sql("rollback_to_savepoint"))
                conn.execute(dialect.sql("release_savepoint"))
            raise
        if guarded and i == required.stop - 1:
            conn.execute(dialect.sql("release_savepoint"))
    return UnitResult(tuple(values), tuple(skipped))


def _commit_on_writer_thread(
    conn: sqlite3.Connection, dialect: SqliteDialect, units: list[WriteUnit], url: str
) -> list[Outcome]:
    """Every unit in one transaction, on the writer thread; an outcome per unit, its
    errors already dendrux errors.

    A lone one-write unit commits on its own (no BEGIN/COMMIT to send). If a
    member's failure ended the whole transaction (an I/O error, a trigger's
    RAISE(ROLLBACK)), the members whose work it took with it run again in a
    new one; only the failed member keeps its error.
    """
    outcomes: list[Outcome | None] = [None] * len(units)
    if len(units) == 1 and len(units[0].writes) == 1:
        try:
            outcomes[0] = _run_unit(conn, dialect, units[0], url, grouped=False)
        except Exception as exc:
            outcomes[0] = _caused(exc, url)
        return outcomes  # type: ignore[return-value]
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
                outcomes[i] = _caused(exc, url)
            break
        lost = False
        for i in todo:
            try:
                outcomes[i] = _run_unit(conn, dialect, units[i], url, grouped=True)
            except Exception as exc:
                outcomes[i] = _caused(exc, url)
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
                    outcomes[i] = _caused(exc, url)
        break
    return outcomes  # type: ignore[return-value]


def _caused(exc: Exception, url: str) -> DendruxError:
    """`wrap_sqlite_error` for an error caught elsewhere (on the writer thread): the
    original is kept as ``__cause__``, as ``raise ... from`` does."""
    wrapped = wrap_sqlite_error(exc, url)
    if wrapped is not exc:
        wrapped.__cause__ = exc
    return wrapped


class SqliteConnection:
    """Runs named queries on one aiosqlite connection."""

    __slots__ = ("_dialect", "_path", "_raw", "_url")

    def __init__(
        self,
        raw: aiosqlite.Connection,
        dialect: SqliteDialect,
        url: str,
        path: str | None = None,
    ) -> None:
        self._raw = raw
        self._dialect = dialect
        self._url = url
        self._path = path

    @property
    def dialect(self) -> Dialect:
        return self._dialect

    async def execute(self, query: str, *args: Any) -> None:
        try:
            # One hop to the connection's thread; the statement runs to completion there.
            await self._raw.execute_fetchall(self._dialect.sql(query), self._dialect.bind(args))
        except Exception as exc:
            raise wrap_sqlite_error(exc, self._url, self._path) from exc

    async def fetch_all(self, query: str, *args: Any) -> list[Row]:
        dialect = self._dialect
        try:
            rows = await self._raw.execute_fetchall(dialect.sql(query), dialect.bind(args))
        except Exception as exc:
            raise wrap_sqlite_error(exc, self._url, self._path) from exc
        # aiosqlite hands back cursor.fetchall()'s list: no copy needed.
        return rows if rows.__class__ is list else list(rows)  # type: ignore[arg-type]

    # fetch_one / fetch_value run the statement themselves rather than through
    # fetch_all: a coroutine layer per call is measurable on one-row reads.
    async def fetch_one(self, query: str, *args: Any) -> Row | None:
        dialect = self._dialect
        try:
            rows = await self._raw.execute_fetchall(dialect.sql(query), dialect.bind(args))
        except Exception as exc:
            raise wrap_sqlite_error(exc, self._url, self._path) from exc
        return rows[0] if rows else None  # type: ignore[index]

    async def fetch_value(self, query: str, *args: Any) -> Any:
        dialect = self._dialect
        try:
            rows = await self._raw.execute_fetchall(dialect.sql(query), dialect.bind(args))
        except Exception as exc:
            raise wrap_sqlite_error(exc, self._url, self._path) from exc
        return rows[0][0] if rows else None  # type: ignore[index]

    async def execute_many(self, query: str, args: Sequence[Sequence[Any]]) -> None:
        try:
            await self._raw.executemany(
                self._dialect.sql(query), [self._dialect.bind(a) for a in args]
            )
        except Exception as exc:
            raise wrap_sqlite_error(exc, self._url, self._path) from exc

    async def execute_script(self, script: str) -> None:
        # executescript() would COMMIT first; split and run inside our transaction instead.
        for statement in split_sqlite_script(script):
            try:
                await self._raw.execute_fetchall(statement)
            except Exception as exc:
                raise wrap_sqlite_error(exc, self._url, self._path) from exc


def split_sqlite_script(script: str) -> list[str]:
    """Complete statements of a script, using SQLite's own notion of completeness."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if any(
                part.strip() and not part.strip().startswith("--") for part in buffer.splitlines()
            ):
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and any(
        part.strip() and not part.strip().startswith("--") for part in buffer.splitlines()
    ):
        raise ValueError(f"incomplete SQL statement at the end of a script: {buffer.strip()[:80]}")
    return statements


class SqliteEngine(Engine):
    """An engine over one SQLite file (or a private in-memory database).

    Given a caller's open connection instead, the engine uses it for reads and
    writes alike, sets ``row_factory = sqlite3.Row`` and ``foreign_keys=ON`` on
    it, and never closes it.

    Options (keyword arguments or URL query parameters): ``synchronous``
    (FULL, NORMAL or OFF; FULL by default), ``busy_timeout`` (seconds, 5),
    ``readers`` (reader connections, 4), ``mode`` (``ro`` opens read-only,
    ``rw`` never creates the file), ``create`` (False: open an existing file
    only, as ``mode=rw`` does; a missing one is `DatabaseMissingError`),
    ``auto_migrate`` (True: the schema is created/updated on first use), ``wal``
    (True: the file is switched to WAL on first use; False leaves its journal mode
    as it is, so a reader that also sets ``auto_migrate=False`` never writes).

    A path that cannot hold a database is a configuration error, never
    retried: `DatabaseLocationError` (missing directory that cannot be
    created, a parent that is a file, a path that is a directory) or
    `ReadOnlyDatabaseError` (an unwritable file or directory).
    """

    dialect: SqliteDialect

    def __init__(
        self,
        url: DatabaseURL,
        *,
        connection: aiosqlite.Connection | None = None,
        **options: Any,
    ) -> None:
        merged: dict[str, Any] = {**url.options, **options}
        unknown = set(merged) - {
            "synchronous",
            "busy_timeout",
            "readers",
            "mode",
            "create",
            "auto_migrate",
            "wal",
        }
        if unknown:
            raise InvalidArgumentError(
                f"unknown SQLite option(s) {sorted(unknown)}; accepted: synchronous, "
                "busy_timeout, readers, mode, create, auto_migrate, wal"
            )
        synchronous = str(merged.get("synchronous", "FULL")).upper()
        if synchronous not in _SYNCHRONOUS:
            raise InvalidArgumentError(
                f"option synchronous must be one of FULL, NORMAL, OFF, got {synchronous!r}"
            )
        create = bool_option("create", merged.get("create", True))
        mode = str(merged.get("mode", "rwc" if create else "rw"))
        if mode not in ("ro", "rw", "rwc"):
            raise InvalidArgumentError(f"option mode must be ro, rw or rwc, got {mode!r}")
        if not create and mode == "rwc":
            raise InvalidArgumentError("option create=False contradicts mode=rwc (which creates)")
        self.dialect = SqliteDialect()
        self.url = url.masked
        self._path = url.sqlite_path or ":memory:"
        self._synchronous = _SYNCHRONOUS[synchronous]
        self._busy_timeout = seconds_option("busy_timeout", merged.get("busy_timeout", 5.0))
        self._reader_count = int_option("readers", merged.get("readers", 4), minimum=1)
        self._mode = mode
        self._auto_migrate = bool_option("auto_migrate", merged.get("auto_migrate", True))
        self._wal = bool_option("wal", merged.get("wal", True))
        self._owns_connection = connection is None
        self._writer: aiosqlite.Connection | None = connection
        # A private in-memory database or a caller's connection: one connection for everything.
        self._single_connection = connection is not None or self._path == ":memory:"
        self._write_lock = asyncio.Lock()
        self._ready_lock = asyncio.Lock()
        self._ready = False
        self._idle_readers: list[aiosqlite.Connection] = []
        self._reader_slots = asyncio.Semaphore(self._reader_count)
        self._group = GroupCommit(self._commit_group, name=self.url, gate=self._write_lock)
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(f"the engine for {self.url} was disposed")

    async def _open(self, *, reader: bool) -> aiosqlite.Connection:
        if self._path == ":memory:":
            target, uri = ":memory:", False
        else:
            path = Path(self._path)
            if path.is_dir():
                raise sqlite_location_error(self._path, self.url, "a directory")
            if self._mode == "rwc" and not reader:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise sqlite_location_error(self._path, self.url, exc) from exc
            mode = ("ro" if self._mode == "ro" else "rw") if reader else self._mode
            if mode != "rwc" and not path.exists():
                if not _nearest_existing(path.parent).is_dir():  # a parent is a file
                    raise sqlite_location_error(self._path, self.url, "no such file")
                raise DatabaseMissingError(
                    f"SQLite database {self.url} does not exist: {self._path} is opened "
                    f"without creating it (mode={self._mode}); check the path, or create "
                    "it first (`dendrux db upgrade` or `await dendrux.db.upgrade(url)`)"
                )
            target, uri = f"file:{quote(str(path))}?mode={mode}", True
        pending = aiosqlite.connect(
            target, uri=uri, isolation_level=None, timeout=self._busy_timeout
        )
        try:
            raw = await pending
        except Exception as exc:
            await _worker_stopped(pending)
            raise wrap_sqlite_error(exc, self.url, self._path) from exc
        raw.row_factory = sqlite3.Row
        if reader:
            try:
                await SqliteConnection(raw, self.dialect, self.url, self._path).execute(
                    "query_only"
                )
            except BaseException:
                raw.stop()  # a cancelled open must not leave its connection and thread behind
                raise
        return raw

    async def _ensure_ready(self) -> None:
        self._check_open()
        if self._ready:
            return
        async with self._ready_lock:
            if self._ready:
                return
            if self._writer is None:
                self._writer = await self._open(reader=False)
            else:
                # A caller's connection: rows must be addressable by column name.
                self._writer.row_factory = sqlite3.Row
            conn = SqliteConnection(self._writer, self.dialect, self.url, self._path)
            from dendrux.db.migrate import apply_migrations, check_schema, is_upstream_schema

            # An upstream-schema file is read as it is: not even its journal mode changes.
            upstream = await is_upstream_schema(conn)
            writable = self._owns_connection and self._path != ":memory:" and self._mode != "ro"
            if writable and not upstream and self._wal:
                await conn.execute("enable_wal")
            await conn.execute("enable_foreign_keys")
            if self._owns_connection:
                await conn.execute(self._synchronous)
            if upstream:
                self.dialect.naive_timestamps = True
            elif self._auto_migrate and self._mode != "ro":
                async with self._locked_transaction() as tx:
                    await apply_migrations(tx, self.url)
            else:
                await check_schema(conn, self.url)
            self._ready = True

    @asynccontextmanager
    async def _locked_transaction(self) -> AsyncIterator[Connection]:
        assert self._writer is not None
        async with self._write_lock:
            self._check_open()
            if self._writer.in_transaction:
                raise DatabaseError(
                    f"{self.url}: the connection already has an open transaction; commit it "
                    "before handing the connection to dendrux"
                )
            conn = SqliteConnection(self._writer, self.dialect, self.url, self._path)
            await conn.execute("begin_immediate")
            try:
                yield conn
            except BaseException:
                if self._writer.in_transaction:
                    with suppress(DendruxError):
                        await conn.execute("rollback")
                raise
            await conn.execute("commit")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        await self._ensure_ready()
        async with self._locked_transaction() as conn:
            yield conn

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[Connection]:
        await self._ensure_ready()
        assert self._writer is not None
        async with self._write_lock:
            self._check_open()
            yield SqliteConnection(self._writer, self.dialect, self.url, self._path)

    async def write(self, unit: WriteUnit) -> UnitResult:
        """Queue the unit for the next group commit and wait for that commit."""
        if not self._ready:
            await self._ensure_ready()
        self._check_open()
        return await self._group.submit(unit)

    async def _commit_group(self, units: list[WriteUnit]) -> list[Outcome]:
        """One group, one transaction, one hop to the writer's thread; runs holding
        the write lock (the group's gate). Units queued before dispose() still land."""
        writer = self._writer
        if writer is None:
            raise StoreClosedError(f"the engine for {self.url} was disposed")
        return await in_connection_thread(
            writer, _commit_on_writer_thread, self.dialect, units, self.url
        )

    @asynccontextmanager
    async def migration_transaction(self) -> AsyncIterator[Connection]:
        self._check_open()
        async with self._ready_lock:
            if self._writer is None:
                self._writer = await self._open(reader=False)
            self._writer.row_factory = sqlite3.Row
        async with self._locked_transaction() as conn:
            yield conn

    def connect(self) -> AbstractAsyncContextManager[Connection]:
        return _ReaderLease(self)

    async def dispose(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Queued units still commit (or fail) before the writer goes.
        await self._group.drain()
        async with self._write_lock:
            readers, self._idle_readers = self._idle_readers, []
            for raw in readers:
                await raw.close()
            if self._writer is not None and self._owns_connection:
                await self._writer.close()
            self._writer = None


async def _worker_stopped(pending: aiosqlite.Connection) -> None:
    """After a failed connect aiosqlite stops its worker thread without waiting for it;
    a thread still running when the event loop closes dies with a traceback on
    stderr. It ends within microseconds: wait for that (bounded) before raising."""
    thread = getattr(pending, "_thread", None)
    deadline = time.monotonic() + 2.0
    while thread is not None and thread.is_alive() and time.monotonic() < deadline:
        await asyncio.sleep(0.001)


class _ReaderLease:
    """What `SqliteEngine.connect()` returns: a reader connection from the idle list
    for the ``async with`` block (the writer's, behind the write lock, when there is
    only one connection). A class rather than a generator: it runs on every read."""

    __slots__ = ("_engine", "_locked", "_raw")

    def __init__(self, engine: SqliteEngine) -> None:
        self._engine = engine
        self._raw: aiosqlite.Connection | None = None
        self._locked = False

    async def __aenter__(self) -> Connection:
        engine = self._engine
        if not engine._ready:
            await engine._ensure_ready()
        if engine._single_connection:
            await engine._write_lock.acquire()
            if engine._closed or engine._writer is None:
                engine._write_lock.release()
                engine._check_open()
                raise StoreClosedError(f"the engine for {engine.url} was disposed")
            self._locked = True
            return SqliteConnection(engine._writer, engine.dialect, engine.url, engine._path)
        await engine._reader_slots.acquire()
        try:
            engine._check_open()
            idle = engine._idle_readers
            self._raw = idle.pop() if idle else await engine._open(reader=True)
        except BaseException:
            engine._reader_slots.release()
            raise
        return SqliteConnection(self._raw, engine.dialect, engine.url, engine._path)

    async def __aexit__(self, *exc_info: object) -> None:
        engine = self._engine
        if self._locked:
            engine._write_lock.release()
            return
        raw, self._raw = self._raw, None
        try:
            if raw is not None:
                if engine._closed:
                    await raw.close()
                else:
                    engine._idle_readers.append(raw)
        finally:
            engine._reader_slots.release()
