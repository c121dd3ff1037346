"""Store functions for ``agent_runs``' lifecycle: create, finalize, pause/claim,
cancel, progress. (Reads are in `dendrux.state.run_reads`, sweeps in
`dendrux.state.sweeps`; their names are importable from here too.)

Each takes an `Engine` or a `Connection` first, validates every argument
before any SQL, and runs named queries. Every compare-and-set is a single
statement; lifecycle writes retry transient failures when given an engine.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from dendrux.db.engine import Connection
from dendrux.db.units import run_write
from dendrux.db.writes import Write, single
from dendrux.errors import (
    IdempotencyConflictError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    RunAlreadyExistsError,
)
from dendrux.read import runs as read_runs
from dendrux.read.delegation import MAX_DELEGATION_DEPTH as MAX_DELEGATION_DEPTH
from dendrux.read.filters import RunFilters
from dendrux.state import rows
from dendrux.state._executor import (
    Executor,
    dialect_of,
    lifecycle_unit,
    lifecycle_write,
    reading,
    retried,
    write_unit,
)
from dendrux.state.appended import AppendedEvent, append_event, now_utc
from dendrux.types import (
    PAUSE_STATUS_VALUES,
    TERMINAL_STATUS_VALUES,
    CreateRunResult,
    RunStatus,
)
from dendrux.ulid import new_ulid
from dendrux.validation import (
    check_bool,
    check_id,
    check_index,
    check_int,
    check_required_id,
    check_required_index,
    check_required_text,
    check_status,
    check_statuses,
    check_text,
    check_usage,
    encode_json,
    encode_json_object,
)


def _check_pii(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidArgumentTypeError(f"{name} must be a dict[str, str]")
    return encode_json(name, value)


# ---------------------------------------------------------------------------
# create
# ---------------------------------------------------------------------------


async def create_run(
    db: Executor,
    run_id: str,
    agent_name: str,
    *,
    input_data: dict[str, Any] | None = None,
    model: str | None = None,
    strategy: str | None = None,
    parent_run_id: str | None = None,
    delegation_level: int = 0,
    tenant_id: str | None = None,
    meta: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    idempotency_fingerprint: str | None = None,
    retry_of_run_id: str | None = None,
    status: str = "running",
) -> CreateRunResult:
    """Create a run, or return the run an idempotency key already names.

    Same key and fingerprint: ``existing_active`` / ``existing_terminal``;
    same key, other fingerprint: `IdempotencyConflictError`. A retry after a
    lost commit answer recognises its own row (same id and creation time).
    """
    run_id = check_required_id("run_id", run_id)
    agent_name = check_required_text("agent_name", agent_name)
    if not agent_name:
        raise InvalidArgumentError("agent_name must not be empty")
    status = check_status("status", status)
    if status not in ("pending", "running"):
        raise InvalidArgumentError(
            f"status of a new run must be pending or running, not {status!r}"
        )
    created_at = now_utc()
    args = (
        run_id,
        check_text("tenant_id", tenant_id, optional=True),
        agent_name,
        status,
        encode_json("input_data", input_data),
        check_text("model", model, optional=True),
        check_text("strategy", strategy, optional=True),
        check_id("parent_run_id", parent_run_id, optional=True),
        check_required_index("delegation_level", delegation_level),
        check_id("retry_of_run_id", retry_of_run_id, optional=True),
        encode_json_object("meta", meta),
        check_text("idempotency_key", idempotency_key, optional=True),
        check_text("idempotency_fingerprint", idempotency_fingerprint, optional=True),
        created_at,
    )
    insert = single(Write("insert_run", args, "create_run"))

    async def attempt() -> CreateRunResult:
        if (await write_unit(db, insert)).values[0] is not None:
            return CreateRunResult(run_id, "created", status)
        # Taken: the committed row that holds the id or the key says what to answer.
        async with reading(db) as conn:
            if idempotency_key is not None:
                held = await conn.fetch_one("run_by_idempotency_key", idempotency_key)
                if held is not None:
                    if held["idempotency_fingerprint"] != idempotency_fingerprint:
                        raise IdempotencyConflictError(held["id"], idempotency_key)
                    if held["status"] in TERMINAL_STATUS_VALUES:
                        return CreateRunResult(held["id"], "existing_terminal", held["status"])
                    return CreateRunResult(held["id"], "existing_active", held["status"])
            same_id = await conn.fetch_one("run_identity", run_id)
            if same_id is not None and conn.dialect.read_ts(same_id["created_at"]) == created_at:
                return CreateRunResult(run_id, "created", same_id["status"])
        raise RunAlreadyExistsError(run_id)

    return await retried(db, "create_run", run_id, attempt)


# ---------------------------------------------------------------------------
# finalize, pause, claim, cancel, progress
# ---------------------------------------------------------------------------


async def _changed(db: Executor, query: str, run_id: str, args: tuple[Any, ...]) -> bool:
    """A one-statement compare-and-set lifecycle write: True when it matched a row."""
    result = await lifecycle_unit(db, query, run_id, single(Write(query, args, query)))
    return result.values[0] is not None


class FinalizeArgs(NamedTuple):
    """The parameters of ``finalize_run`` / ``finalize_run_if_status_in`` (``?1..?16``,
    in this order), by name: ``guard`` is the compare-and-set (``?14``)."""

    run_id: str
    status: str
    output_json: str | None
    """What goes into ``output_data``: ``answer`` (which replaces what was there, as
    0.4.1 does) and/or ``usage`` (which replaces only that key)."""
    error: str | None
    iteration_count: int | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    cache_read_tokens: int | None
    cache_creation_tokens: int | None
    reasoning_tokens: int | None
    pii_mapping: str | None
    now: datetime
    guard: Any
    """None (no compare-and-set), an expected status, or a list of allowed ones."""
    usage_given: bool
    failure_reason: str | None = None
    """Stored when given (``finalize_with_event``, 0.4.1); left as it was otherwise."""


def finalize_args(
    run_id: object,
    status: object,
    answer: object,
    error: object,
    iteration_count: object,
    total_usage: object,
    pii_mapping: object,
    failure_reason: object = None,
) -> FinalizeArgs:
    run_id = check_required_id("run_id", run_id)
    status = check_status("status", status)
    if status not in TERMINAL_STATUS_VALUES:
        raise InvalidArgumentError(
            f"status {status!r} is not terminal; finalize_run takes one of "
            f"{sorted(TERMINAL_STATUS_VALUES)}"
        )
    output: dict[str, Any] = {}
    if answer is not None:
        output["answer"] = check_text("answer", answer)
    usage: tuple[int | None, int | None, float | None, int | None, int | None, int | None]
    usage = (None,) * 6 if total_usage is None else check_usage("total_usage", total_usage)
    tokens_in, tokens_out, cost, cache_read, cache_creation, reasoning = usage
    if total_usage is not None:
        output["usage"] = _usage_dict(total_usage, tokens_in, tokens_out, cost)
    return FinalizeArgs(
        run_id,
        status,
        encode_json("output_data", output) if output else None,
        check_text("error", error, optional=True),
        check_index("iteration_count", iteration_count, optional=True),
        tokens_in,
        tokens_out,
        cost,
        cache_read,
        cache_creation,
        reasoning,
        _check_pii("pii_mapping", pii_mapping),
        now_utc(),
        None,
        total_usage is not None,
        check_text("failure_reason", failure_reason, optional=True),
    )


def _usage_dict(
    usage: object, tokens_in: int | None, tokens_out: int | None, cost: float | None
) -> dict[str, Any]:
    """A run total as 0.4.1 keeps it in ``output_data["usage"]``: every field of its
    ``UsageStats``, unreported counters as None, ``total_tokens`` as the provider gave it."""

    def optional_int(attr: str, default: int | None = None) -> int | None:
        return check_int(f"total_usage.{attr}", getattr(usage, attr, default), optional=True)

    def flag(attr: str, default: bool) -> bool:
        return check_bool(f"total_usage.{attr}", getattr(usage, attr, default))

    return {
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "total_tokens": optional_int("total_tokens", 0),
        "cost_usd": cost,
        "cache_read_input_tokens": optional_int("cache_read_input_tokens"),
        "cache_creation_input_tokens": optional_int("cache_creation_input_tokens"),
        "cost_source": check_text(
            "total_usage.cost_source", getattr(usage, "cost_source", None), optional=True
        ),
        "reasoning_tokens": optional_int("reasoning_tokens"),
        "usage_reported": flag("usage_reported", True),
        "cost_unknown": flag("cost_unknown", False),
    }


async def finalize_run(
    db: Executor,
    run_id: str,
    *,
    status: str,
    answer: str | None = None,
    error: str | None = None,
    iteration_count: int | None = None,
    total_usage: object | None = None,
    expected_current_status: str | None = None,
    pii_mapping: dict[str, str] | None = None,
) -> bool:
    """Move a run to a terminal status; False when ``expected_current_status`` did not match
    (or the run does not exist). Clears ``pause_data``, ``cancel_requested`` and
    ``pause_requested``."""
    args = finalize_args(run_id, status, answer, error, iteration_count, total_usage, pii_mapping)
    if expected_current_status is not None:
        guard = check_status("expected_current_status", expected_current_status)
        args = args._replace(guard=guard)
    return await _changed(db, "finalize_run", args.run_id, args)


async def finalize_run_if_status_in(
    db: Executor,
    run_id: str,
    *,
    status: str,
    allowed_current_statuses: list[str],
    answer: str | None = None,
    error: str | None = None,
    iteration_count: int | None = None,
    total_usage: object | None = None,
    pii_mapping: dict[str, str] | None = None,
) -> bool:
    """`finalize_run` guarded by a set of allowed current statuses, in one statement."""
    args = finalize_args(run_id, status, answer, error, iteration_count, total_usage, pii_mapping)
    allowed = check_statuses("allowed_current_statuses", allowed_current_statuses)
    args = args._replace(guard=dialect_of(db).text_list(allowed))
    return await _changed(db, "finalize_run_if_status_in", args.run_id, args)


class PauseArgs(NamedTuple):
    """The parameters of ``pause_run`` / ``try_pause_run`` (``?1..?13``, in this order)."""

    run_id: str
    status: str
    pause_data: str | None
    iteration_count: int | None
    pii_mapping: str | None
    now: datetime
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    cache_read_tokens: int | None
    cache_creation_tokens: int | None
    reasoning_tokens: int | None
    usage_given: bool


def pause_args(
    run_id: object,
    status: object,
    pause_data: object,
    iteration_count: object,
    pii_mapping: object,
    total_usage: object,
) -> PauseArgs:
    """Checked parameters of a pause (shared by the pause family in `dendrux.state.control`)."""
    run_id = check_required_id("run_id", run_id)
    status = check_status("status", status)
    if status not in PAUSE_STATUS_VALUES:
        raise InvalidArgumentError(
            f"status {status!r} is not a pause status; a pause takes one of "
            f"{sorted(PAUSE_STATUS_VALUES)}"
        )
    if pause_data is None:
        raise InvalidArgumentTypeError("pause_data must be a dict, got None")
    usage: tuple[int | None, int | None, float | None, int | None, int | None, int | None]
    usage = (None,) * 6 if total_usage is None else check_usage("total_usage", total_usage)
    tokens_in, tokens_out, cost, cache_read, cache_creation, reasoning = usage
    return PauseArgs(
        run_id,
        status,
        encode_json_object("pause_data", pause_data),
        check_index("iteration_count", iteration_count, optional=True),
        _check_pii("pii_mapping", pii_mapping),
        now_utc(),
        tokens_in,
        tokens_out,
        cost,
        cache_read,
        cache_creation,
        reasoning,
        total_usage is not None,
    )


async def pause_run(
    db: Executor,
    run_id: str,
    *,
    status: str,
    pause_data: dict[str, Any],
    iteration_count: int | None = None,
    pii_mapping: dict[str, str] | None = None,
    total_usage: object | None = None,
) -> bool:
    """Park a run in a pause status with its resume state (and, with ``total_usage``, its
    running totals); False if it is terminal or missing. (`StateStore.pause_run` returns
    None, as 0.4.1's does; the store function keeps the answer.)"""
    args = pause_args(run_id, status, pause_data, iteration_count, pii_mapping, total_usage)
    return await _changed(db, "pause_run", args.run_id, args)


async def get_pause_state(db: Executor, run_id: str) -> dict[str, Any] | None:
    """The resume state saved by `pause_run` (None when absent)."""
    run_id = check_required_id("run_id", run_id)
    async with reading(db) as conn:
        value = await conn.fetch_value("get_pause_state", run_id)
        result: dict[str, Any] | None = conn.dialect.read_json(value)
        return result


async def get_pii_mapping(db: Executor, run_id: str) -> dict[str, str] | None:
    """A run's placeholder -> real value mapping (None when absent)."""
    run_id = check_required_id("run_id", run_id)
    async with reading(db) as conn:
        result: dict[str, str] | None = await read_runs.read_pii_mapping(conn, run_id)
        return result


async def claim_paused_run(db: Executor, run_id: str, *, expected_status: str) -> bool:
    """Atomically move a paused run back to ``running`` (clearing a pause request);
    only the first caller wins."""
    run_id = check_required_id("run_id", run_id)
    expected = check_status("expected_status", expected_status)
    return await _changed(db, "claim_paused_run", run_id, (run_id, expected, now_utc()))


async def submit_and_claim(
    db: Executor, run_id: str, *, expected_status: str, submitted_data: dict[str, Any]
) -> bool:
    """Merge ``submitted_data`` into pause_data (top-level keys) and claim the run, atomically."""
    run_id = check_required_id("run_id", run_id)
    expected = check_status("expected_status", expected_status)
    if submitted_data is None:
        raise InvalidArgumentTypeError("submitted_data must be a dict, got None")
    submitted = encode_json_object("submitted_data", submitted_data)
    args = (run_id, expected, submitted, now_utc())
    return await _changed(db, "submit_and_claim", run_id, args)


async def request_cancel(db: Executor, run_id: str) -> bool:
    """Raise the cooperative cancel flag; False for terminal or missing runs."""
    run_id = check_required_id("run_id", run_id)
    return await _changed(db, "request_cancel", run_id, (run_id, now_utc()))


async def cancel_run(
    db: Executor,
    run_id: str,
    *,
    sequence_index: int | None = None,
    iteration_index: int = 0,
    reason: str | None = None,
) -> bool:
    """The runner's cancellation path: a live run becomes ``cancelled`` and gets a
    ``run.cancelled`` event (at ``sequence_index``, or the run's next index), both
    in one transaction. False, with nothing written, when it had already finished."""
    reason = check_text("reason", reason, optional=True)
    args = finalize_args(run_id, "cancelled", None, reason, None, None, None)
    sequence = check_index("sequence_index", sequence_index, optional=True)
    iteration = check_required_index("iteration_index", iteration_index)
    live = sorted(s.value for s in RunStatus if s.value not in TERMINAL_STATUS_VALUES)
    data = encode_json("data", {"reason": reason} if reason is not None else None)
    event_id, now, run = new_ulid(), args.now, args.run_id

    async def work(conn: Connection) -> bool:
        guarded = args._replace(guard=conn.dialect.text_list(live))
        if await conn.fetch_value("finalize_run_if_status_in", *guarded) is None:
            return False
        if sequence is None:
            event = AppendedEvent(event_id, run, "run.cancelled", iteration, data, now)
            await append_event(conn, event)
        else:
            row = rows.RunEventRow(
                run,
                event_type="run.cancelled",
                sequence_index=sequence,
                iteration_index=iteration,
                data={"reason": reason} if reason is not None else None,
                row_id=event_id,
            )
            await run_write(conn, row.to_write())
        return True

    return await lifecycle_write(db, "cancel_run", run, work, atomic=True)


async def is_cancel_requested(db: Executor, run_id: str) -> bool:
    """The cooperative cancel flag (False for missing runs)."""
    run_id = check_required_id("run_id", run_id)
    async with reading(db) as conn:
        return conn.dialect.read_bool(await conn.fetch_value("is_cancel_requested", run_id))


def prepare_touch_progress(run_id: str) -> Write:
    """The ``last_progress_at`` stamp of a run, as of now."""
    return Write(
        "touch_progress", (check_required_id("run_id", run_id), now_utc()), "touch_progress"
    )


async def touch_progress(db: Executor, run_id: str) -> None:
    """Record forward progress now (a liveness hint for sweepers)."""
    await write_unit(db, single(prepare_touch_progress(run_id)))


__all__ = [
    "RunFilters",
    "RunStatus",
    "cancel_run",
    "claim_paused_run",
    "count_runs",
    "create_run",
    "finalize_run",
    "finalize_run_if_status_in",
    "get_delegation_info",
    "get_pause_state",
    "get_pii_mapping",
    "get_run",
    "is_cancel_requested",
    "list_runs",
    "pause_run",
    "request_cancel",
    "submit_and_claim",
    "sweep_abandoned_runs",
    "sweep_stale_runs",
    "touch_progress",
]

# The reads and sweeps live in their own modules; their names stay importable here.
from dendrux.state.run_reads import (  # noqa: E402
    count_runs as count_runs,
)
from dendrux.state.run_reads import (  # noqa: E402
    get_delegation_info as get_delegation_info,
)
from dendrux.state.run_reads import get_run as get_run  # noqa: E402
from dendrux.state.run_reads import list_runs as list_runs  # noqa: E402
from dendrux.state.sweeps import sweep_abandoned_runs as sweep_abandoned_runs  # noqa: E402
from dendrux.state.sweeps import sweep_stale_runs as sweep_stale_runs  # noqa: E402
