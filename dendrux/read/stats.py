"""Run statistics for the overview: runs, errors, tokens, cost and duration percentiles over
a time window, in total and grouped by day, agent, model or tenant.

Everything is computed by one named query per dialect (``sql/<dialect>/stats.sql``): the
grouping, the sums and the nearest-rank percentiles, so a window of a million runs never
travels to Python and both dialects give the same figures for the same rows (durations are
whole microseconds in SQL, converted to milliseconds here; costs are rounded to the stored
precision, so the two dialects' different float summation orders agree).

Figures come from each run's finalized totals on ``agent_runs`` (what ``finalize_run``
wrote), not from live usage: an overview over thousands of runs cannot sum their LLM calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dendrux.errors import InvalidArgumentError, InvalidArgumentTypeError
from dendrux.read.usage import COST_DECIMALS
from dendrux.validation import check_aware, check_text

if TYPE_CHECKING:
    from dendrux.db.engine import Connection

GROUP_BY = ("day", "agent", "model", "tenant")
"""What `RunStats` can be grouped by."""
MAX_GROUPS = 100
"""At most this many groups: the busiest ones (for ``day``, the latest days)."""
STATS_COLUMNS = (
    "is_total", "key", "runs", "finished", "errors", "input_tokens", "output_tokens",
    "cache_read_tokens", "cache_creation_tokens", "reasoning_tokens", "cost_usd",
    "unpriced_runs", "p50_duration_us", "p95_duration_us",
)  # fmt: skip
"""``run_stats``: the row kind (1 = the window's total), the group key, the figures."""

__all__ = ["GROUP_BY", "MAX_GROUPS", "STATS_COLUMNS", "RunStats", "StatsRow", "read_stats"]


@dataclass(frozen=True, slots=True)
class StatsRow:
    """The figures of one group of runs (or of the whole window).

    ``key``: the agent name, model, tenant id or UTC day (``YYYY-MM-DD``) of the group;
    None for runs without a model or tenant, and for the total. ``finished`` counts runs in
    a terminal status, ``errors`` those in ``error``; ``error_rate`` is errors / finished
    (None when nothing finished). Tokens are sums of the runs' finalized totals;
    ``cost_usd`` sums the known costs (None when no run has one) and ``unpriced_runs``
    counts finished runs without a cost. Durations (``updated_at - created_at``) are over
    finished runs, nearest-rank percentiles in milliseconds (None when nothing finished).
    """

    key: str | None
    runs: int
    finished: int
    errors: int
    error_rate: float | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_creation_tokens: int
    reasoning_tokens: int
    cost_usd: float | None
    unpriced_runs: int
    p50_duration_ms: float | None
    p95_duration_ms: float | None

    @classmethod
    def from_row(cls, r: Any) -> StatsRow:
        """A `STATS_COLUMNS` row (NULL sums of an empty window read as 0)."""
        finished, errors = int(r[3] or 0), int(r[4] or 0)
        cost, p50, p95 = r[10], r[12], r[13]
        return cls(
            r[1], int(r[2]), finished, errors, errors / finished if finished else None,
            int(r[5] or 0), int(r[6] or 0), int(r[7] or 0), int(r[8] or 0), int(r[9] or 0),
            None if cost is None else round(float(cost), COST_DECIMALS), int(r[11] or 0),
            None if p50 is None else int(p50) / 1000, None if p95 is None else int(p95) / 1000,
        )  # fmt: skip

    @classmethod
    def empty(cls, key: str | None = None) -> StatsRow:
        """The figures of no runs at all."""
        return cls(key, 0, 0, 0, None, 0, 0, 0, 0, 0, None, 0, None, None)


@dataclass(frozen=True, slots=True)
class RunStats:
    """Figures of the runs created in ``[started_after, started_before)`` (no upper bound
    when ``started_before`` is None): ``total`` over all of them, ``groups`` by
    ``group_by`` (``day`` ascending; ``agent``, ``model``, ``tenant`` by runs descending,
    then key with None last), at most `MAX_GROUPS`."""

    group_by: str
    started_after: datetime
    started_before: datetime | None
    total: StatsRow
    groups: list[StatsRow]

    @classmethod
    def empty(
        cls, group_by: str, started_after: datetime, started_before: datetime | None
    ) -> RunStats:
        """The figures of a window that holds no run (a tenant asking for another's)."""
        return cls(group_by, started_after, started_before, StatsRow.empty(), [])


@dataclass(frozen=True, slots=True)
class StatsQuery:
    """Checked `read_stats` arguments."""

    group_by: str
    started_after: datetime
    started_before: datetime | None
    agent_name: str | None
    tenant_id: str | None

    @classmethod
    def check(
        cls,
        *,
        started_after: object,
        started_before: object = None,
        group_by: object = "day",
        agent_name: object = None,
        tenant_id: object = None,
    ) -> StatsQuery:
        """Validate every argument before any SQL, naming the bad one."""
        if not isinstance(group_by, str):
            raise InvalidArgumentTypeError(
                f"group_by must be a str, one of {', '.join(GROUP_BY)}; "
                f"got {type(group_by).__name__}"
            )
        if group_by not in GROUP_BY:
            shown = repr(group_by) if len(group_by) <= 40 else repr(group_by[:40]) + "..."
            raise InvalidArgumentError(
                f"group_by must be one of {', '.join(GROUP_BY)}, got {shown}"
            )
        after = check_aware("started_after", started_after, optional=False)
        before = check_aware("started_before", started_before)
        if after is None:  # not reached: the check refuses None unless optional
            raise InvalidArgumentTypeError("started_after must be a datetime")
        if before is not None and before <= after:
            raise InvalidArgumentError(
                f"started_before ({before.isoformat()}) must be later than started_after "
                f"({after.isoformat()})"
            )
        return cls(
            group_by,
            after,
            before,
            check_text("agent_name", agent_name, optional=True),
            check_text("tenant_id", tenant_id, optional=True),
        )


async def read_stats(conn: Connection, q: StatsQuery) -> RunStats:
    """The window's figures, in total and by ``q.group_by`` (one statement)."""
    rows = await conn.fetch_all(
        "run_stats",
        q.group_by,
        q.started_after,
        q.started_before,
        q.agent_name,
        q.tenant_id,
        MAX_GROUPS + 1,  # the total row, then the groups
    )
    found: Any = rows
    if not found or not found[0][0]:  # SQLite returns no row at all for an empty window
        return RunStats.empty(q.group_by, q.started_after, q.started_before)
    groups = [StatsRow.from_row(r) for r in found[1:]]
    if q.group_by == "day":
        groups.reverse()  # the SQL keeps the latest days; the overview reads them in order
    return RunStats(
        q.group_by, q.started_after, q.started_before, StatsRow.from_row(found[0]), groups
    )
