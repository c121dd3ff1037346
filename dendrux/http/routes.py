"""The route table: which path runs which handler, and the JSON handlers themselves.

Each handler reads its query parameters, asks `RunStore` (the only way to the
database) and returns the JSON body. A run another tenant owns is a 404, the
same as a run that does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from dendrux.errors import InvalidArgumentError, RunNotFoundError
from dendrux.http.params import Query
from dendrux.http.responses import HTTPError, run_not_found, served
from dendrux.read.filters import MAX_PAGE, ROWS_PAGE, RUNS_PAGE, TOTAL_CAP
from dendrux.read.runs import STATUS_ORDER
from dendrux.scope import UNSCOPED
from dendrux.store import RunStore
from dendrux.validation import INT32_MAX, INT32_MIN

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Request:
    """What a handler needs: the store, the query, the tenant scope and the run."""

    store: RunStore
    query: Query
    tenant: str | None
    run_id: str = ""


Handler = Callable[[Request], Awaitable[object]]


# -- paths --------------------------------------------------------------------------------

RUN_ROUTES = {
    (): "run",
    ("events",): "events",
    ("events", "stream"): "stream",
    ("llm-calls",): "llm-calls",
    ("tool-calls",): "tool-calls",
    ("traces",): "traces",
    ("pauses",): "pauses",
    ("subtree",): "subtree",
    ("notes",): "notes",
    ("retries",): "retries",
}
"""The path below ``/runs/{id}`` -> the route's name."""


def match(path: str) -> tuple[str, str | None]:
    """(route name, run id) for a path below the mount point, or a 404."""
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    parts = path.split("/")
    if parts[0] == "":
        parts = parts[1:]
    if parts == ["health"]:
        return "health", None
    if parts == ["runs"]:
        return "runs", None
    if parts == ["stats"]:
        return "stats", None
    if parts == ["status-counts"]:
        return "status-counts", None
    if parts == ["events", "stream"]:
        return "firehose", None
    if 2 <= len(parts) <= 4 and parts[0] == "runs":
        route = RUN_ROUTES.get(tuple(parts[2:]))
        if route is not None:
            return route, parts[1]
    raise HTTPError(404, "not_found", "no such route")


# -- existence and tenant checks ---------------------------------------------------------------


async def require_run(req: Request) -> str:
    """The run's status; a 404 unless it exists and (when scoped) is the tenant's."""
    status = await req.store.get_run_status(req.run_id, tenant_id=req.tenant)
    if status is None:
        raise run_not_found()
    return status


async def _scoped(req: Request, fetch: Callable[[], Awaitable[Sequence[T]]]) -> Sequence[T]:
    """A run's rows, or a 404 for a run that does not exist or is another tenant's.

    Unscoped, rows prove the run exists (they reference it), so only an empty
    answer pays for the existence check; scoped, the check always comes first.
    """
    if req.tenant is not None:
        await require_run(req)
    rows = await fetch()
    if not rows and req.tenant is None:
        await require_run(req)
    return rows


async def _nothing() -> list[Any]:
    return []


# -- handlers ------------------------------------------------------------------------------


TOTALS = ("exact", "capped", "none")
"""``/runs?total=``: an exact count (the default), one capped at `TOTAL_CAP`, or none."""


def _run_filters(query: Query) -> dict[str, Any]:
    """The ``/runs`` filters but ``status``, as `RunStore` keywords."""
    return {
        "agent_name": query.text("agent_name"),
        "parent_run_id": query.text("parent_run_id"),
        "tenant_id": query.text("tenant_id"),
        "started_after": query.instant("started_after"),
        "started_before": query.instant("started_before"),
        "metadata_filter": query.meta(),
    }


def _tenant_filters(req: Request, filters: dict[str, Any]) -> bool:
    """Scope ``filters`` to a tenant principal's tenant; False when they ask for another
    tenant's runs (nothing, not an error)."""
    if req.tenant is not None:
        if filters["tenant_id"] not in (None, req.tenant):
            return False
        filters["tenant_id"] = req.tenant
    return True


async def list_runs(req: Request) -> object:
    """A page of runs, newest first, with ``has_more`` (a run follows this page) and a
    total: ``total=exact`` counts every match, ``capped`` stops at `TOTAL_CAP` (then
    ``total_exact`` is false and ``total`` a lower bound), ``none`` skips the count. A
    page that shows the end of the list gives its exact total without a count."""
    query = req.query
    filters = {"status": query.statuses(), **_run_filters(query)}
    limit = query.integer("limit", default=RUNS_PAGE, minimum=1, maximum=MAX_PAGE)
    offset = query.integer("offset", default=0, minimum=0)
    mode = query.text("total") or "exact"
    if mode not in TOTALS:
        raise InvalidArgumentError(f"total must be exact, capped or none, got {mode[:40]!r}")
    query.finish()
    page: dict[str, Any] = {
        "runs": [],
        "total": None if mode == "none" else 0,
        "limit": limit,
        "offset": offset,
        "has_more": False,
        "total_exact": mode != "none",
    }
    if not _tenant_filters(req, filters):
        return page  # another tenant's runs: nothing, not an error
    store = req.store
    # One run past the page tells whether another page follows.
    runs = await store.list_runs(**filters, limit=min(limit + 1, MAX_PAGE), offset=offset)
    if len(runs) > limit:
        has_more = True
        del runs[limit:]
    elif limit == MAX_PAGE and len(runs) == limit:
        has_more = bool(await store.list_runs(**filters, limit=1, offset=offset + limit))
    else:
        has_more = False
    page["runs"] = [served(run) for run in runs]
    page["has_more"] = has_more
    if mode == "none":
        return page
    if not has_more and (runs or offset == 0):
        page["total"] = offset + len(runs)  # the end of the list is on this page
    elif mode == "exact":
        page["total"] = await store.count_runs(**filters)
    else:
        counted = await store.count_runs(**filters, at_most=TOTAL_CAP)
        seen = offset + len(runs) + has_more if runs else 0  # runs this page proves exist
        page["total"] = max(counted, seen)
        page["total_exact"] = counted < TOTAL_CAP
    return page


async def status_counts(req: Request) -> object:
    """Runs per status with the ``/runs`` filters (but status and paging), each capped at
    `TOTAL_CAP` (a count equal to ``at_most`` means "at least"); a tenant principal's
    scope as for ``/runs``."""
    filters = _run_filters(req.query)
    req.query.finish()
    if not _tenant_filters(req, filters):
        counts = dict.fromkeys(STATUS_ORDER, 0)
    else:
        counts = await req.store.count_runs_by_status(**filters, at_most=TOTAL_CAP)
    return {"counts": counts, "at_most": TOTAL_CAP}


async def get_run(req: Request) -> object:
    req.query.finish()
    detail = await req.store.get_run(req.run_id)
    if detail is None or (req.tenant is not None and detail.tenant_id != req.tenant):
        raise run_not_found()
    return served(detail)


async def list_events(req: Request) -> object:
    query = req.query
    after = query.optional_integer("after")
    limit = query.integer("limit", default=ROWS_PAGE, minimum=1, maximum=MAX_PAGE)
    query.finish()
    # Indexes are INT32 on both dialects: past the top nothing follows, below the
    # bottom everything does; the store never sees a cursor outside the range.
    fetch: Callable[[], Awaitable[Sequence[object]]]
    if after is not None and after > INT32_MAX:
        fetch = _nothing
    else:
        cursor = None if after is None or after < INT32_MIN else after

        def fetch() -> Awaitable[Sequence[object]]:
            return req.store.get_events(req.run_id, after_sequence_index=cursor, limit=limit)

    events = await _scoped(req, fetch)
    return {"events": [served(e) for e in events], "after": after, "limit": limit}


def _page(query: Query) -> tuple[int, int]:
    limit = query.integer("limit", default=ROWS_PAGE, minimum=1, maximum=MAX_PAGE)
    return limit, query.integer("offset", default=0, minimum=0)


async def _by_iteration(
    req: Request, read: Callable[..., Awaitable[Sequence[object]]], key: str
) -> object:
    """A per-run listing filtered by ``iteration`` and paged."""
    iteration = req.query.optional_integer("iteration", minimum=0)
    limit, offset = _page(req.query)
    req.query.finish()
    fetch: Callable[[], Awaitable[Sequence[object]]]
    if iteration is not None and iteration > INT32_MAX:
        fetch = _nothing  # no row has an iteration index past the INT32 range
    else:

        def fetch() -> Awaitable[Sequence[object]]:
            return read(req.run_id, iteration=iteration, limit=limit, offset=offset)

    rows = await _scoped(req, fetch)
    return {key: [served(row) for row in rows], "limit": limit, "offset": offset}


async def list_llm_calls(req: Request) -> object:
    return await _by_iteration(req, req.store.get_llm_calls, "llm_calls")


async def list_tool_calls(req: Request) -> object:
    return await _by_iteration(req, req.store.get_tool_invocations, "tool_calls")


async def list_traces(req: Request) -> object:
    limit, offset = _page(req.query)
    req.query.finish()

    def fetch() -> Awaitable[Sequence[object]]:
        return req.store.get_traces(req.run_id, limit=limit, offset=offset)

    rows = await _scoped(req, fetch)
    return {"traces": [served(row) for row in rows], "limit": limit, "offset": offset}


async def list_pauses(req: Request) -> object:
    limit, offset = _page(req.query)
    req.query.finish()

    def fetch() -> Awaitable[Sequence[object]]:
        return req.store.get_pauses(req.run_id)

    rows = (await _scoped(req, fetch))[offset : offset + limit]
    return {"pauses": [served(row) for row in rows], "limit": limit, "offset": offset}


async def get_subtree(req: Request) -> object:
    """The run, its descendants (breadth first, root first) and their live usage. A
    tenant principal scopes the whole tree: another tenant's runs below are left out
    with everything under them, and another tenant's root is a 404."""
    req.query.finish()
    try:
        subtree = await req.store.get_subtree(
            req.run_id, tenant_id=UNSCOPED if req.tenant is None else req.tenant
        )
    except RunNotFoundError:
        raise run_not_found() from None
    return {
        "root_run_id": subtree.root_run_id,
        "nodes": [
            {"depth": n.depth, "run": served(n.run), "usage": served(n.usage)}
            for n in subtree.nodes
        ],
        "usage": served(subtree.usage),
    }


async def list_notes(req: Request) -> object:
    """A run's inbox notes in delivery order; ``?undelivered=true`` for the pending ones."""
    flag = req.query.text("undelivered")
    if flag not in (None, "true", "false"):
        raise InvalidArgumentError(f"undelivered must be true or false, got {flag[:40]!r}")
    undelivered = flag == "true"
    req.query.finish()

    def fetch() -> Awaitable[Sequence[object]]:
        return req.store.get_notes(req.run_id, undelivered_only=undelivered)

    rows = await _scoped(req, fetch)
    return {"notes": [served(row) for row in rows], "undelivered": undelivered}


async def list_retries(req: Request) -> object:
    """The runs that retried this one, oldest first (a tenant principal: its own only)."""
    req.query.finish()

    def fetch() -> Awaitable[Sequence[object]]:
        return req.store.get_retries(req.run_id, tenant_id=req.tenant)

    rows = await _scoped(req, fetch)
    return {"retries": [served(row) for row in rows]}


STATS_WINDOW = timedelta(days=30)
"""``/stats`` without ``started_after``: the last 30 days."""


async def get_stats(req: Request) -> object:
    """Figures of the runs created in a window, in total and grouped (`RunStore.get_stats`).
    A tenant principal sees its tenant's runs only; asking for another tenant's gives a
    window without runs, as ``/runs`` gives an empty page."""
    from dendrux.read.stats import RunStats, StatsQuery

    query = req.query
    after = query.instant("started_after")
    checked = StatsQuery.check(
        started_after=after if after is not None else datetime.now(UTC) - STATS_WINDOW,
        started_before=query.instant("started_before"),
        group_by=query.text("group_by") or "day",
        agent_name=query.text("agent_name"),
        tenant_id=query.text("tenant_id"),
    )
    query.finish()
    tenant = checked.tenant_id
    if req.tenant is not None:
        if tenant not in (None, req.tenant):
            empty = RunStats.empty(checked.group_by, checked.started_after, checked.started_before)
            return served(empty)
        tenant = req.tenant
    stats = await req.store.get_stats(
        started_after=checked.started_after,
        started_before=checked.started_before,
        group_by=checked.group_by,
        agent_name=checked.agent_name,
        tenant_id=tenant,
    )
    return served(stats)


JSON_ROUTES: dict[str, Handler] = {
    "runs": list_runs,
    "stats": get_stats,
    "status-counts": status_counts,
    "run": get_run,
    "events": list_events,
    "llm-calls": list_llm_calls,
    "tool-calls": list_tool_calls,
    "traces": list_traces,
    "pauses": list_pauses,
    "subtree": get_subtree,
    "notes": list_notes,
    "retries": list_retries,
}
"""Route name -> handler for every route answered with one JSON body."""
