"""`RunStore`: the read-only facade over the six tables.

What dashboards, HTTP routes and admin scripts use to look at runs, live and
afterwards. It never writes: it checks arguments, opens a connection and calls
the read functions of `dendrux.read`, which build the frozen records of
`dendrux.read.records` (re-exported here). It never exposes ``pause_data``, and
works on a database made by the upstream SQLAlchemy/Alembic schema as well as on
ours.

Opened from a URL it never migrates either: a SQLite file at an older schema
version raises `SchemaOutdatedError` naming ``dendrux db upgrade`` (and is left
byte-for-byte as it was), one at a newer version than this code knows raises
`SchemaTooNewError` (upgrade the package); nothing is guessed about tables a
newer release may have changed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from dendrux.db import create_engine, engine_from_connection, parse_database_url
from dendrux.db.engine import Engine
from dendrux.db.holder import EngineHolder
from dendrux.db.options import bool_option
from dendrux.errors import InvalidArgumentError, RunNotFoundError
from dendrux.read import notes, rows, runs
from dendrux.read.filters import (
    MAX_PAGE,
    STREAM_PAGE,
    TOTAL_CAP,
    RunFilters,
    rows_page,
    runs_page,
)
from dendrux.read.records import (
    LLMCall,
    PausePair,
    ReplaySummary,
    RunDetail,
    RunNote,
    RunSummary,
    StoredEvent,
    ToolInvocation,
    TraceEntry,
)
from dendrux.read.usage import RunSubtree, RunUsage, SubtreeNode
from dendrux.scope import UNSCOPED, TenantScope, check_scope
from dendrux.validation import (
    check_aware,
    check_bool,
    check_event_types,
    check_index_filter,
    check_int,
    check_required_id,
    check_seconds,
    check_text,
    clamp_cursor,
)

if TYPE_CHECKING:
    from dendrux.db.engine import Connection
    from dendrux.read.delegation import DelegationInfo
    from dendrux.read.stats import RunStats, StatsRow

T = TypeVar("T")

__all__ = [
    "STREAM_PAGE",
    "UNSCOPED",
    "LLMCall",
    "PausePair",
    "ReplaySummary",
    "RunDetail",
    "RunNotFoundError",
    "RunNote",
    "RunStats",
    "RunStore",
    "RunSubtree",
    "RunSummary",
    "RunUsage",
    "StatsRow",
    "StoredEvent",
    "SubtreeNode",
    "ToolInvocation",
    "TraceEntry",
]


def __getattr__(name: str) -> Any:
    """`RunStats` and `StatsRow` load on first use: most readers never aggregate."""
    if name in ("RunStats", "StatsRow"):
        from dendrux.read import stats

        return getattr(stats, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _read_only_options(database_url: str, options: dict[str, Any]) -> dict[str, Any]:
    """Engine options for a reader: a SQLite file is neither created (``mode=rw``
    unless the URL or the caller says otherwise) nor migrated, nor switched to WAL
    (its writer does that): opening it writes nothing. A private in-memory database
    is born empty with its engine, so it still gets its tables."""
    parsed = parse_database_url(database_url)
    if parsed.dialect != "sqlite" or parsed.is_memory:
        return options
    merged = {**parsed.options, **options}
    if "auto_migrate" in merged and bool_option("auto_migrate", merged["auto_migrate"]):
        raise InvalidArgumentError(
            "auto_migrate: a RunStore never migrates a database; run `dendrux db upgrade` "
            "(or `await dendrux.db.upgrade(url)`) first"
        )
    options = {**options, "auto_migrate": False, "wal": False}
    if "mode" not in merged and "create" not in merged:
        options["mode"] = "rw"
    return options


class RunStore(EngineHolder):
    """Read-only access to everything dendrux persisted about runs.

    ``RunStore(state_store)`` (0.4.1's constructor) reads through a `StateStore`'s
    engine; so does ``RunStore(engine)``. The caller keeps ownership of either:
    ``close()`` leaves it open.
    """

    def __init__(self, state_store: object, *, owns_engine: bool = False) -> None:
        if isinstance(state_store, EngineHolder):
            engine = state_store.engine  # a closed store raises here, not on first read
        elif isinstance(state_store, Engine):
            engine = state_store
        else:  # an asyncpg.Pool or aiosqlite.Connection, as `from_engine` takes
            engine = engine_from_connection(state_store)
        super().__init__(engine, owns_engine=owns_engine)

    @classmethod
    def from_database_url(cls, database_url: str, **engine_options: Any) -> RunStore:
        """A store owning a new engine; ``close()`` disposes it. Engine options as for
        `dendrux.db.create_engine` (e.g. ``schema="audit"`` on PostgreSQL). It never
        creates a SQLite file (a missing one is `DatabaseMissingError`) nor migrates one."""
        options = _read_only_options(database_url, engine_options)
        return cls(create_engine(database_url, **options), owns_engine=True)

    # -- runs -------------------------------------------------------------------------

    async def list_runs(
        self,
        *,
        status: str | list[str] | None = None,
        agent_name: str | None = None,
        parent_run_id: str | None = None,
        tenant_id: str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        metadata_filter: dict[str, Any] | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[RunSummary]:
        """Runs newest first (ties by id); filters AND together; limit clamped to 1..1000."""
        filters = RunFilters.check(
            status=status,
            agent_name=agent_name,
            parent_run_id=parent_run_id,
            tenant_id=tenant_id,
            started_after=started_after,
            started_before=started_before,
            metadata_filter=metadata_filter,
        )
        page, skip = runs_page(limit, offset)
        async with self._db().connect() as conn:
            return await runs.list_run_summaries(conn, filters, page, skip)

    async def count_runs(
        self,
        *,
        status: str | list[str] | None = None,
        agent_name: str | None = None,
        parent_run_id: str | None = None,
        tenant_id: str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        metadata_filter: dict[str, Any] | None = None,
        at_most: int | None = None,
    ) -> int:
        """How many runs `list_runs` pages through with the same filters. With ``at_most``
        (an int >= 1), ``min(count, at_most)``: one statement that stops reading at
        ``at_most`` runs, where an exact count reads every match (a list over a large
        store shows "at least" instead)."""
        filters = RunFilters.check(
            status=status,
            agent_name=agent_name,
            parent_run_id=parent_run_id,
            tenant_id=tenant_id,
            started_after=started_after,
            started_before=started_before,
            metadata_filter=metadata_filter,
        )
        cap = check_int("at_most", at_most, optional=True, minimum=1)
        async with self._db().connect() as conn:
            return await runs.count_runs(conn, filters, cap)

    async def count_runs_by_status(
        self,
        *,
        agent_name: str | None = None,
        parent_run_id: str | None = None,
        tenant_id: str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        metadata_filter: dict[str, Any] | None = None,
        at_most: int = TOTAL_CAP,
    ) -> dict[str, int]:
        """Runs per status (every status, a key each) with `count_runs`' other filters,
        each at most ``at_most`` (a count equal to it means "at least"): a runs list's
        status tabs at the cost of bounded reads, in one statement."""
        filters = RunFilters.check(
            agent_name=agent_name,
            parent_run_id=parent_run_id,
            tenant_id=tenant_id,
            started_after=started_after,
            started_before=started_before,
            metadata_filter=metadata_filter,
        )
        cap = check_int("at_most", at_most, minimum=1)
        assert cap is not None
        async with self._db().connect() as conn:
            return await runs.status_counts(conn, filters, cap)

    async def get_stats(
        self,
        *,
        started_after: datetime,
        started_before: datetime | None = None,
        group_by: str = "day",
        agent_name: str | None = None,
        tenant_id: str | None = None,
    ) -> RunStats:
        """Runs, errors, tokens, cost and p50/p95 duration of the runs created in
        ``[started_after, started_before)``, in total and by ``group_by`` (``day``,
        ``agent``, ``model`` or ``tenant``), computed in SQL; ``agent_name`` and
        ``tenant_id`` filter as in `list_runs` (None: every tenant)."""
        from dendrux.read.stats import StatsQuery, read_stats

        query = StatsQuery.check(
            started_after=started_after,
            started_before=started_before,
            group_by=group_by,
            agent_name=agent_name,
            tenant_id=tenant_id,
        )
        async with self._db().connect() as conn:
            return await read_stats(conn, query)

    async def get_run(self, run_id: str) -> RunDetail | None:
        """One run's anchor row, or None."""
        run_id = check_required_id("run_id", run_id)
        async with self._db().connect() as conn:
            return await runs.get_run_detail(conn, run_id)

    async def find_runs_by_id_prefix(
        self, prefix: str, *, limit: int = 10, tenant_id: TenantScope = UNSCOPED
    ) -> list[RunSummary]:
        """At most ``limit`` (clamped to 1000) runs whose id begins with ``prefix`` as typed,
        upper-cased or lower-cased, in id order: what a short run id on the command line
        may mean. Each form is a range of the primary key, so a short prefix costs a
        bounded read at any size. ``tenant_id``: omitted for every tenant, None for
        untenanted runs only, or a tenant."""
        from dendrux.read.run_ids import find_runs_by_id_prefix

        text = check_required_id("prefix", prefix)
        page = check_int("limit", limit, minimum=1)
        scope = check_scope("tenant_id", tenant_id)
        assert page is not None
        async with self._db().connect() as conn:
            return await find_runs_by_id_prefix(conn, text, scope, min(page, MAX_PAGE))

    async def get_run_status(self, run_id: str, *, tenant_id: str | None = None) -> str | None:
        """A run's status; None when it does not exist or (``tenant_id`` given) belongs
        to another tenant, so a caller cannot tell the two apart."""
        run_id = check_required_id("run_id", run_id)
        tenant = check_text("tenant_id", tenant_id, optional=True)
        async with self._db().connect() as conn:
            return await runs.get_run_status(conn, run_id, tenant)

    async def get_retries(self, run_id: str, *, tenant_id: str | None = None) -> list[RunSummary]:
        """The runs that retried this one (its retry lineage), oldest first, at most
        `MAX_PAGE`; ``tenant_id`` given, that tenant's only."""
        run_id = check_required_id("run_id", run_id)
        tenant = check_text("tenant_id", tenant_id, optional=True)
        async with self._db().connect() as conn:
            return await runs.list_retries(conn, run_id, tenant, MAX_PAGE)

    async def get_delegation_info(self, run_id: str) -> DelegationInfo | None:
        """Parent, children, ancestry (root first) and subtree totals; None if missing."""
        from dendrux.read.delegation import read_delegation_info

        run_id = check_required_id("run_id", run_id)
        async with self._db().connect() as conn:
            return await read_delegation_info(conn, run_id)

    # -- events -----------------------------------------------------------------------

    async def get_events(
        self,
        run_id: str,
        *,
        after_sequence_index: int | None = None,
        limit: int | None = None,
        event_types: list[str] | None = None,
        before: datetime | None = None,
    ) -> list[StoredEvent]:
        """A run's events in sequence order after a strict ``>`` cursor, optionally
        only those of the given types (``[]`` matches nothing) and only those created
        strictly before the aware datetime ``before`` (0.4.1)."""
        run_id = check_required_id("run_id", run_id)
        after = clamp_cursor("after_sequence_index", after_sequence_index)
        page = check_int("limit", limit, optional=True, minimum=1)
        types = check_event_types("event_types", event_types)
        until = check_aware("before", before)
        async with self._db().connect() as conn:
            return await rows.get_events(conn, run_id, after, page, types, until)

    async def stream_events(
        self,
        run_id: str,
        *,
        after_sequence_index: int | None = None,
        poll_interval_s: float = 0.5,
        until_terminal: bool = False,
    ) -> AsyncIterator[StoredEvent]:
        """Every committed event of a run, once and in index order, as it lands; never
        ends on its own unless ``until_terminal``, which ends after the run's terminal
        event (``run.completed``, ``run.error``, ``run.cancelled``...).

        Raises `RunNotFoundError` before the first item for an unknown run. An event
        whose lower index commits after a higher one is still delivered in order: the
        rule (and its bounded wait on a hole that never fills) is `dendrux.read.stream`'s.
        On PostgreSQL a LISTEN/NOTIFY wake-up delivers a new event in milliseconds
        (polling every ``poll_interval_s`` stays as the fallback); on SQLite it polls.
        A lost server is ridden out: one warning, reconnects with backoff, resumes
        from the cursor.
        """
        run_id = check_required_id("run_id", run_id)
        cursor = clamp_cursor("after_sequence_index", after_sequence_index)
        interval = check_seconds("poll_interval_s", poll_interval_s)
        until = check_bool("until_terminal", until_terminal)
        async with self._db().connect() as conn:
            if not await runs.run_exists(conn, run_id):
                raise RunNotFoundError(run_id)
        from dendrux.read.stream import follow_events

        # aclosing: closing this generator closes the loop's at once (its wake-up
        # subscription and connection go back now, not when it is collected).
        follow = follow_events(self._db, run_id, cursor, interval, until_terminal=until)
        async with aclosing(follow) as events:
            async for event in events:
                yield event

    async def stream_all_events(
        self,
        *,
        since: datetime | None = None,
        tenant_id: TenantScope = UNSCOPED,
        poll_interval_s: float = 0.5,
    ) -> AsyncIterator[tuple[str, StoredEvent]]:
        """Every new event of every run, as ``(run_id, event)``; per run once and in
        index order (the same rule as `stream_events`); never ends on its own.

        ``since`` (aware): start with the events created after it (default: from now).
        Resuming from the ``created_at`` of the last event a consumer handled gives every
        run's events created after that time. ``tenant_id``: omitted for every tenant,
        None for untenanted runs only, or a tenant (another tenant's events never
        appear). Polls every ``poll_interval_s`` (runs are found by their events'
        ``created_at``, read through the primary key's index).
        """
        start = check_aware("since", since)
        scope = check_scope("tenant_id", tenant_id)
        interval = check_seconds("poll_interval_s", poll_interval_s)
        self._db()  # a closed store refuses here, before the first item
        from dendrux.read.stream import follow_all_events

        async with aclosing(follow_all_events(self._db, start, scope, interval)) as events:
            async for item in events:
                yield item

    # -- per-run rows -------------------------------------------------------------------

    async def get_llm_calls(
        self,
        run_id: str,
        *,
        iteration: int | None = None,
        limit: int | None = None,
        offset: int = 0,
        before: datetime | None = None,
    ) -> list[LLMCall]:
        """A run's LLM calls by iteration, then time; ``before`` (aware) keeps only those
        created strictly earlier."""
        return await self._by_iteration(
            rows.get_llm_calls, run_id, iteration, limit, offset, before
        )

    async def get_tool_invocations(
        self,
        run_id: str,
        *,
        iteration: int | None = None,
        limit: int | None = None,
        offset: int = 0,
        before: datetime | None = None,
    ) -> list[ToolInvocation]:
        """A run's tool executions by iteration, then time; ``before`` (aware) keeps only
        those created strictly earlier."""
        return await self._by_iteration(
            rows.get_tool_invocations, run_id, iteration, limit, offset, before
        )

    async def _by_iteration(
        self,
        read: Callable[
            [Connection, str, int | None, int | None, int, datetime | None], Awaitable[list[T]]
        ],
        run_id: str,
        iteration: object,
        limit: object,
        offset: object,
        before: object,
    ) -> list[T]:
        """A per-run read filtered by iteration and time and paged, its arguments checked
        first."""
        run_id = check_required_id("run_id", run_id)
        it, storable = check_index_filter("iteration", iteration)
        page, skip = rows_page(limit, offset)
        until = check_aware("before", before)
        db = self._db()
        if not storable:  # past the INTEGER column's range: no row can match
            return []
        async with db.connect() as conn:
            return await read(conn, run_id, it, page, skip, until)

    async def get_traces(
        self, run_id: str, *, limit: int | None = None, offset: int = 0
    ) -> list[TraceEntry]:
        """A run's conversation in order."""
        run_id = check_required_id("run_id", run_id)
        page, skip = rows_page(limit, offset)
        async with self._db().connect() as conn:
            return await rows.get_traces(conn, run_id, page, skip)

    async def get_pauses(self, run_id: str) -> list[PausePair]:
        """Each ``run.paused`` paired with the next ``run.resumed``, from events only;
        an unpaired pause at the end is the active pause."""
        run_id = check_required_id("run_id", run_id)
        async with self._db().connect() as conn:
            return await rows.get_pauses(conn, run_id)

    async def get_subtree(self, run_id: str, *, tenant_id: TenantScope = UNSCOPED) -> RunSubtree:
        """A run, all its descendants (breadth first, root first) and their live usage,
        summed from the LLM calls at read time, so running and paused runs count (each
        node's ``run.total_*`` are the finalized snapshots instead). ``tenant_id``: omitted
        for every tenant, None for untenanted runs only, or a tenant; a run out of scope
        is left out with everything below it. Raises `RunNotFoundError` when the run does
        not exist or is out of scope."""
        from dendrux.read.usage import read_subtree

        run_id = check_required_id("run_id", run_id)
        scope = check_scope("tenant_id", tenant_id)
        async with self._db().connect() as conn:
            subtree = await read_subtree(conn, run_id, scope)
        if subtree is None:
            raise RunNotFoundError(run_id)
        return subtree

    async def get_notes(
        self,
        run_id: str,
        *,
        undelivered_only: bool = False,
        tenant_id: TenantScope = UNSCOPED,
    ) -> list[RunNote]:
        """A run's inbox notes in delivery order (``created_at``, then id).

        With ``tenant_id`` given (a tenant, or ``None`` for an untenanted run) the run
        must belong to exactly that tenant, else `RunNotFoundError` and nothing is read;
        left out (trusted use), a run without notes or that does not exist gives ``[]``.
        """
        run_id = check_required_id("run_id", run_id)
        undelivered = check_bool("undelivered_only", undelivered_only)
        scope = check_scope("tenant_id", tenant_id)
        async with self._db().connect() as conn:
            if scope[0] and not await notes.run_in_scope(conn, run_id, scope[1]):
                raise RunNotFoundError(run_id)
            rows_ = await notes.note_rows(conn, run_id, undelivered, scope)
            return RunNote.from_rows(rows_, conn.dialect)

    async def get_pii_mapping(self, run_id: str) -> dict[str, str]:
        """Placeholder -> real value of a run; ``{}`` when there is none or no such run."""
        run_id = check_required_id("run_id", run_id)
        async with self._db().connect() as conn:
            value = await runs.read_pii_mapping(conn, run_id)
        return dict(value) if isinstance(value, dict) else {}
