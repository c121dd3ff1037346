"""Group commit: write units of concurrent callers committed together.

The engines' queue (`GroupCommit`); what a group holds and how one is
written is theirs (`dendrux.db.sqlite`, `dendrux.db.postgres`). Imported by
the engine modules only, which load with their driver.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from dendrux.db.writes import Outcome, UnitResult, WriteUnit
from dendrux.errors import StoreClosedError


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
