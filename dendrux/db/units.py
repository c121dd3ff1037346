"""The write-unit policy, written once and driven by every write path.

`unit_steps` is the policy as a generator that does no I/O: it yields the
statements to run (`Statement`) and the bounds of the unit's atomic block
(`OPEN`, `KEEP`, `UNDO`), and is sent each statement's value or thrown its
error. A driver only says how a step runs where it runs:

* SQLite's writer thread (`dendrux.db.sqlite.writer`) runs every step on the
  one connection inside a group-commit transaction, the block as a savepoint;
* `drive_unit` here runs it through async connections: a statement outside
  the block on a connection of its own (it commits alone), the block in a
  transaction (PostgreSQL's write-by-write path, and any engine's);
* `drive_unit_on` runs it on a connection the caller holds, inside whatever
  transaction it has: nothing skipped (only the owner of a transaction can
  apply a policy to it).

What a unit means, on every path:

* the fail-closed writes of a unit land together or not at all;
* a best-effort write that fails is skipped by the one swallow rule
  (`dendrux.durability.swallowed`) and reported in `UnitResult.skipped`; the
  rest still lands;
* any other failure fails the whole unit, so the caller's `retry_critical`
  runs it again: every write is idempotent by its client-minted id;
* an insert that finds its own id already stored (a retry whose first
  commit did land) succeeds; a different row in its slot is `SlotTakenError`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from contextlib import AbstractAsyncContextManager
from typing import Any, NamedTuple

from dendrux.db.engine import Connection
from dendrux.db.writes import UnitResult, Write, WriteUnit
from dendrux.durability import swallowed


class Statement(NamedTuple):
    """A step: run a named query; the driver sends back its first column of the first
    row (None without rows) or throws its error in."""

    query: str
    args: tuple[Any, ...]


OPEN = "open"
"""A step: the unit's fail-closed block starts (only when it has several writes)."""
KEEP = "keep"
"""A step: the block succeeded; keep its writes."""
UNDO = "undo"
"""A step: the block failed; undo its writes (the error follows)."""

Step = Statement | str
Steps = Generator[Step, Any, UnitResult]


def unit_steps(unit: WriteUnit, *, skip: bool = True) -> Steps:
    """The policy of one unit as steps (see the module docstring); returns its result.

    ``skip=False`` raises a failed best-effort write like any other.
    """
    values: list[Any] = []
    skipped: list[tuple[str, BaseException]] = []
    required = unit.required
    block = len(required) > 1
    for i, write in enumerate(unit.writes):
        if block and i == required.start:
            yield OPEN
        try:
            value = yield Statement(write.query, write.args)
            if value is None and write.own_row_query is not None:
                value = yield from _own_row(write)
        except Exception as exc:
            if skip and write.best_effort and swallowed(exc):
                skipped.append((write.label, exc))
                values.append(None)
                continue
            if block and required.start <= i < required.stop:
                yield UNDO
            raise
        values.append(value)
        if block and i == required.stop - 1:
            yield KEEP
    return UnitResult(tuple(values), tuple(skipped))


def _own_row(write: Write) -> Generator[Step, Any, Any]:
    """An insert returned nothing: its id is stored (a retry whose first commit landed,
    so it succeeds with that id) or another row holds its slot."""
    if not (yield Statement(write.own_row_query or "", (write.row_id,))):
        raise write.taken()
    return write.row_id


Opener = Callable[[], AbstractAsyncContextManager[Connection]]


async def drive_unit(unit: WriteUnit, *, alone: Opener, together: Opener) -> UnitResult:
    """Run a unit through async connections: each statement outside the unit's block
    on its own ``alone()`` connection (one statement, committed on its own), the
    block inside one ``together()`` transaction."""
    steps = unit_steps(unit)
    try:
        step = next(steps)
        while True:
            if isinstance(step, Statement):
                try:
                    async with alone() as conn:
                        reply = await conn.fetch_value(step.query, *step.args)
                except Exception as exc:
                    step = steps.throw(exc)
                    continue
                step = steps.send(reply)
            else:  # OPEN: the block runs to KEEP in one transaction, committed on exit
                async with together() as conn:
                    await _run_block(conn, steps)
                step = steps.send(None)
    except StopIteration as stop:
        result: UnitResult = stop.value
        return result


async def _run_block(conn: Connection, steps: Steps) -> None:
    """The steps of an open block on ``conn``, up to KEEP. At UNDO the policy raises
    the block's error, which leaves the transaction and rolls it back. (The step
    after KEEP is the caller's to ask for: a coroutine must not raise StopIteration.)"""
    step = steps.send(None)
    while isinstance(step, Statement):
        try:
            reply = await conn.fetch_value(step.query, *step.args)
        except Exception as exc:
            step = steps.throw(exc)
            continue
        step = steps.send(reply)
    if step == UNDO:
        steps.send(None)  # raises the block's error


async def drive_unit_on(conn: Connection, unit: WriteUnit) -> UnitResult:
    """A unit on a connection the caller holds, inside whatever transaction it has:
    the writes in order, any failure raised."""
    steps = unit_steps(unit, skip=False)
    try:
        step = next(steps)
        while True:
            if isinstance(step, Statement):
                try:
                    reply = await conn.fetch_value(step.query, *step.args)
                except Exception as exc:
                    step = steps.throw(exc)
                    continue
                step = steps.send(reply)
            else:
                step = steps.send(None)
    except StopIteration as stop:
        result: UnitResult = stop.value
        return result


async def run_write(conn: Connection, write: Write) -> Any:
    """One write on a connection the caller holds: its value, or its own id when a retry
    finds its row already stored; `SlotTakenError` when another row holds the slot."""
    return (await drive_unit_on(conn, WriteUnit((write,)))).values[0]
