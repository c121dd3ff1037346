"""`RunRecording`: the recorder of one run plus its lifecycle (see `dendrux.recording`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from dendrux.db.engine import Engine
from dendrux.durability import retry_critical
from dendrux.errors import (
    ConflictError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    RunAlreadyActiveError,
    RunNotFoundError,
)
from dendrux.events import RUN_CANCELLED, RUN_COMPLETED, RUN_ERROR, RUN_RESUMED, RUN_STARTED
from dendrux.recorder import EventSequencer, PersistenceRecorder
from dendrux.recording._totals import RunTotals
from dendrux.state import control, run_reads, runs
from dendrux.state.store import StateStore
from dendrux.status import PAUSE_STATUS_VALUES
from dendrux.types import UsageStats
from dendrux.validation import check_required_text, check_status, check_text

__all__ = ["RunRecording"]

T = TypeVar("T")

logger = logging.getLogger("dendrux.recording")

_OUTCOMES = ("success", "max_iterations")
_LIVE = ["running"]


def _engine_of(store: object) -> Engine:
    if isinstance(store, StateStore):
        return store.engine
    if isinstance(store, Engine):
        return store
    raise InvalidArgumentTypeError(
        f"store must be a StateStore or an Engine, got {type(store).__name__}"
    )


def _error_text(exc: BaseException) -> str:
    """What ``error`` stores: ``str(exc)`` (its class name when empty), NULs replaced
    (neither dialect would store them the same way)."""
    try:
        text = str(exc)
    except Exception:
        text = ""
    return (text or type(exc).__name__).replace("\x00", "\ufffd")


def _field(item: object, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def _retrieved(task: asyncio.Future[Any]) -> None:
    """Mark a shielded write's outcome as seen (its failure is reported by its awaiter,
    or lost with a second cancellation: asyncio must not warn about it at exit)."""
    if not task.cancelled():
        task.exception()


class RunRecording(PersistenceRecorder):
    """The recorder of one run plus its lifecycle; made by `recording` or `resuming`.

    The four hooks are `PersistenceRecorder`'s, each followed by a comparison or two
    (the iteration count; the usage sum after an LLM call). ``status`` is what this
    object last wrote or saw.
    """

    def __init__(
        self,
        store: StateStore | Engine,
        run_id: str,
        *,
        create: dict[str, Any] | None,
        started: dict[str, Any] | None = None,
        resume: dict[str, Any] | None = None,
        model: str | None = None,
        provider_name: str | None = None,
        target_lookup: Mapping[str, str] | None = None,
    ) -> None:
        engine = _engine_of(store)
        if target_lookup is not None and not isinstance(target_lookup, Mapping):
            raise InvalidArgumentTypeError(
                f"target_lookup must be a mapping of tool name to target, "
                f"got {type(target_lookup).__name__}"
            )
        super().__init__(
            engine,
            run_id,
            model=check_text("model", model, optional=True),
            provider_name=check_text("provider_name", provider_name, optional=True),
            target_lookup=target_lookup,
            event_sequencer=EventSequencer(0),
        )
        self._create = create
        self._started = started
        self._resume = resume
        self.status = "new"
        self.pause_data: dict[str, Any] | None = None
        """The resume state saved by the pause (`resuming` reads it after its claim)."""
        self._iterations = 0
        self._answer: str | None = None
        self._outcome = "success"
        self._stop_reason: str | None = None
        self._totals = RunTotals()

    # -- what the hooks keep -----------------------------------------------------------

    @property
    def iteration_count(self) -> int:
        """The highest iteration a hook recorded (what the run's ``iteration_count`` gets)."""
        return self._iterations

    @property
    def usage(self) -> UsageStats:
        """The run's totals so far (what ``finalize_run(total_usage=...)`` gets)."""
        return self._totals.usage()

    async def on_message_appended(self, message: Any, iteration: int) -> None:
        await super().on_message_appended(message, iteration)
        if iteration > self._iterations:
            self._iterations = iteration

    async def on_llm_call_completed(
        self,
        response: Any,
        iteration: int,
        *,
        semantic_messages: Any = None,
        semantic_tools: Any = None,
        duration_ms: int | None = None,
        guardrail_findings: Any = None,
    ) -> None:
        await super().on_llm_call_completed(
            response,
            iteration,
            semantic_messages=semantic_messages,
            semantic_tools=semantic_tools,
            duration_ms=duration_ms,
            guardrail_findings=guardrail_findings,
        )
        if iteration > self._iterations:
            self._iterations = iteration
        self._totals.add(getattr(response, "usage", None))

    async def on_tool_completed(self, tool_call: Any, tool_result: Any, iteration: int) -> None:
        await super().on_tool_completed(tool_call, tool_result, iteration)
        if iteration > self._iterations:
            self._iterations = iteration

    async def on_governance_event(
        self,
        event_type: str,
        iteration: int,
        data: dict[str, Any] | None,
        correlation_id: str | None = None,
    ) -> None:
        await super().on_governance_event(event_type, iteration, data, correlation_id)
        if iteration > self._iterations:
            self._iterations = iteration

    # -- the lifecycle ------------------------------------------------------------------

    def finish(
        self, answer: str | None = None, *, status: str = "success", stop_reason: str | None = None
    ) -> None:
        """Set the outcome the run is finalized with when the block ends (without a call:
        ``success`` and no answer)."""
        self._answer = check_text("answer", answer, optional=True)
        if status not in _OUTCOMES:
            raise InvalidArgumentError(f"status must be one of {list(_OUTCOMES)}, got {status!r}")
        self._outcome = status
        self._stop_reason = check_text("stop_reason", stop_reason, optional=True)

    async def cancel_requested(self) -> bool:
        """Whether someone asked the run to stop (a loop's checkpoint: break out, and the
        block's end finalizes the run as cancelled)."""
        return await self._read("is_cancel_requested", runs.is_cancel_requested)

    async def pause(
        self,
        status: str,
        *,
        pending_tool_calls: Iterable[Any] | None = None,
        pause_data: dict[str, Any] | None = None,
        reason: str | None = None,
        message: str | None = None,
        pii_mapping: dict[str, str] | None = None,
    ) -> bool:
        """Park the run (``waiting_approval``, ``waiting_client_tool``,
        ``waiting_human_input`` or ``paused``) with ``run.paused``, the count and the
        totals, in one transaction. False when a pending cancel (or a finalizer) won:
        the run is then finished (``status`` says how) and the loop should stop.

        ``pending_tool_calls`` are tool calls (or mappings) with id, name and params;
        ``pause_data`` (default: the pending calls) is what a resume reads back."""
        status = check_status("status", status)
        if status not in PAUSE_STATUS_VALUES:
            raise InvalidArgumentError(
                f"status {status!r} is not a pause status; pause takes one of "
                f"{sorted(PAUSE_STATUS_VALUES)}"
            )
        self._require_running("pause")
        pending = [
            {
                "id": _field(call, "id"),
                "name": _field(call, "name"),
                "target": self._targets.get(str(_field(call, "name")), "server"),
                "params": _field(call, "params"),
            }
            for call in pending_tool_calls or ()
        ]
        event: dict[str, Any] = {"status": status, "pending_tool_calls": pending}
        if reason is not None:
            event["reason"] = check_text("reason", reason)
        if message:
            event["message"] = check_required_text("message", message)[:500]
        index = await control.pause_with_event(
            self._engine,
            self.run_id,
            status=status,
            pause_data={"pending_tool_calls": pending} if pause_data is None else pause_data,
            event_data=event,
            iteration_count=self._iterations,
            pii_mapping=pii_mapping,
            total_usage=self.usage,
        )
        if index is None:  # a pending cancel beats a pause (0.4.1): honour the winner
            record = await self._read("get_run", run_reads.get_run)
            if record is not None and record.status != "running":
                self.status = record.status
            else:
                await self._finalize("cancelled", RUN_CANCELLED, {"reason": "cancel_requested"})
            return False
        self.event_sequencer.advance_past(index)
        self.status = status
        return True

    async def resume(
        self,
        *,
        submitted_results: Iterable[Any] | None = None,
        user_input: str | None = None,
        submitted_data: dict[str, Any] | None = None,
    ) -> None:
        """Claim the paused run back (first caller wins) and write ``run.resumed``.
        ``submitted_results`` are tool results (call_id, name, success) or
        ``user_input`` the human's answer; ``submitted_data`` is merged into the
        saved pause data in the same statement as the claim."""
        data = self._resume_data(submitted_results, user_input)
        await self._claim(submitted_data)
        await super().on_governance_event(RUN_RESUMED, 0, data, None)

    def _resume_data(self, submitted_results: Iterable[Any] | None, user_input: object) -> Any:
        if self.status not in PAUSE_STATUS_VALUES:
            raise RuntimeError(f"run {self.run_id!r} is {self.status}, not paused: cannot resume")
        if submitted_results is not None and user_input is not None:
            raise InvalidArgumentError("pass submitted_results or user_input, not both")
        data: dict[str, Any] = {"resumed_from": self.status}
        if submitted_results is not None:
            data["submitted_results"] = [
                {
                    "call_id": _field(r, "call_id"),
                    "name": _field(r, "name"),
                    "success": bool(_field(r, "success")),
                }
                for r in submitted_results
            ]
        elif user_input is not None:
            data["user_input"] = check_text("user_input", user_input)
        return data

    async def _claim(self, submitted_data: dict[str, Any] | None) -> None:
        expected = self.status
        if submitted_data is None:
            won = await runs.claim_paused_run(self._engine, self.run_id, expected_status=expected)
        else:
            won = await runs.submit_and_claim(
                self._engine, self.run_id, expected_status=expected, submitted_data=submitted_data
            )
        if not won:  # 0.4.1 raises ValueError here, naming a sweep when there was one
            record = await self._read("get_run", run_reads.get_run)
            now = record.status if record is not None else "gone"
            swept = f" (swept: {record.failure_reason})" if record and record.failure_reason else ""
            raise InvalidArgumentError(
                f"run {self.run_id!r} is {now}{swept}, no longer {expected}: it cannot be "
                "resumed (another caller may have claimed it)"
            )
        self.status = "running"

    async def _read(self, label: str, read: Callable[[Engine, str], Awaitable[T]]) -> T:
        """A read the lifecycle depends on, retried as its writes are."""
        return await retry_critical(
            lambda: read(self._engine, self.run_id), label=label, run_id=self.run_id
        )

    def _require_running(self, what: str) -> None:
        if self.status != "running":
            raise RuntimeError(f"run {self.run_id!r} is {self.status}: {what} needs a running run")

    async def _finalize(
        self, status: str, event_type: str, event: dict[str, Any], error: str | None = None
    ) -> bool:
        """The run's terminal transition and event, or (compare-and-set lost) the winner's
        status read back, nothing written."""
        index = await control.finalize_with_event(
            self._engine,
            self.run_id,
            status=status,
            allowed_current_statuses=_LIVE,
            event_type=event_type,
            event_data=event,
            answer=None if status == "error" else self._answer,
            error=error,
            iteration_count=self._iterations,
            total_usage=self.usage,
        )
        if index is None:
            record = await self._read("get_run", run_reads.get_run)
            self.status = record.status if record is not None else "gone"
            return False
        self.event_sequencer.advance_past(index)
        self.status = status
        return True

    async def _complete(self) -> None:
        if await self._read("is_cancel_requested", runs.is_cancel_requested):  # checkpoint
            await self._finalize("cancelled", RUN_CANCELLED, {"reason": "cancel_requested"})
            return
        stop = self._stop_reason if self._outcome == "success" else None
        event = {"status": self._outcome, "stop_reason": stop, "truncated": stop == "max_tokens"}
        await self._finalize(self._outcome, RUN_COMPLETED, event)

    async def _fail(self, exc: BaseException) -> None:
        text = _error_text(exc)
        await self._finalize("error", RUN_ERROR, {"error": text[:500]}, error=text)

    # -- the context manager ------------------------------------------------------------

    async def __aenter__(self) -> RunRecording:
        if self.status != "new":
            raise RuntimeError(f"the recording of run {self.run_id!r} was already entered")
        self.status = "entering"
        if self._create is not None:
            await self._start()
        else:
            await self._resume_here()
        return self

    async def _start(self) -> None:
        assert self._create is not None
        result = await runs.create_run(self._engine, self.run_id, **self._create)
        if result.outcome == "existing_active":
            raise RunAlreadyActiveError(result.run_id, result.status)
        if result.outcome != "created":
            raise ConflictError(
                f"idempotency key {self._create['idempotency_key']!r} names run "
                f"{result.run_id!r}, already {result.status}: read it instead of recording it again"
            )
        self.status = "running"
        await super().on_governance_event(RUN_STARTED, 0, self._started, None)

    async def _resume_here(self) -> None:
        assert self._resume is not None
        record = await self._read("get_run", run_reads.get_run)
        if record is None:
            raise RunNotFoundError(self.run_id)
        if record.status not in PAUSE_STATUS_VALUES:
            raise InvalidArgumentError(
                f"run {self.run_id!r} is {record.status}, not paused: nothing to resume"
            )
        self.status = record.status
        self._restore(record)
        data = self._resume_data(self._resume["submitted_results"], self._resume["user_input"])
        await self._claim(self._resume["submitted_data"])
        self.pause_data = await self._read("get_pause_state", runs.get_pause_state)
        order, sequence = await self._read("next_run_slots", run_reads.next_run_slots)
        self._order = order
        self.event_sequencer = EventSequencer(sequence)
        await super().on_governance_event(RUN_RESUMED, 0, data, None)

    def _restore(self, record: Any) -> None:
        """Continue the count and the totals the pause wrote on the run row."""
        if self._model is None:
            self._model = record.model
        self._iterations = record.iteration_count or 0
        self._totals.restore(record)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.status != "running":  # paused (a resume continues it) or already finished
            return
        if exc is None:
            await self._complete()
        elif isinstance(exc, asyncio.CancelledError):
            await self._on_cancel(exc)
        elif isinstance(exc, Exception):
            try:
                await self._fail(exc)
            except Exception as write_error:
                self._unmarked(exc, "error", write_error)

    async def _on_cancel(self, exc: BaseException) -> None:
        """Finalize as cancelled from a task of its own, shielded: a second cancellation of
        this task must not stop the write half-way."""
        event = {"reason": "task_cancelled"}
        task = asyncio.ensure_future(self._finalize("cancelled", RUN_CANCELLED, event))
        task.add_done_callback(_retrieved)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            pass  # the write goes on in its task; the cancellation propagates anyway
        except Exception as write_error:
            self._unmarked(exc, "cancelled", write_error)

    def _unmarked(self, exc: BaseException, status: str, write_error: Exception) -> None:
        logger.error(
            "run %s could not be marked %s: %s", self.run_id, status, write_error, exc_info=True
        )
        exc.add_note(
            f"dendrux: run {self.run_id!r} could not be marked {status} "
            f"({type(write_error).__name__}: {write_error}); a sweep will find it"
        )
