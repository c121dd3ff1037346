"""A run's whole lifecycle around a loop that has no runner of its own.

``async with recording(store, run_id, agent_name, ...) as rec:`` creates the run
(status ``running``) and writes ``run.started``; ``rec`` is the four-hook
`dendrux.recorder.PersistenceRecorder` for the run, which also keeps the iteration
count (the highest iteration a hook saw) and the usage totals (the sum of every
``response.usage`` the LLM hook recorded). Leaving the block finalizes the run with
the answer given to ``rec.finish``, the count and the totals, and its terminal event,
in one transaction:

=========================  ==========================================================
the block                  the run
=========================  ==========================================================
ends                       ``success`` (or ``max_iterations``) + ``run.completed``;
                           ``cancelled`` + ``run.cancelled`` when a cancel was
                           requested (`StateStore.request_cancel`) before the exit
raises                     ``error`` + ``run.error``; the exception propagates
is cancelled               ``cancelled`` + ``run.cancelled`` {reason: task_cancelled};
                           the cancellation propagates
ends or raises, paused     stays paused (``rec.pause``) for ``resuming`` to pick up
=========================  ==========================================================

A finalize whose compare-and-set loses (a sweep, ``cancel_run`` or another process
finished the run first) writes nothing and leaves the winner's outcome, as 0.4.1's
runner does. Event names and payloads are 0.4.1's runner's (`dendrux.events`).

Durability: the lifecycle writes are fail-closed like the recorder's (retried on
transient failures, then raised), except on the way out of a block that raised or
was cancelled: that exception propagates, with a note when the run could not be
marked (a sweep finds it later). Totals follow 0.4.1: token counts add up, a cache
or reasoning counter stays None until a call reports it, and the cost is None as
soon as one call is unpriced (a partial sum never reads as the whole spend). An
error run keeps its totals too: the tokens were spent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dendrux.db.engine import Engine
from dendrux.errors import InvalidArgumentError
from dendrux.recording._run import RunRecording
from dendrux.state.store import StateStore
from dendrux.ulid import new_ulid
from dendrux.validation import check_required_id, check_required_text, check_text

__all__ = ["RunRecording", "recording", "resuming"]


def recording(
    store: StateStore | Engine,
    run_id: str | None,
    agent_name: str,
    *,
    input_data: dict[str, Any] | None = None,
    model: str | None = None,
    provider_name: str | None = None,
    strategy: str | None = None,
    tenant_id: str | None = None,
    meta: dict[str, Any] | None = None,
    parent_run_id: str | None = None,
    delegation_level: int = 0,
    idempotency_key: str | None = None,
    idempotency_fingerprint: str | None = None,
    retry_of_run_id: str | None = None,
    target_lookup: Mapping[str, str] | None = None,
    system_prompt: str | None = None,
) -> RunRecording:
    """A new run recorded for the length of an ``async with`` block (see the module).

    ``run_id`` None mints a ULID; the other arguments are `StateStore.create_run`'s and
    `PersistenceRecorder`'s. ``system_prompt`` goes into ``run.started`` as 0.4.1's
    runner writes it. An ``idempotency_key`` that names an existing run raises
    (`RunAlreadyActiveError` while it is live): there is nothing new to record.
    """
    run_id = new_ulid() if run_id is None else check_required_id("run_id", run_id)
    agent_name = check_required_text("agent_name", agent_name)
    if not agent_name:
        raise InvalidArgumentError("agent_name must not be empty")
    started: dict[str, Any] = {"agent_name": agent_name}
    if system_prompt is not None:
        started["system_prompt"] = check_text("system_prompt", system_prompt)
    create = {
        "agent_name": agent_name,
        "input_data": input_data,
        "model": model,
        "strategy": strategy,
        "parent_run_id": parent_run_id,
        "delegation_level": delegation_level,
        "tenant_id": tenant_id,
        "meta": meta,
        "idempotency_key": idempotency_key,
        "idempotency_fingerprint": idempotency_fingerprint,
        "retry_of_run_id": retry_of_run_id,
    }
    return RunRecording(
        store,
        run_id,
        create=create,
        started=started,
        model=model,
        provider_name=provider_name,
        target_lookup=target_lookup,
    )


def resuming(
    store: StateStore | Engine,
    run_id: str,
    *,
    submitted_results: Iterable[Any] | None = None,
    user_input: str | None = None,
    submitted_data: dict[str, Any] | None = None,
    model: str | None = None,
    provider_name: str | None = None,
    target_lookup: Mapping[str, str] | None = None,
) -> RunRecording:
    """A paused run taken up again, by this or another process: entering claims it (first
    caller wins), writes ``run.resumed`` and continues its traces, events, iteration
    count and totals after what is stored (``rec.pause_data`` holds the saved state);
    leaving the block finalizes it as `recording` does. ``model`` defaults to the run's."""
    run_id = check_required_id("run_id", run_id)
    if submitted_results is not None and user_input is not None:
        raise InvalidArgumentError("pass submitted_results or user_input, not both")
    if submitted_results is not None:
        submitted_results = list(submitted_results)
    check_text("user_input", user_input, optional=True)
    resume = {
        "submitted_results": submitted_results,
        "user_input": user_input,
        "submitted_data": submitted_data,
    }
    return RunRecording(
        store,
        run_id,
        create=None,
        resume=resume,
        model=model,
        provider_name=provider_name,
        target_lookup=target_lookup,
    )
