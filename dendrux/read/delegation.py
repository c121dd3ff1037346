"""A run's place in its delegation tree: the records and the one read that builds them.

`RunStore.get_delegation_info` and `StateStore.get_delegation_info` both end
here; `dendrux.types` and `dendrux.state` re-export the records under their
upstream names. Walks are recursive CTEs bounded by `MAX_DELEGATION_DEPTH`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `dendrux.types` re-exports the records: it must not load the engine
    from dendrux.db.engine import Connection

MAX_DELEGATION_DEPTH = 1000
"""Recursive walks stop here, so a cycle in parent links cannot loop forever."""

# The columns each query returns; the builders below read them by name, and
# tests/test_read_columns.py checks both dialects' queries against these lists.
NODE_COLUMNS = ("id", "parent_run_id", "agent_name", "status", "delegation_level")
ANCESTRY_COLUMNS = (*NODE_COLUMNS, "depth")
CHILDREN_COLUMNS = ("id", "agent_name", "status", "delegation_level")
SUBTREE_COLUMNS = (
    "status", "runs", "direct_children", "max_depth", "input_tokens", "output_tokens",
    "cost_usd", "unknown_costs",
)  # fmt: skip


@dataclass(slots=True)
class RunBrief:
    """The few fields that identify a run in a delegation tree."""

    run_id: str
    agent_name: str
    status: str
    delegation_level: int


@dataclass(slots=True)
class ParentRef:
    """A run's parent; ``resolved`` is False when the parent row is gone."""

    run_id: str
    resolved: bool
    agent_name: str | None = None
    status: str | None = None
    delegation_level: int | None = None


@dataclass(slots=True)
class SubtreeSummary:
    """Totals over a run and all its descendants.

    The token, cost and status figures include the run itself;
    ``direct_child_count`` and ``descendant_count`` count only runs below it.
    """

    direct_child_count: int
    descendant_count: int
    max_depth: int
    subtree_input_tokens: int
    subtree_output_tokens: int
    subtree_cost_usd: float | None
    unknown_cost_count: int
    status_counts: dict[str, int]


@dataclass(slots=True)
class DelegationInfo:
    """A run's place in its delegation tree."""

    parent: ParentRef | None
    children: list[RunBrief]
    ancestry: list[RunBrief]
    subtree_summary: SubtreeSummary
    ancestry_complete: bool


async def read_delegation_info(conn: Connection, run_id: str) -> DelegationInfo | None:
    """Parent, children, ancestry (root first) and subtree totals of a run; None if
    missing. A repeated id in the ancestry (a cycle in parent links) ends it and marks
    it incomplete. ``run_id`` is already checked."""
    node = await conn.fetch_one("delegation_node", run_id)
    if node is None:
        return None
    up = await conn.fetch_all("delegation_ancestry", run_id, MAX_DELEGATION_DEPTH)
    children_rows = await conn.fetch_all("delegation_children", run_id)
    totals = await conn.fetch_all("delegation_subtree_totals", run_id, MAX_DELEGATION_DEPTH)

    parent: ParentRef | None = None
    if node["parent_run_id"] is not None:
        first = up[0] if up else None
        if first is not None and first["id"] == node["parent_run_id"]:
            parent = ParentRef(
                run_id=first["id"],
                resolved=True,
                agent_name=first["agent_name"],
                status=first["status"],
                delegation_level=first["delegation_level"],
            )
        else:
            parent = ParentRef(run_id=node["parent_run_id"], resolved=False)

    ancestry: list[RunBrief] = []
    seen = {run_id}
    complete = node["parent_run_id"] is None
    for row in up:
        if row["id"] in seen:
            complete = False
            break
        seen.add(row["id"])
        ancestry.append(
            RunBrief(row["id"], row["agent_name"], row["status"], row["delegation_level"])
        )
        complete = row["parent_run_id"] is None
    ancestry.reverse()

    status_counts: Counter[str] = Counter()
    runs = direct = depth = input_tokens = output_tokens = unknown = 0
    cost: float | None = None
    for row in totals:
        status_counts[row["status"]] += int(row["runs"])
        runs += int(row["runs"])
        direct += int(row["direct_children"] or 0)
        depth = max(depth, int(row["max_depth"] or 0))
        input_tokens += int(row["input_tokens"] or 0)
        output_tokens += int(row["output_tokens"] or 0)
        unknown += int(row["unknown_costs"] or 0)
        if row["cost_usd"] is not None:
            cost = (cost or 0.0) + float(row["cost_usd"])

    return DelegationInfo(
        parent=parent,
        children=[
            RunBrief(r["id"], r["agent_name"], r["status"], r["delegation_level"])
            for r in children_rows
        ],
        ancestry=ancestry,
        subtree_summary=SubtreeSummary(
            direct_child_count=direct,
            descendant_count=max(runs - 1, 0),
            max_depth=depth,
            subtree_input_tokens=input_tokens,
            subtree_output_tokens=output_tokens,
            subtree_cost_usd=cost,
            unknown_cost_count=unknown,
            status_counts=dict(status_counts),
        ),
        ancestry_complete=complete,
    )
