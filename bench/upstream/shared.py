"""What both processes run: the read calls, their normalised results, the timing loop.

Standard library only: `theirs.py` imports this file by path inside the oracle venv
(dendrux 0.4.1), and our side imports it as ``bench.upstream.shared``. Keeping one copy
means both sides time the same calls the same way and normalise results identically.
"""

from __future__ import annotations

import datetime as dt
import gc
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

# (key, label): the read figures, in its order.
READS: tuple[tuple[str, str], ...] = (
    ("list_runs", "list_runs(limit=50)"),
    ("list_runs_thread", "list_runs(metadata_filter={thread_id}) (2% match)"),
    ("count_error_user", "count_runs(metadata_filter={user_id}, status='error')"),
    ("events", "get_events(run) (2,000 events)"),
    ("events_after", "get_events(run, after_sequence_index=1990)"),
    ("traces", "get_traces(run) (500)"),
    ("get_run", "get_run(run_id)"),
)
AFTER = 1990


def read_call(store: Any, key: str, params: dict[str, Any], i: int) -> Awaitable[Any]:
    """Iteration ``i`` of read ``key`` on a RunStore (ours or 0.4.1's: same signatures)."""
    run = params["big_run"]
    if key == "list_runs":
        return store.list_runs(limit=50)
    if key == "list_runs_thread":
        return store.list_runs(metadata_filter={"thread_id": params["thread"]})
    if key == "count_error_user":
        return store.count_runs(metadata_filter={"user_id": params["user"]}, status="error")
    if key == "events":
        return store.get_events(run)
    if key == "events_after":
        return store.get_events(run, after_sequence_index=AFTER)
    if key == "traces":
        return store.get_traces(run)
    if key == "get_run":
        ids = params["run_ids"]
        return store.get_run(ids[i % len(ids)])
    raise KeyError(key)


def ts(value: Any) -> str | None:
    """A timestamp as aware-UTC ISO text (a naive one is taken as UTC, as 0.4.1 stores it)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    text: str = value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return text


def money(value: Any) -> float | None:
    return None if value is None else round(float(value), 6)


def plain(value: Any) -> Any:
    """JSON values as JSON would carry them (Decimal -> float, tuples -> lists)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _summary(r: Any) -> list[Any]:
    return [
        r.run_id, r.agent_name, r.status, ts(r.created_at), ts(r.updated_at), r.iteration_count,
        r.total_input_tokens, r.total_output_tokens, r.total_cache_read_tokens,
        r.total_cache_creation_tokens, money(r.total_cost_usd), r.model, r.parent_run_id,
        r.delegation_level,
    ]  # fmt: skip


def normalise(key: str, result: Any) -> Any:
    """The fields both packages' records share, as plain JSON values (the parity check)."""
    if key in ("list_runs", "list_runs_thread"):
        return [_summary(r) for r in result]
    if key == "count_error_user":
        return int(result)
    if key in ("events", "events_after"):
        return [
            [e.sequence_index, e.iteration_index, e.event_type, e.correlation_id, plain(e.data),
             ts(e.created_at)]
            for e in result
        ]  # fmt: skip
    if key == "traces":
        return [[t.role, t.content, t.order_index, plain(t.meta), ts(t.created_at)] for t in result]
    if key == "get_run":
        if result is None:
            return None
        d = result
        return [*_summary(d), d.strategy, plain(d.input_data), d.answer, d.error, d.failure_reason]
    raise KeyError(key)


def pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


async def time_calls(
    sides: Sequence[Callable[[int], Awaitable[Any]]], iterations: int, warmup: int
) -> list[dict[str, float]]:
    """Warm up, then time ``iterations`` calls per side, the sides interleaved and their
    order rotated per iteration; p50/p99/mean in ms per side."""
    for i in range(warmup):
        for side in sides:
            await side(i)
    gc.collect()
    clock = time.perf_counter
    spent: list[list[float]] = [[] for _ in sides]
    n = len(sides)
    for i in range(iterations):
        for k in range(n):
            j = (i + k) % n
            t = clock()
            await sides[j](i)
            spent[j].append(clock() - t)
    return [
        {"p50": pct(s, 0.5) * 1e3, "p99": pct(s, 0.99) * 1e3, "mean": sum(s) / len(s) * 1e3}
        for s in spent
    ]
