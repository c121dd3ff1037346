"""The issue's reads through ours, through 0.4.1 (in its process) and through the bare
driver running our SQL, in interleaved rounds; the returned rows checked equal first.
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable
from typing import Any

from bench.reads.bare import Bare, BarePostgres, BareSqlite
from bench.reads.calls import _filter_args, one_key
from bench.upstream.dataset import COUNT_USER, HOT_THREAD, ReadData
from bench.upstream.oracle import Oracle
from bench.upstream.shared import AFTER, READS, normalise, read_call, time_calls

RUN_JSON = ("meta",)


def bare_calls(bare: Bare, dialect: str, data: ReadData) -> dict[str, Any]:
    """Per read: (named query, fetch, JSON columns, args of iteration i, the rows' keys).
    A one-key metadata filter runs the twin the library picks (`RunFilters.pick`)."""
    run = data.big_run
    ids = data.run_ids

    def ids_of(rows: list[dict[str, Any]]) -> list[Any]:
        return [r["id"] for r in rows]

    return {
        "list_runs": ("list_run_summaries", "all", RUN_JSON,
                      lambda i: [*_filter_args(dialect, None, None), 50, 0], ids_of),
        "list_runs_thread": (
            one_key(dialect, "list_run_summaries_by_meta"), "all", RUN_JSON,
            lambda i: [*_filter_args(dialect, None, {"thread_id": HOT_THREAD}), 50, 0], ids_of),
        "count_error_user": (
            one_key(dialect, "count_runs_by_meta"), "value", (),
            lambda i: _filter_args(dialect, ["error"], {"user_id": COUNT_USER}), None),
        "events": ("get_run_events", "all", ("data",), lambda i: [run, None, None, None],
                   lambda rows: [r["sequence_index"] for r in rows]),
        "events_after": ("get_run_events", "all", ("data",), lambda i: [run, AFTER, None, None],
                         lambda rows: [r["sequence_index"] for r in rows]),
        "traces": ("get_traces", "all", ("meta",), lambda i: [run, None, 0],
                   lambda rows: [r["order_index"] for r in rows]),
        "get_run": ("get_run", "row", ("input_data", "output_data", "meta"),
                    lambda i: [ids[i % len(ids)]], ids_of),
    }  # fmt: skip


def _bare_fn(bare: Bare, spec: Any) -> Callable[[int], Awaitable[Any]]:
    name, fetch, cols, args, _ = spec
    if fetch == "value":
        return lambda i: bare.fetch_value(name, args(i))
    method = bare.fetch_row if fetch == "row" else bare.fetch_all
    return lambda i: method(name, args(i), cols)


def _our_keys(key: str, result: Any) -> Any:
    if key in ("list_runs", "list_runs_thread"):
        return [r.run_id for r in result]
    if key in ("events", "events_after"):
        return [e.sequence_index for e in result]
    if key == "traces":
        return [t.order_index for t in result]
    if key == "get_run":
        return [result.run_id]
    return result


async def bench_reads(
    dialect: str,
    ours_url: str,
    ours_location: str,
    theirs_url: str,
    oracle: Oracle,
    data: ReadData,
    args: Any,
    out: Callable[[str], None],
) -> dict[str, Any]:
    from dendrux.store import RunStore

    params = data.params()
    failures: list[str] = []
    store = RunStore.from_database_url(ours_url)
    bare: Bare = BareSqlite(ours_location) if dialect == "sqlite" else BarePostgres(ours_location)
    await bare.open()
    await oracle.call("open", url=theirs_url, params=params)
    try:
        specs = bare_calls(bare, dialect, data)
        bare_fns = {key: _bare_fn(bare, spec) for key, spec in specs.items()}

        # Rows checked equal: ours against 0.4.1 (every shared field), ours against bare.
        theirs_rows = await oracle.call("rows")
        parity: dict[str, Any] = {}
        for key, label in READS:
            result = await read_call(store, key, params, 0)
            mine = normalise(key, result)
            same = mine == theirs_rows[key]
            bare_result = await bare_fns[key](0)
            spec = specs[key]
            if spec[1] == "value":
                bare_same = bare_result == result
            else:
                rows = bare.as_dicts(bare_result, spec[2]) if bare_result is not None else []
                bare_same = spec[4](rows) == _our_keys(key, result)
            size = (
                mine if key == "count_error_user"
                else int(mine is not None) if key == "get_run" else len(mine)
            )  # fmt: skip
            parity[key] = {"rows": size, "same_as_upstream": same, "same_as_bare": bare_same}
            if not same:
                first = next(
                    (f"{a!r:.300} vs {b!r:.300}" for a, b in
                     zip(mine or [], theirs_rows[key] or [], strict=False) if a != b),
                    f"{size} vs {len(theirs_rows[key] or [])} rows"
                    if isinstance(mine, list) else f"{mine!r} vs {theirs_rows[key]!r}",
                )  # fmt: skip
                failures.append(f"reads {label}: ours and 0.4.1 differ: {first}")
            if not bare_same:
                failures.append(f"reads {label}: ours and the bare driver differ")
        out("  rows: " + ", ".join(
            f"{k} {p['rows']}" + ("" if p["same_as_upstream"] else " DIFFERENT FROM 0.4.1")
            + ("" if p["same_as_bare"] else " DIFFERENT FROM BARE")
            for k, p in parity.items()))  # fmt: skip

        rounds: list[dict[str, Any]] = []
        for r in range(1, args.repeat + 1):
            rnd: dict[str, Any] = {"round": r, "ours": {}, "bare": {}}
            order = ("ours", "upstream") if r % 2 else ("upstream", "ours")
            for side in order:
                if side == "upstream":
                    rnd["upstream"] = await oracle.call(
                        "time", iterations=args.iterations, warmup=args.warmup
                    )
                    continue
                for key, _ in READS:

                    def lib(i: int, key: str = key) -> Awaitable[Any]:
                        return read_call(store, key, params, i)

                    o, b = await time_calls([lib, bare_fns[key]], args.iterations, args.warmup)
                    rnd["ours"][key], rnd["bare"][key] = o, b
            out(f"  reads round {r}: " + ", ".join(
                f"{k} {rnd['upstream'][k]['p50']:.2f}/{rnd['ours'][k]['p50']:.2f}/"
                f"{rnd['bare'][k]['p50']:.2f}" for k, _ in READS)
                + "  (p50 ms 0.4.1/ours/bare)")  # fmt: skip
            rounds.append(rnd)
    finally:
        await oracle.call("close")
        await store.close()
        await bare.close()

    calls = {}
    for key, label in READS:

        def med(side: str, key: str = key) -> float:
            return float(statistics.median(rnd[side][key]["p50"] for rnd in rounds))

        up, ours, raw = med("upstream"), med("ours"), med("bare")
        calls[key] = {
            "label": label,
            "rows": parity[key]["rows"],
            "upstream_p50_ms": up,
            "ours_p50_ms": ours,
            "bare_p50_ms": raw,
            "each_round": [
                {s: rnd[s][key]["p50"] for s in ("upstream", "ours", "bare")} for rnd in rounds
            ],
            "speedup": up / ours,
            "vs_bare": ours / raw,
        }
    return {"calls": calls, "parity": parity, "rounds": len(rounds), "failures": failures}
