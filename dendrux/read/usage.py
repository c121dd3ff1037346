"""Live usage and the delegation subtree: `RunStore`'s records and the reads behind both
facades.

Usage is summed from ``llm_interactions`` when it is read, not from the totals
``finalize_run`` writes on ``agent_runs``, so a running or paused run and a child
that has not finished yet already count. An unpriced call (NULL ``cost_usd``) makes
the total cost unknown instead of a partial sum that would read as the whole spend.

A subtree is one recursive query per dialect (``sql/<dialect>/usage.sql``) that
returns every node with its depth and its own usage: one round trip however large
the tree. It walks parent links from the root, never back into it, at most
`MAX_DELEGATION_DEPTH` levels down.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dendrux.read.delegation import MAX_DELEGATION_DEPTH
from dendrux.read.records import RUN_COLUMNS, SUMMARY_COLUMNS, RunSummary

if TYPE_CHECKING:
    from dendrux.db.engine import Connection, Row

USAGE_COLUMNS = (
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "reasoning_tokens", "known_cost_usd", "unpriced_calls", "llm_calls",
)  # fmt: skip
"""``run_usage`` and ``subtree_usage``; the tail of ``subtree_*`` rows after the depth."""
SUBTREE_SUMMARY_COLUMNS = (*SUMMARY_COLUMNS, "depth", *USAGE_COLUMNS)
"""``subtree_summaries``: a `RunSummary` row, the depth, the run's own usage."""
SUBTREE_RUN_COLUMNS = (*RUN_COLUMNS, "depth", *USAGE_COLUMNS)
"""``subtree_runs``: a ``RunRecord`` row, the depth, the run's own usage."""

COST_DECIMALS = 6
"""Costs are summed to the stored precision (0.4.1 rounds its sums the same way), so a
float sum of many calls does not read as 0.30000000000000004."""

Scope = tuple[bool, str | None]
"""A checked ``tenant_id=`` scope (`dendrux.scope.check_scope`): (applies?, the tenant)."""


@dataclass(frozen=True, slots=True)
class RunUsage:
    """Token and cost totals of a run (or a subtree) summed live from its LLM calls.

    ``cost_usd`` is None when any call was unpriced (``unpriced_calls > 0``);
    ``known_cost_usd`` is the sum over the priced calls only.
    """

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_usd: float | None
    known_cost_usd: float
    unpriced_calls: int
    llm_calls: int

    @classmethod
    def from_row(cls, r: Any, at: int = 0) -> RunUsage:
        """The `USAGE_COLUMNS` of a row, starting at position ``at``."""
        known = round(float(r[at + 5]), COST_DECIMALS)
        unpriced = int(r[at + 6])
        return cls(
            int(r[at]), int(r[at + 1]), int(r[at + 2]), int(r[at + 3]), int(r[at + 4]),
            None if unpriced else known, known, unpriced, int(r[at + 7]),
        )  # fmt: skip

    @classmethod
    def combine(cls, parts: Iterable[RunUsage]) -> RunUsage:
        """The sum of several usages (a subtree's from its nodes')."""
        items = list(parts)
        known = round(sum(u.known_cost_usd for u in items), COST_DECIMALS)
        unpriced = sum(u.unpriced_calls for u in items)
        return cls(
            sum(u.input_tokens for u in items),
            sum(u.output_tokens for u in items),
            sum(u.cache_read_tokens for u in items),
            sum(u.cache_write_tokens for u in items),
            sum(u.reasoning_tokens for u in items),
            None if unpriced else known,
            known,
            unpriced,
            sum(u.llm_calls for u in items),
        )


@dataclass(frozen=True, slots=True)
class SubtreeNode:
    """One run of a subtree: its summary, its depth below the root, its own live usage."""

    run: RunSummary
    depth: int
    usage: RunUsage


@dataclass(frozen=True, slots=True)
class RunSubtree:
    """A run and all its descendants, breadth first with the root first (depth 0), and
    their live usage rolled up (``usage`` is the sum of the nodes' usages)."""

    root_run_id: str
    nodes: list[SubtreeNode]
    usage: RunUsage

    @property
    def root(self) -> SubtreeNode:
        """The run the subtree was read for."""
        return self.nodes[0]


async def read_run_usage(conn: Connection, run_id: str) -> RunUsage:
    """One run's live usage (all zero for a run without calls, or no run)."""
    row = await conn.fetch_one("run_usage", run_id)
    return RunUsage.from_row(row)


async def read_subtree_usage(conn: Connection, run_id: str) -> RunUsage:
    """Live usage of a run and everything below it, every tenant included."""
    rows = await conn.fetch_all("subtree_usage", run_id, MAX_DELEGATION_DEPTH)
    return RunUsage.combine(RunUsage.from_row(r) for r in rows)


async def subtree_rows(conn: Connection, query: str, run_id: str, scope: Scope) -> Sequence[Row]:
    """``subtree_summaries`` or ``subtree_runs`` rows; none when the root is missing or out
    of scope. ``scope`` comes from `check_scope`."""
    applies, tenant = scope
    return await conn.fetch_all(query, run_id, not applies, tenant, MAX_DELEGATION_DEPTH)


async def read_subtree(conn: Connection, run_id: str, scope: Scope) -> RunSubtree | None:
    """A run's subtree as `RunStore` returns it; None when the root is missing or out of
    scope."""
    rows = await subtree_rows(conn, "subtree_summaries", run_id, scope)
    if not rows:
        return None
    at = len(SUMMARY_COLUMNS)
    summaries = RunSummary.from_rows(rows, conn.dialect)
    found: Any = rows  # rows index by position too
    nodes = [
        SubtreeNode(run, int(r[at]), RunUsage.from_row(r, at + 1))
        for run, r in zip(summaries, found, strict=True)
    ]
    return RunSubtree(run_id, nodes, RunUsage.combine(n.usage for n in nodes))


__all__ = [
    "SUBTREE_RUN_COLUMNS",
    "SUBTREE_SUMMARY_COLUMNS",
    "USAGE_COLUMNS",
    "RunSubtree",
    "RunUsage",
    "SubtreeNode",
    "read_run_usage",
    "read_subtree",
    "read_subtree_usage",
]
