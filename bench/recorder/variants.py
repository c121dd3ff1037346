"""Driving one variant: the workload recorded through the library (`PersistenceRecorder`)
or the bare driver (`bench.bare`), every hook await timed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import workload as w
from bench.bare import BareRecorder, BareStore, PostgresBackend, SqliteBackend


@dataclass
class Timing:
    wall_s: float
    latencies: dict[str, list[float]]
    loop_cpu_s: float = 0.0  # CPU time of the event-loop thread (all Python work on the loop)
    process_cpu_s: float = 0.0  # CPU time of the whole process (adds aiosqlite's thread)


async def drive(
    specs: list[w.RunSpec],
    store: Any,
    make_recorder: Callable[[str], Any],
    concurrency: int,
) -> Timing:
    """Record every run (``concurrency`` at a time); time the whole and each hook await."""
    lat: dict[str, list[float]] = {k: [] for k in (*w.HOOK_KINDS, *w.OTHER_KINDS)}
    msg, llm, tool, gov = (lat[k] for k in w.HOOK_KINDS)
    created, finalized = lat["create_run"], lat["finalize_run"]
    clock = time.perf_counter
    gate = asyncio.Semaphore(concurrency)

    async def one(spec: w.RunSpec) -> None:
        async with gate:
            t = clock()
            await store.create_run(
                spec.run_id,
                w.AGENT_NAME,
                input_data=spec.input_data,
                model=w.MODEL,
                strategy="react",
                tenant_id=w.TENANT,
                meta=spec.meta,
            )
            created.append(clock() - t)
            rec = make_recorder(spec.run_id)
            t = clock()
            await rec.on_message_appended(spec.user, 0)
            msg.append(clock() - t)
            for i, it in enumerate(spec.iterations, 1):
                t = clock()
                await rec.on_llm_call_completed(
                    it.response,
                    i,
                    semantic_messages=it.semantic_messages,
                    semantic_tools=w.TOOLS,
                    duration_ms=it.duration_ms,
                )
                llm.append(clock() - t)
                t = clock()
                await rec.on_message_appended(it.assistant, i)
                msg.append(clock() - t)
                t = clock()
                await rec.on_tool_completed(it.call, it.result, i)
                tool.append(clock() - t)
                t = clock()
                await rec.on_message_appended(it.tool_message, i)
                msg.append(clock() - t)
            event_type, data, correlation = spec.governance
            t = clock()
            await rec.on_governance_event(event_type, w.ITERATIONS, data, correlation)
            gov.append(clock() - t)
            t = clock()
            await rec.on_message_appended(spec.final, w.ITERATIONS)
            msg.append(clock() - t)
            t = clock()
            done = await store.finalize_run(
                spec.run_id,
                status="success",
                answer=spec.answer,
                iteration_count=w.ITERATIONS,
                total_usage=spec.total_usage,
                expected_current_status="running",
            )
            finalized.append(clock() - t)
            if not done:
                raise AssertionError(f"finalize_run refused run {spec.run_id}")

    cpu, loop_cpu = time.process_time(), time.thread_time()
    start = clock()
    await asyncio.gather(*(one(spec) for spec in specs))
    wall = clock() - start
    return Timing(wall, lat, time.thread_time() - loop_cpu, time.process_time() - cpu)


async def run_library(url: str, specs: list[w.RunSpec], concurrency: int) -> Timing:
    from dendrux.state import StateStore

    store = StateStore.from_database_url(url)
    try:
        async with store.engine.connect():  # warm: open the writer / pool, check the schema
            pass
        return await drive(specs, store, _make_recorder(store), concurrency)
    finally:
        await store.close()


def _bare_backend(dialect: str, location: str) -> SqliteBackend | PostgresBackend:
    return SqliteBackend(location) if dialect == "sqlite" else PostgresBackend(location)


async def run_bare(
    dialect: str, location: str, specs: list[w.RunSpec], concurrency: int
) -> tuple[Timing, int]:
    backend = _bare_backend(dialect, location)
    await backend.open()
    try:
        store = BareStore(backend)

        def make(run_id: str) -> BareRecorder:
            return BareRecorder(
                backend,
                run_id,
                model=w.MODEL,
                provider_name=w.PROVIDER,
                target_lookup=w.TARGETS,
            )

        timing = await drive(specs, store, make, concurrency)
        return timing, backend.units
    finally:
        await backend.close()


def _make_recorder(store: Any) -> Callable[[str], Any]:
    from dendrux.recorder import EventSequencer, PersistenceRecorder

    def make(run_id: str) -> PersistenceRecorder:
        return PersistenceRecorder(
            store,
            run_id,
            model=w.MODEL,
            provider_name=w.PROVIDER,
            target_lookup=w.TARGETS,
            event_sequencer=EventSequencer(0),
        )

    return make
