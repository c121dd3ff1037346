"""The recorder workload through ours and through 0.4.1, interleaved, each on a fresh
database, every variant verified and the two compared row by row.

The workload is `bench.workload`'s (23 hook calls per run: the four hooks, plus
``create_run`` and ``finalize_run`` through the store), generated once; 0.4.1 gets it as
JSON and builds its own types from it before timing (`theirs.py`).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import workload as w
from bench.recorder import Databases, PostgresDatabases, run_library, verify
from bench.upstream.oracle import Oracle, copy_sqlite, pg_url

# Columns both schemas hold, compared per table after normalising types; JSON columns
# are compared on the keys both sides write (0.4.1 adds a few of its own, ours too).
CORRELATION = "CASE WHEN event_type = 'llm.completed' THEN NULL ELSE correlation_id END"
SNAPSHOT: dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]] = {
    # table: (columns, ORDER BY, JSON columns); llm.completed's correlation id is minted
    # per run on each side, so it is checked by the verification's join instead.
    "agent_runs": (
        ("id", "status", "agent_name", "tenant_id", "iteration_count", "total_input_tokens",
         "total_output_tokens", "total_cost_usd", "model", "strategy", "input_data",
         "output_data", "meta"),
        "id",
        ("input_data", "output_data", "meta"),
    ),
    "react_traces": (
        ("agent_run_id", "order_index", "role", "content", "meta"),
        "agent_run_id, order_index",
        ("meta",),
    ),
    "tool_calls": (
        ("agent_run_id", "tool_call_id", "provider_tool_call_id", "tool_name", "target",
         "params", "result", "success", "duration_ms", "iteration_index", "error_message"),
        "agent_run_id, tool_call_id",
        ("params", "result"),
    ),
    "run_events": (
        ("agent_run_id", "sequence_index", "event_type", "iteration_index", CORRELATION, "data"),
        "agent_run_id, sequence_index",
        ("data",),
    ),
    "llm_interactions": (
        ("agent_run_id", "iteration_index", "model", "provider", "semantic_request",
         "semantic_response", "provider_request", "provider_response", "input_tokens",
         "output_tokens", "cost_usd", "duration_ms"),
        "agent_run_id, iteration_index",
        ("semantic_request", "semantic_response", "provider_request", "provider_response"),
    ),
    "token_usage": (
        ("agent_run_id", "iteration_index", "model", "provider", "input_tokens",
         "output_tokens", "cost_usd"),
        "agent_run_id, iteration_index",
        (),
    ),
}  # fmt: skip
BOOLEAN = ("success",)


def workload_json(specs: list[w.RunSpec]) -> dict[str, Any]:
    """The workload as plain JSON, for 0.4.1 to rebuild with its own types."""

    def call(c: Any) -> dict[str, Any]:
        return {"name": c.name, "params": c.params, "id": c.id,
                "provider_tool_call_id": c.provider_tool_call_id}  # fmt: skip

    def msg(m: Any) -> dict[str, Any]:
        return {
            "role": m.role.value, "content": m.content, "call_id": m.call_id, "name": m.name,
            "tool_calls": None if m.tool_calls is None else [call(c) for c in m.tool_calls],
            "meta": dict(m.meta) if m.meta else None,
        }  # fmt: skip

    def usage(u: Any) -> dict[str, Any]:
        names = ("input_tokens", "output_tokens", "cost_usd", "cache_read_input_tokens",
                 "cache_creation_input_tokens", "reasoning_tokens")  # fmt: skip
        out = {k: getattr(u, k) for k in names}
        out["total_tokens"] = getattr(u, "total_tokens", 0)  # as ours gets it: the same input
        return out

    runs = []
    for s in specs:
        runs.append(
            {
                "run_id": s.run_id, "input_data": s.input_data, "meta": s.meta,
                "user": msg(s.user), "final": msg(s.final), "answer": s.answer,
                "governance": list(s.governance), "total_usage": usage(s.total_usage),
                "iterations": [
                    {
                        "response": {
                            "text": it.response.text,
                            "tool_calls": [call(c) for c in it.response.tool_calls or []],
                            "usage": usage(it.response.usage),
                            "provider_request": it.response.provider_request,
                            "provider_response": it.response.provider_response,
                        },
                        "semantic_messages": [msg(m) for m in it.semantic_messages],
                        "duration_ms": it.duration_ms,
                        "assistant": msg(it.assistant),
                        "call": call(it.call),
                        "result": {"name": it.result.name, "call_id": it.result.call_id,
                                   "payload": it.result.payload, "success": it.result.success,
                                   "error": it.result.error,
                                   "duration_ms": it.result.duration_ms},
                        "tool_message": msg(it.tool_message),
                    }
                    for it in s.iterations
                ],
            }
        )  # fmt: skip
    tools = [{"name": t.name, "description": t.description, "parameters": t.parameters,
              "target": t.target, "meta": t.meta} for t in w.TOOLS]  # fmt: skip
    constants = {"agent_name": w.AGENT_NAME, "model": w.MODEL, "provider": w.PROVIDER,
                 "tenant": w.TENANT, "targets": w.TARGETS}  # fmt: skip
    return {"runs": runs, "tools": tools, "constants": constants}


def _value(v: Any, is_json: bool, is_bool: bool) -> Any:
    from bench.upstream.shared import plain

    if is_json and isinstance(v, str):
        v = json.loads(v)
    if is_bool and v is not None:
        return bool(v)
    if isinstance(v, float) or type(v).__name__ == "Decimal":
        return round(float(v), 6)
    return plain(v)


def _diff(a: Any, b: Any, path: str, extra: set[str]) -> str | None:
    """The first difference between ``a`` (ours) and ``b`` (0.4.1), dict keys only one side
    writes aside (collected in ``extra``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() ^ b.keys()):
            extra.add(f"{path}.{key} ({'ours' if key in a else '0.4.1'} only)")
        for key in sorted(a.keys() & b.keys()):
            if (found := _diff(a[key], b[key], f"{path}.{key}", extra)) is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if (found := _diff(x, y, f"{path}[{i}]", extra)) is not None:
                return found
        return None
    return None if a == b else f"{path}: ours {str(a)[:200]!r}, 0.4.1 {str(b)[:200]!r}"


async def compare(dbs: Databases, ours: str, theirs: str) -> tuple[list[str], list[str]]:
    """(differences, keys only one side writes) between ours' and 0.4.1's rows."""
    failures: list[str] = []
    extra: set[str] = set()
    for table, (cols, order, json_cols) in SNAPSHOT.items():
        sql = f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}"
        a_rows, b_rows = await dbs.query(ours, sql), await dbs.query(theirs, sql)
        if len(a_rows) != len(b_rows):
            failures.append(f"{table}: ours {len(a_rows)} rows, 0.4.1 {len(b_rows)} rows")
            continue
        for a, b in zip(a_rows, b_rows, strict=True):
            found = None
            for i, name in enumerate(cols):
                x = _value(a[i], name in json_cols, name in BOOLEAN)
                y = _value(b[i], name in json_cols, name in BOOLEAN)
                label = "correlation_id" if name == CORRELATION else name
                if (found := _diff(x, y, f"{table}.{label}", extra)) is not None:
                    break
            if found is not None:
                failures.append(f"{found} (row {str(a[:2])[:80]})")
                break
    return failures, sorted(extra)


def _summary(timing: dict[str, Any], runs: int) -> dict[str, Any]:
    from bench.upstream.shared import pct

    hooks = runs * w.HOOK_CALLS_PER_RUN
    return {
        "wall_s": timing["wall_s"],
        "hook_calls": hooks,
        "hook_calls_per_s": hooks / timing["wall_s"],
        "loop_thread_cpu_s": timing["loop_cpu_s"],
        "process_cpu_s": timing["process_cpu_s"],
        "latency_ms": {
            k: {"p50": pct(v, 0.5) * 1e3, "p99": pct(v, 0.99) * 1e3}
            for k, v in timing["latencies"].items()
            if v
        },
    }


async def fresh_theirs(dbs: Databases, name: str, template: Any) -> tuple[str, str]:
    """(URL for 0.4.1, location for our checks): a copy of 0.4.1's empty schema."""
    if isinstance(dbs, PostgresDatabases):
        await dbs._admin(f'DROP DATABASE IF EXISTS "{name}"',
                         f'CREATE DATABASE "{name}" TEMPLATE "{template}"')  # fmt: skip
        dsn = dbs.cluster.dsn(name)
        return pg_url(dsn), dsn
    path = dbs.dir / f"{name}.db"
    copy_sqlite(template, path)
    return f"sqlite+aiosqlite:///{path}", str(path)


async def bench_recorder(
    dbs: Databases,
    oracle: Oracle,
    template: Any,
    specs: list[w.RunSpec],
    workload_path: Path,
    args: Any,
    out: Callable[[str], None],
) -> dict[str, Any]:
    runs = len(specs)
    repeats: list[dict[str, Any]] = []
    failures: list[str] = []
    pragmas: dict[str, Any] = {}
    for r in range(1, args.repeat + 1):
        order = ("ours", "upstream") if r % 2 else ("upstream", "ours")
        rep: dict[str, Any] = {"repeat": r, "order": list(order)}
        where: dict[str, str] = {}
        for side in order:
            if side == "ours":
                url, location = await dbs.fresh(f"up_ours_{r}")
                await dbs.before_variant()
                t = await run_library(url, specs, args.concurrency)
                timing = {"wall_s": t.wall_s, "loop_cpu_s": t.loop_cpu_s,
                          "process_cpu_s": t.process_cpu_s, "latencies": t.latencies}  # fmt: skip
            else:
                url, location = await fresh_theirs(dbs, f"up_theirs_{r}", template)
                await dbs.before_variant()
                timing = await oracle.call(
                    "record", url=url, workload=str(workload_path),
                    concurrency=args.concurrency,
                    synchronous="FULL" if dbs.dialect == "sqlite" else None,
                )  # fmt: skip
                pragmas = timing["pragmas"]
            where[side] = location
            summary = _summary(timing, runs)
            if side == "upstream":
                summary["warnings"] = timing["warnings"]
                for what, n in timing["warnings"].items():
                    out(f"  recorder repeat {r} 0.4.1 logged {n} x: {what}")
            problems = await verify(dbs, location, runs)
            summary["verified"] = not problems
            failures += [f"recorder repeat {r} {side}: {p}" for p in problems]
            rep[side] = summary
            out(
                f"  recorder repeat {r} {side:<8} {summary['wall_s']:7.2f} s "
                f"{summary['hook_calls_per_s']:8.1f} hook calls/s  "
                f"{'verified' if not problems else 'VERIFICATION FAILED'}"
            )
        mismatch, extra = await compare(dbs, where["ours"], where["upstream"])
        rep["same_rows"] = not mismatch
        rep["keys_one_side_only"] = extra
        failures += [f"recorder repeat {r} rows: {m}" for m in mismatch]
        rep["ratio"] = rep["ours"]["hook_calls_per_s"] / rep["upstream"]["hook_calls_per_s"]
        out(f"  recorder repeat {r}: ours/0.4.1 = {rep['ratio']:.1f}x, rows "
            + ("equal" if not mismatch else "DIFFERENT"))  # fmt: skip
        repeats.append(rep)
        for location in where.values():
            await dbs.drop(location)
    return {
        "runs": runs,
        "concurrency": args.concurrency,
        "hook_calls_per_run": w.HOOK_CALLS_PER_RUN,
        "upstream_settings": pragmas,
        "repeats": repeats,
        "median": {
            "ours_hook_calls_per_s": statistics.median(
                x["ours"]["hook_calls_per_s"] for x in repeats
            ),
            "upstream_hook_calls_per_s": statistics.median(
                x["upstream"]["hook_calls_per_s"] for x in repeats
            ),
            "ratio": statistics.median(x["ratio"] for x in repeats),
        },
        "failures": failures,
    }
