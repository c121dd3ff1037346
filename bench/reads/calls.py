"""The timed calls (library and bare side of each), the statement audit that both
sides send byte-identical SQL, and streaming.
"""

from __future__ import annotations

import contextlib
import gc
import json
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.reads.bare import Bare
from bench.reads.dataset import (
    _BIG_PATTERN,
    BIG_EVENTS,
    BIG_LLM_CALLS,
    BIG_TOOL_CALLS,
    Dataset,
    dumps,
)
from dendrux.db.queries import load_queries

STREAM_EVENTS = 10_000

# ---------------------------------------------------------------------------
# the calls
# ---------------------------------------------------------------------------


@dataclass
class Call:
    key: str
    label: str
    query: str  # the named query both sides run
    fetch: str  # all | row | value
    json_cols: tuple[str, ...]
    lib: Callable[[int], Awaitable[Any]]
    args: Callable[[int], list[Any]]  # the bound parameters of iteration i
    lib_keys: Callable[[Any], Any]
    bare_keys: Callable[[list[dict[str, Any]]], Any]
    target: bool = True  # counts towards the targets
    filtered: bool = False  # has a selective filter: an index walk without seek is a finding
    cursor: str | None = None  # regex an index condition must contain (strict > cursor)


def _filter_args(
    dialect: str, statuses: list[str] | None, meta: dict[str, Any] | None
) -> list[Any]:
    """Parameters 1..7 of list_run_summaries/count_runs (and their *_by_meta twins, which a
    metadata filter selects), as `RunFilters.bind` builds them."""
    status_arg: Any = None
    if statuses is None:
        pass
    elif dialect == "postgres":
        status_arg = list(statuses)
    else:
        status_arg = json.dumps(list(statuses))
    return [status_arg, None, None, None, None, None, dumps(meta) if meta else None]


def one_key(dialect: str, name: str) -> str:
    """The query a one-key metadata filter runs: the dialect's ``_one`` twin of ``name``
    where it has one (SQLite), as `RunFilters.pick` chooses."""
    one = f"{name}_one"
    return one if one in load_queries(dialect) else name


def build_calls(store: Any, dialect: str, ds: Dataset) -> list[Call]:
    run = ds.big_run
    th, us, ids = ds.threads, ds.users, ds.run_ids
    k = len(th)
    paused = ["run.paused", "run.resumed"]  # get_pauses' event types, bound as the dialect binds
    pause_types: Any = paused if dialect == "postgres" else json.dumps(paused)

    def runs_keys(result: list[Any]) -> Any:
        return [(r.run_id, r.meta, r.created_at) for r in result]

    def runs_bare(rows: list[dict[str, Any]]) -> Any:
        return [(r["id"], r["meta"], _aware(r["created_at"])) for r in rows]

    def events_keys(result: list[Any]) -> Any:
        return [(e.sequence_index, e.event_type, e.data) for e in result]

    def events_bare(rows: list[dict[str, Any]]) -> Any:
        return [(r["sequence_index"], r["event_type"], r["data"]) for r in rows]

    return [
        Call(
            "list_runs",
            "list_runs(limit=50)",
            "list_run_summaries",
            "all",
            ("meta",),
            lambda i: store.list_runs(limit=50),
            lambda i: [*_filter_args(dialect, None, None), 50, 0],
            runs_keys,
            runs_bare,
        ),
        Call(
            "list_runs_thread",
            "list_runs(metadata_filter={thread_id})",
            one_key(dialect, "list_run_summaries_by_meta"),
            "all",
            ("meta",),
            lambda i: store.list_runs(metadata_filter={"thread_id": th[i % k]}),
            lambda i: [*_filter_args(dialect, None, {"thread_id": th[i % k]}), 50, 0],
            runs_keys,
            runs_bare,
            filtered=True,
        ),
        Call(
            "list_runs_error",
            "list_runs(status='error', limit=50)",
            "list_run_summaries",
            "all",
            ("meta",),
            lambda i: store.list_runs(status="error", limit=50),
            lambda i: [*_filter_args(dialect, ["error"], None), 50, 0],
            runs_keys,
            runs_bare,
            filtered=True,
        ),
        Call(
            "count_error_user",
            "count_runs(status='error', metadata_filter={user_id})",
            one_key(dialect, "count_runs_by_meta"),
            "value",
            (),
            lambda i: store.count_runs(status="error", metadata_filter={"user_id": us[i % k]}),
            lambda i: _filter_args(dialect, ["error"], {"user_id": us[i % k]}),
            lambda v: v,
            lambda v: v,
            filtered=True,
        ),
        Call(
            "count_all",
            "count_runs()  (unselective, no target)",
            "count_runs",
            "value",
            (),
            lambda i: store.count_runs(),
            lambda i: _filter_args(dialect, None, None),
            lambda v: v,
            lambda v: v,
            target=False,
        ),
        Call(
            "events_start",
            "get_events(run, limit=500)",
            "get_run_events",
            "all",
            ("data",),
            lambda i: store.get_events(run, limit=500),
            lambda i: [run, None, None, 500],
            events_keys,
            events_bare,
        ),
        Call(
            "events_late",
            "get_events(run, after_sequence_index=9000, limit=500)",
            "get_run_events",
            "all",
            ("data",),
            lambda i: store.get_events(run, after_sequence_index=9000, limit=500),
            lambda i: [run, 9000, None, 500],
            events_keys,
            events_bare,
            cursor=r"sequence_index ?> ?",
        ),
        Call(
            "traces",
            "get_traces(run, limit=500)",
            "get_traces",
            "all",
            ("meta",),
            lambda i: store.get_traces(run, limit=500),
            lambda i: [run, 500, 0],
            lambda result: [(t.order_index, t.role, t.meta) for t in result],
            lambda rows: [(r["order_index"], r["role"], r["meta"]) for r in rows],
        ),
        Call(
            "get_run",
            "get_run(run_id)",
            "get_run",
            "row",
            ("input_data", "output_data", "meta"),
            lambda i: store.get_run(ids[i % k]),
            lambda i: [ids[i % k]],
            lambda d: [(d.run_id, d.input_data, d.meta, d.answer)],
            lambda rows: [
                (r["id"], r["input_data"], r["meta"], (r["output_data"] or {}).get("answer"))
                for r in rows
            ],
        ),
        Call(
            "llm_calls",
            f"get_llm_calls(run)  ({BIG_LLM_CALLS} rows)",
            "get_llm_calls",
            "all",
            ("provider_request", "provider_response"),
            lambda i: store.get_llm_calls(run),
            lambda i: [run, None, None, 0],
            lambda result: [(c.id, c.provider_request, c.provider_response) for c in result],
            lambda rows: [(r["id"], r["provider_request"], r["provider_response"]) for r in rows],
        ),
        Call(
            "tool_calls",
            f"get_tool_invocations(run)  ({BIG_TOOL_CALLS} rows)",
            "get_tool_invocations",
            "all",
            ("params", "result"),
            lambda i: store.get_tool_invocations(run),
            lambda i: [run, None, None, 0],
            lambda result: [(t.tool_call_id, t.params, t.result) for t in result],
            lambda rows: [(r["tool_call_id"], r["params"], r["result"]) for r in rows],
        ),
        Call(
            "pauses",
            f"get_pauses(run)  ({BIG_EVENTS // len(_BIG_PATTERN)} pairs)",
            "get_run_events",
            "all",
            ("data",),
            lambda i: store.get_pauses(run),
            lambda i: [run, None, pause_types, None],
            lambda result: [
                s
                for p in result
                for s in (p.pause_sequence_index, p.resume_sequence_index)
                if s is not None
            ],
            lambda rows: [r["sequence_index"] for r in rows],
        ),
        Call(
            "pii_mapping",
            "get_pii_mapping(run_id)",
            "get_pii_mapping",
            "row",
            ("pii_mapping",),
            lambda i: store.get_pii_mapping(ids[i % k]),
            lambda i: [ids[i % k]],
            lambda mapping: [mapping],
            lambda rows: [r["pii_mapping"] or {} for r in rows],
        ),
    ]


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    aware: datetime = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware


async def compare_results(
    c: Call, bare: Bare, bare_call: Callable[[int], Awaitable[Any]]
) -> dict[str, Any]:
    """Run iteration 0 of a call on both sides: whether they return the same rows (by the
    call's keys), how many, and the value of a one-value call."""
    lib_result = await c.lib(0)
    bare_result = await bare_call(0)
    if c.fetch == "value":
        a, b = lib_result, bare_result
        rows = 1
    else:
        a = c.lib_keys(lib_result) if lib_result is not None else []
        b = c.bare_keys(bare.as_dicts(bare_result, c.json_cols)) if bare_result else []
        rows = len(a)
    return {"rows": rows, "value": a if c.fetch == "value" else None, "same": a == b}


def bare_fn(bare: Bare, call: Call) -> Callable[[int], Awaitable[Any]]:
    name, cols, args = call.query, call.json_cols, call.args
    if call.fetch == "value":
        fetch_value = bare.fetch_value
        return lambda i: fetch_value(name, args(i))
    fetch = bare.fetch_row if call.fetch == "row" else bare.fetch_all
    return lambda i: fetch(name, args(i), cols)


# ---------------------------------------------------------------------------
# statement audit: the SQL text and parameters each side sends, byte for byte
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def capture_statements(dialect: str, log: list[tuple[str, tuple[Any, ...]]]) -> Any:
    """Patch the driver class so every statement sent (text, parameters) is logged."""
    if dialect == "sqlite":
        import aiosqlite

        cls: Any = aiosqlite.Connection
        names = ["execute_fetchall", "execute", "executemany"]

        def unpack(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
            params = args[0] if args else kwargs.get("parameters", ())
            return tuple(params or ())
    else:
        import asyncpg.connection

        cls = asyncpg.connection.Connection
        names = ["execute", "fetch", "fetchval", "fetchrow", "executemany"]

        def unpack(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
            return tuple(args)

    originals = {name: getattr(cls, name) for name in names}

    def wrap(original: Any) -> Any:
        def recorded(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            log.append((query, unpack(args, kwargs)))
            return original(self, query, *args, **kwargs)

        return recorded

    for name, original in originals.items():
        setattr(cls, name, wrap(original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(cls, name, original)


def _drop_resets(log: list[tuple[str, tuple[Any, ...]]]) -> list[tuple[str, tuple[Any, ...]]]:
    # asyncpg's pool runs a reset query on every release (both sides alike).
    return [s for s in log if not s[0].startswith("SELECT pg_advisory_unlock_all()")]


# ---------------------------------------------------------------------------
# streaming
# ---------------------------------------------------------------------------


async def lib_stream(store: Any, run_id: str, total: int = STREAM_EVENTS) -> int:
    """Take ``total`` events from `RunStore.stream_events`, then close the generator."""
    n = 0
    async with contextlib.aclosing(store.stream_events(run_id)) as events:
        async for _event in events:
            n += 1
            if n == total:
                break
    return n


async def bare_stream(bare: Bare, run_id: str, total: int = STREAM_EVENTS, page: int = 500) -> int:
    """The same statements as stream_events: run_exists, then pages of get_run_events."""
    if not await bare.fetch_value("run_exists", [run_id, None]):
        raise LookupError(run_id)
    cursor, n = None, 0
    while n < total:
        rows = await bare.fetch_all("get_run_events", [run_id, cursor, None, page], ("data",))
        for item in rows:
            row = item[0] if isinstance(item, tuple) else item
            cursor = row["sequence_index"]
            n += 1
            if n == total:
                break
        if not rows:
            break
    return n


async def peak_growth(work: Callable[[], Awaitable[Any]]) -> int:
    """Peak traced memory above the starting point while ``work`` runs (bytes)."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        await work()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - start
