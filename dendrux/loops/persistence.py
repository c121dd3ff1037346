"""0.4.1's `PersistenceRecorder`: the ten hooks, ``run_id`` first, over the seed's writes.

One object serves many runs. For each run it keeps a four-hook
`dendrux.recorder.PersistenceRecorder` (the run's next ``order_index`` and its
`EventSequencer`) and hands every hook to it, so both surfaces write the same
rows through the same one-statement units; a hook costs one dict lookup more.

Per-run state is made on the first hook for a run. A run given to the
constructor or to `attach` starts from the ``initial_order_index`` /
``event_sequencer`` given there; what is not given is read from the
database once (the next free order and sequence index), so a resumed run
continues after what is stored. The adapter must then be the only writer of
the run's trace and event slots: a runner that writes lifecycle events
itself (``run.started``, ``run.paused``...) shares its sequencer by passing
it (``event_sequencer=``), as 0.4.1's runner does. ``on_run_finished`` and
``on_run_failed`` forget the run (0.4.1 calls ``on_run_finished`` for a
pause too), so a long-lived adapter holds only the runs in flight and a
resumed run is read afresh.

Hook by hook it persists what 0.4.1's recorder persists: the four seed hooks
write their rows, ``on_tool_started`` touches ``last_progress_at``
(best-effort), and ``on_run_started``, ``on_llm_call_started`` and
``on_llm_call_failed`` write nothing (0.4.1's runner writes the lifecycle
events itself).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from dendrux.db.engine import Engine
from dendrux.durability import best_effort, retry_critical
from dendrux.errors import InvalidArgumentError, InvalidArgumentTypeError
from dendrux.loops.base import BaseRecorder
from dendrux.recorder import EventSequencer
from dendrux.recorder import PersistenceRecorder as _RunRecorder
from dendrux.state import runs
from dendrux.state.run_reads import next_run_slots
from dendrux.state.store import StateStore
from dendrux.validation import check_required_id, check_required_index

__all__ = ["PersistenceRecorder"]


class PersistenceRecorder(BaseRecorder):
    """The ten-hook recorder of 0.4.1, writing our rows for any number of runs.

    The constructor keeps 0.4.1's shape: ``run_id`` (optional here) is a first
    run, with its ``initial_order_index`` and ``event_sequencer`` when known
    (None: read from the database). ``model`` is the fallback when a response
    names none; ``target_lookup`` maps tool names to where they run.
    ``tenant_scope`` and ``provider`` only served 0.4.1's image blobs, which
    this release does not store: accepted and unused.
    """

    def __init__(
        self,
        state_store: StateStore | Engine,
        run_id: str | None = None,
        *,
        model: str | None = None,
        provider_name: str | None = None,
        target_lookup: Mapping[str, str] | None = None,
        initial_order_index: int | None = None,
        event_sequencer: EventSequencer | None = None,
        tenant_scope: str | None = None,
        provider: Any = None,
    ) -> None:
        if isinstance(state_store, StateStore):
            self._engine = state_store.engine
        elif isinstance(state_store, Engine):
            self._engine = state_store
        else:
            raise InvalidArgumentTypeError(
                f"state_store must be a StateStore or an Engine, got {type(state_store).__name__}"
            )
        if tenant_scope is not None and not isinstance(tenant_scope, str):
            raise InvalidArgumentTypeError(
                f"tenant_scope must be a string or None, got {type(tenant_scope).__name__}"
            )
        self._model = model
        self._provider_name = provider_name
        self._targets = dict(target_lookup or {})
        self.tenant_scope = tenant_scope
        self.provider = provider
        self._runs: dict[str, _RunRecorder] = {}
        self._seeds: dict[str, tuple[int | None, EventSequencer | None]] = {}
        self._opening = asyncio.Lock()
        if run_id is not None:
            self.attach(
                run_id, initial_order_index=initial_order_index, event_sequencer=event_sequencer
            )
        elif initial_order_index is not None or event_sequencer is not None:
            raise InvalidArgumentError(
                "initial_order_index and event_sequencer belong to a run: pass run_id too"
            )

    # -- per-run state --------------------------------------------------------------

    def attach(
        self,
        run_id: str,
        *,
        initial_order_index: int | None = None,
        event_sequencer: EventSequencer | None = None,
    ) -> None:
        """Start (or restart) a run from the given slots; what is None is read from the
        database on its first hook. Pass the runner's sequencer when it writes events too."""
        run_id = check_required_id("run_id", run_id)
        if initial_order_index is not None:
            check_required_index("initial_order_index", initial_order_index)
        if event_sequencer is not None and not callable(getattr(event_sequencer, "next", None)):
            raise InvalidArgumentTypeError(
                "event_sequencer must have a next() method (an EventSequencer), "
                f"got {type(event_sequencer).__name__}"
            )
        self._runs.pop(run_id, None)
        if initial_order_index is not None and event_sequencer is not None:
            self._runs[run_id] = self._recorder(run_id, initial_order_index, event_sequencer)
        else:
            self._seeds[run_id] = (initial_order_index, event_sequencer)

    def forget(self, run_id: str) -> None:
        """Drop a run's state (its next hook reads the database again)."""
        self._runs.pop(run_id, None)
        self._seeds.pop(run_id, None)

    @property
    def runs(self) -> frozenset[str]:
        """The runs this adapter holds state for (attached, or seen and not finished)."""
        return frozenset(self._runs.keys() | self._seeds.keys())

    def _recorder(self, run_id: str, order: int, sequencer: EventSequencer) -> _RunRecorder:
        return _RunRecorder(
            self._engine,
            run_id,
            model=self._model,
            provider_name=self._provider_name,
            target_lookup=self._targets,
            initial_order_index=order,
            event_sequencer=sequencer,
        )

    async def _open(self, run_id: str) -> _RunRecorder:
        """The first hook of a run: its recorder, from its seeds and the database."""
        run_id = check_required_id("run_id", run_id)
        async with self._opening:
            recorder = self._runs.get(run_id)
            if recorder is not None:  # opened while this hook waited
                return recorder
            order, sequencer = self._seeds.get(run_id, (None, None))
            if order is None or sequencer is None:
                next_order, next_sequence = await retry_critical(
                    lambda: next_run_slots(self._engine, run_id),
                    label="next_run_slots",
                    run_id=run_id,
                )
                order = next_order if order is None else order
                sequencer = sequencer or EventSequencer(next_sequence)
            recorder = self._recorder(run_id, order, sequencer)
            self._seeds.pop(run_id, None)
            self._runs[run_id] = recorder
            return recorder

    # -- the ten hooks ----------------------------------------------------------------

    async def on_run_started(
        self, run_id: str, *, agent_name: str | None = None, agent_model: str | None = None
    ) -> None:
        """Writes nothing (0.4.1's runner writes ``run.started`` itself)."""

    async def on_run_finished(self, run_id: str, result: Any) -> None:
        """Writes nothing; forgets the run (a paused run is read afresh on resume)."""
        self.forget(run_id)

    async def on_run_failed(
        self, run_id: str, error: BaseException, *, iteration: int | None = None
    ) -> None:
        """Writes nothing; forgets the run."""
        self.forget(run_id)

    async def on_message_appended(self, run_id: str, message: Any, iteration: int) -> None:
        """FAIL-CLOSED: one ``react_traces`` row (see `dendrux.recorder`)."""
        recorder = self._runs.get(run_id) or await self._open(run_id)
        await recorder.on_message_appended(message, iteration)

    async def on_llm_call_completed(
        self,
        run_id: str,
        response: Any,
        iteration: int,
        *,
        semantic_messages: Any = None,
        semantic_tools: Any = None,
        duration_ms: int | None = None,
        guardrail_findings: Any = None,
    ) -> None:
        """Interaction, usage, ``llm.completed`` and progress, as `dendrux.recorder`."""
        recorder = self._runs.get(run_id) or await self._open(run_id)
        await recorder.on_llm_call_completed(
            response,
            iteration,
            semantic_messages=semantic_messages,
            semantic_tools=semantic_tools,
            duration_ms=duration_ms,
            guardrail_findings=guardrail_findings,
        )

    async def on_tool_started(self, run_id: str, tool_call: Any, iteration: int) -> None:
        """BEST-EFFORT: ``last_progress_at`` now, so a long tool starts fresh."""
        if run_id not in self._runs:
            check_required_id("run_id", run_id)
        await best_effort(
            lambda: runs.touch_progress(self._engine, run_id), label="touch_progress", run_id=run_id
        )

    async def on_tool_completed(
        self, run_id: str, tool_call: Any, tool_result: Any, iteration: int
    ) -> None:
        """FAIL-CLOSED ``tool_calls`` row and ``tool.completed`` event, then progress."""
        recorder = self._runs.get(run_id) or await self._open(run_id)
        await recorder.on_tool_completed(tool_call, tool_result, iteration)

    async def on_governance_event(
        self,
        run_id: str,
        event_type: str,
        iteration: int,
        data: dict[str, Any] | None,
        *,
        correlation_id: str | None = None,
    ) -> None:
        """FAIL-CLOSED: one governance event."""
        recorder = self._runs.get(run_id) or await self._open(run_id)
        await recorder.on_governance_event(event_type, iteration, data, correlation_id)
