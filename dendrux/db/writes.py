"""Write units: the rows one operation writes, handed to the engine as data.

A unit is what one hook or one store call must write: a few named statements,
each fail-closed or best-effort. Because the engine gets data instead of
code, it chooses how to run them: SQLite runs the units of many concurrent
callers in one group-commit transaction (one fsync, one thread hop), and
PostgreSQL sends a unit's one-statement form where the dialect has one. The
meaning is the same on every path:

* the fail-closed writes of a unit land together or not at all;
* a best-effort write refused for a logical reason (a constraint, a trigger)
  is skipped and reported in `UnitResult.skipped`; the rest still lands;
* a transient failure anywhere fails the whole unit, so the caller's
  `retry_critical` runs it again: every write is idempotent by its
  client-minted id;
* an insert that finds its own id already stored (a retry whose first
  commit did land) succeeds; a different row in its slot is `SlotTakenError`.

This module never imports a driver.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, TypeGuard

from dendrux.errors import DendruxError, SchemaError, SlotTakenError, StoreClosedError


@dataclass(frozen=True, slots=True)
class Slot:
    """The unique place a row claims, named by `SlotTakenError` when another row holds it."""

    table: str
    column: str
    value: object


@dataclass(frozen=True, slots=True)
class Write:
    """One named statement of a unit, its parameters and its policy.

    With ``own_row_query`` the statement is an insert returning its id (no row
    back when its id or slot was taken); that query (one parameter: the id,
    ``args[0]``) then tells a retry that already landed from a conflict.
    """

    query: str
    args: tuple[Any, ...]
    label: str
    best_effort: bool = False
    own_row_query: str | None = None
    slot: Slot | None = None

    def as_best_effort(self) -> Write:
        """The same write, skipped (and reported) instead of failing its unit."""
        return Write(self.query, self.args, self.label, True, self.own_row_query, self.slot)

    def taken(self) -> SlotTakenError:
        """The error for an insert whose slot holds someone else's row."""
        assert self.slot is not None
        return SlotTakenError(self.slot.table, self.args[1], self.slot.column, self.slot.value)


@dataclass(frozen=True, slots=True)
class WriteUnit:
    """Writes that belong together; the fail-closed ones are contiguous.

    ``one_statement`` names a query that performs every write at once, taking
    their parameters in order (`joined_args`) and returning one row with a
    value per write (`stored_ids`); it has no ``ON CONFLICT`` clauses, so any
    conflict fails it as a whole and the engine falls back to the writes one
    by one. Because it fails instead of skipping, units that share it can also
    be sent together in one pipelined batch. Dialects that cannot express it
    (SQLite has no data-modifying CTEs) do not define it.
    """

    writes: tuple[Write, ...]
    one_statement: str | None = None
    required: range = field(init=False)

    def __post_init__(self) -> None:
        if not self.writes:
            raise ValueError("a write unit needs at least one write")
        first = last = -1
        for i, write in enumerate(self.writes):
            if not write.best_effort:
                if first < 0:
                    first = i
                elif last != i - 1:
                    raise ValueError("the fail-closed writes of a unit must be contiguous")
                last = i
        object.__setattr__(self, "required", range(first, last + 1) if first >= 0 else range(0))

    @property
    def label(self) -> str:
        """What retry and log lines call this unit: its first fail-closed write, else its first."""
        return self.writes[self.required.start if self.required else 0].label

    def joined_args(self) -> tuple[Any, ...]:
        """The parameters of `one_statement`: every write's, in order."""
        return tuple(chain.from_iterable(w.args for w in self.writes))

    def stored_ids(self) -> tuple[Any, ...]:
        """What `one_statement` returns once it succeeded: the id of each
        fail-closed insert, None for the other writes."""
        return tuple(w.args[0] if w.own_row_query else None for w in self.writes)


@dataclass(frozen=True, slots=True)
class UnitResult:
    """What a unit did: each write's value (first column of its first row, or
    None), and the best-effort writes skipped with the error that refused them."""

    values: tuple[Any, ...]
    skipped: tuple[tuple[str, DendruxError], ...] = ()


def single(write: Write) -> WriteUnit:
    """A unit of one write."""
    return WriteUnit((write,))


def may_skip(exc: BaseException) -> TypeGuard[DendruxError]:
    """Whether a failed best-effort write is skipped: a logical refusal, yes;
    a transient failure (the unit is retried whole), a closed store or a schema
    problem (setup errors, not telemetry hiccups), no."""
    return (
        isinstance(exc, DendruxError)
        and not getattr(exc, "transient", False)
        and not isinstance(exc, StoreClosedError | SchemaError)
    )


Outcome = UnitResult | Exception
"""What committing one unit came to: its result, or the error it failed with."""


class GroupCommit:
    """Commits write units in groups, at most ``slots`` groups at a time.

    A unit that finds a slot free is committed at once, alone; units that
    arrive while every slot is busy queue up and leave together as the next
    group when a slot frees. Groups therefore form exactly when writers would
    otherwise wait, grow with their number, and nobody waits on a timer.
    SQLite has one slot (its one writer connection), PostgreSQL one per
    pooled connection.

    ``commit`` gets a group in queue order and returns an `Outcome` per unit;
    every caller resumes only once its own unit's outcome is known. With a
    ``gate`` (a lock others also take to use the writer), a group is formed
    only once the gate is held, so what queued while others held it joins. A
    caller cancelled before its group is formed writes nothing.
    """

    __slots__ = (
        "_busy",
        "_commit",
        "_forming",
        "_gate",
        "_leaders",
        "_limit",
        "_name",
        "_queued",
        "_slots",
    )

    def __init__(
        self,
        commit: Callable[[list[WriteUnit]], Awaitable[list[Outcome]]],
        *,
        name: str,
        slots: int = 1,
        gate: asyncio.Lock | None = None,
        limit: int = 256,
    ) -> None:
        self._commit = commit
        self._name = name
        self._slots = slots
        self._gate = gate
        self._limit = limit
        self._queued: list[tuple[WriteUnit, asyncio.Future[UnitResult]]] = []
        self._busy = 0  # slots in use: lone units committing, and leaders
        self._forming = False  # a leader was started and has not taken its group yet
        self._leaders: set[asyncio.Task[None]] = set()

    async def submit(self, unit: WriteUnit) -> UnitResult:
        """Commit ``unit`` (alone, or with those it queued up with); its result."""
        if self._busy < self._slots and self._gate is None and not self._queued:
            self._busy += 1
            try:
                (outcome,) = await self._commit([unit])
            finally:
                self._busy -= 1
                self._lead()
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        done: asyncio.Future[UnitResult] = asyncio.get_running_loop().create_future()
        self._queued.append((unit, done))
        self._lead()
        return await done

    async def drain(self) -> None:
        """Wait until every group formed or queued so far is committed (or failed)."""
        while self._leaders:
            await asyncio.wait(set(self._leaders))

    def _lead(self) -> None:
        """Start a leader for the queued units, if a slot is free and none is starting."""
        if self._queued and not self._forming and self._busy < self._slots:
            self._busy += 1
            self._forming = True
            task = asyncio.create_task(self._commit_queued())
            self._leaders.add(task)

    def _take(self) -> list[tuple[WriteUnit, asyncio.Future[UnitResult]]]:
        self._forming = False
        group = [item for item in self._queued[: self._limit] if not item[1].done()]
        del self._queued[: self._limit]
        self._lead()  # more than one group's worth was waiting
        return group

    async def _commit_queued(self) -> None:
        group: list[tuple[WriteUnit, asyncio.Future[UnitResult]]] = []
        try:
            if self._gate is None:
                group = self._take()
                outcomes = await self._commit_group(group)
            else:
                async with self._gate:
                    group = self._take()
                    outcomes = await self._commit_group(group)
        except BaseException:
            # Cancelled (the loop is closing): the group may or may not have landed.
            stranded, self._queued = self._queued, []
            self._stop(group + stranded)
            raise
        finally:
            self._busy -= 1
            task = asyncio.current_task()
            if task is not None:
                self._leaders.discard(task)
        for (_, done), outcome in zip(group, outcomes, strict=True):
            if done.done():
                continue
            if isinstance(outcome, Exception):
                done.set_exception(outcome)
            else:
                done.set_result(outcome)
        self._lead()

    async def _commit_group(
        self, group: list[tuple[WriteUnit, asyncio.Future[UnitResult]]]
    ) -> list[Outcome]:
        if not group:
            return []
        try:
            return await self._commit([unit for unit, _ in group])
        except Exception as exc:
            return [exc] * len(group)

    def _stop(self, items: list[tuple[WriteUnit, asyncio.Future[UnitResult]]]) -> None:
        for _, done in items:
            if not done.done():
                done.set_exception(StoreClosedError(f"the writer of {self._name} was stopped"))
