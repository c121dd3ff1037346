"""Store functions for live usage and the delegation subtree, with 0.4.1's record names.

`StateStore.run_usage`, ``subtree_usage`` and ``get_subtree`` end here. The SQL
and the arithmetic are `dendrux.read.usage`'s (shared with `RunStore`); this
module only shapes them as 0.4.1's ``UsageRollup`` / ``SubtreeNodeRecord`` /
``SubtreeRecord``, whose ``run`` is the same ``RunRecord`` ``get_run`` returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dendrux.read.records import RUN_COLUMNS
from dendrux.read.usage import (
    COST_DECIMALS,
    RunUsage,
    read_run_usage,
    read_subtree_usage,
    subtree_rows,
)
from dendrux.scope import check_scope
from dendrux.state._executor import Executor, reading
from dendrux.state.rowmap import run_record
from dendrux.types import UNSCOPED, RunRecord, TenantScope
from dendrux.validation import check_required_id


@dataclass(frozen=True)
class UsageRollup:
    """Token and cost totals summed live from ``llm_interactions`` (0.4.1's record).

    ``cost_usd`` equals ``known_cost_usd`` only when no call was unpriced, else it is
    None: a partial sum never reads as the whole spend.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    known_cost_usd: float = 0.0
    unpriced_calls: int = 0
    llm_calls: int = 0

    @property
    def cost_usd(self) -> float | None:
        """The total cost, or None when some call's cost is unknown."""
        return None if self.unpriced_calls else self.known_cost_usd

    @classmethod
    def combine(cls, rollups: Iterable[UsageRollup]) -> UsageRollup:
        """The sum of several rollups."""
        items = list(rollups)
        return cls(
            input_tokens=sum(r.input_tokens for r in items),
            output_tokens=sum(r.output_tokens for r in items),
            cache_read_tokens=sum(r.cache_read_tokens for r in items),
            cache_write_tokens=sum(r.cache_write_tokens for r in items),
            reasoning_tokens=sum(r.reasoning_tokens for r in items),
            known_cost_usd=round(sum(r.known_cost_usd for r in items), COST_DECIMALS),
            unpriced_calls=sum(r.unpriced_calls for r in items),
            llm_calls=sum(r.llm_calls for r in items),
        )

    @classmethod
    def of(cls, usage: RunUsage) -> UsageRollup:
        """The rollup of a `RunUsage` (the reader's record of the same figures)."""
        return cls(
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
            usage.cache_write_tokens,
            usage.reasoning_tokens,
            usage.known_cost_usd,
            usage.unpriced_calls,
            usage.llm_calls,
        )


@dataclass(frozen=True)
class SubtreeNodeRecord:
    """One run of a subtree with its depth below the root and its own live usage."""

    run: RunRecord
    depth: int
    usage: UsageRollup


@dataclass(frozen=True)
class SubtreeRecord:
    """A root run and its descendants (breadth first, root first) with the rolled-up usage."""

    nodes: list[SubtreeNodeRecord]
    usage: UsageRollup


async def run_usage(db: Executor, run_id: str) -> UsageRollup:
    """One run's live usage; all zero for a run without LLM calls (or no such run)."""
    run_id = check_required_id("run_id", run_id)
    async with reading(db) as conn:
        return UsageRollup.of(await read_run_usage(conn, run_id))


async def subtree_usage(db: Executor, run_id: str) -> UsageRollup:
    """Live usage of a run and all its descendants (root inclusive, every tenant)."""
    run_id = check_required_id("run_id", run_id)
    async with reading(db) as conn:
        return UsageRollup.of(await read_subtree_usage(conn, run_id))


async def get_subtree(
    db: Executor, run_id: str, *, tenant_id: TenantScope = UNSCOPED
) -> SubtreeRecord | None:
    """A run, its descendants breadth first (root first) and their live usage; None when
    the run does not exist or is out of the tenant scope. A descendant out of scope is
    left out with everything below it. ``tenant_id``: omitted for every tenant, None for
    untenanted runs only, or a tenant."""
    run_id = check_required_id("run_id", run_id)
    scope = check_scope("tenant_id", tenant_id)
    async with reading(db) as conn:
        rows = await subtree_rows(conn, "subtree_runs", run_id, scope)
        d = conn.dialect
        at = len(RUN_COLUMNS)
        nodes = []
        for row in rows:
            r: Any = row  # rows index by position too
            own = UsageRollup.of(RunUsage.from_row(r, at + 1))
            nodes.append(SubtreeNodeRecord(run_record(row, d), int(r[at]), own))
    if not nodes:
        return None
    return SubtreeRecord(nodes, UsageRollup.combine(n.usage for n in nodes))


__all__ = [
    "SubtreeNodeRecord",
    "SubtreeRecord",
    "UsageRollup",
    "get_subtree",
    "run_usage",
    "subtree_usage",
]
