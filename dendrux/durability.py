"""The two durability wrappers: `retry_critical` and `best_effort`.

`retry_critical` gives a fail-closed write three more chances when the
failure is transient (as classified by the dialect adapter: lost connection,
timeout, busy/locked, serialization failure, deadlock, shutdown) and lets
every other failure through at once. `best_effort` logs and swallows, by the
one rule of `swallowed` that every best-effort write follows. Both
log one line per retry / swallowed failure with the label and run id.
Neither is ever used around setup or migrations.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from dendrux.errors import DendruxError, SchemaError, StoreClosedError

T = TypeVar("T")

logger = logging.getLogger("dendrux.durability")

RETRY_DELAYS_S: tuple[float, ...] = (0.1, 0.2, 0.4)
"""Backoff before retries 1, 2 and 3 (three retries after the first try)."""


def is_transient(exc: BaseException) -> bool:
    """True when retrying may succeed; decided by the adapter's classification, also
    for a driver's raw exception out of the caller's own code (no driver imported)."""
    if isinstance(exc, DendruxError):
        return bool(getattr(exc, "transient", False))
    # Here, not at module level: only a failure pays for it.
    from dendrux.db.transient import driver_error_is_transient

    return driver_error_is_transient(exc)


async def retry_critical(
    fn: Callable[[], Awaitable[T]],
    *,
    label: str,
    run_id: str | None,
    delays: tuple[float, ...] = RETRY_DELAYS_S,
) -> T:
    """Run ``fn``; retry transient failures after 100/200/400 ms; raise the rest."""
    for attempt, delay in enumerate((*delays, None)):
        try:
            return await fn()
        except Exception as exc:
            if delay is None or not is_transient(exc):
                raise
            logger.warning(
                "retrying %s for run %s after transient failure (attempt %d of %d, "
                "next in %.0f ms): %s",
                label,
                run_id,
                attempt + 1,
                len(delays) + 1,
                delay * 1000,
                exc,
            )
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def swallowed(exc: BaseException) -> bool:
    """The one rule for best-effort writes: a failure is swallowed (logged, skipped)
    unless it is a setup error (a closed store, a schema problem), which no later
    write could get past either. Used by `best_effort`, by the recorder for rows
    it cannot even prepare, and by the write-unit policy (`dendrux.db.units`) for
    rows the database refuses."""
    return isinstance(exc, Exception) and not isinstance(exc, StoreClosedError | SchemaError)


async def best_effort(
    fn: Callable[[], Awaitable[object]], *, label: str, run_id: str | None
) -> bool:
    """Run ``fn``; log and swallow its failure by the rule of `swallowed`. Returns
    whether it succeeded."""
    try:
        await fn()
    except Exception as exc:
        skip_or_raise(label, run_id, exc)
        return False
    return True


def skip_or_raise(label: str, run_id: str | None, exc: BaseException) -> None:
    """Apply `swallowed` to a best-effort failure: log it, or raise it."""
    if not swallowed(exc):
        raise exc
    skip_best_effort(label, run_id, exc)


def skip_best_effort(label: str, run_id: str | None, exc: BaseException) -> None:
    """The one log line of a swallowed best-effort failure (also for rows a write
    unit skipped, see `dendrux.db.units`)."""
    logger.warning("best-effort %s for run %s failed and was skipped: %s", label, run_id, exc)
