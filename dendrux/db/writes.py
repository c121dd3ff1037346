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

This module never imports a driver, nor asyncio (`dendrux.db.group` runs the
queues). Its types are small named tuples and a slotted class: several are
built per hook, so they stay cheap to make.
"""

from __future__ import annotations

from itertools import chain
from typing import Any, NamedTuple, TypeGuard

from dendrux.errors import DendruxError, SchemaError, SlotTakenError, StoreClosedError


class Slot(NamedTuple):
    """The unique place a row claims, named by `SlotTakenError` when another row holds it."""

    table: str
    column: str
    value: object


class Write(NamedTuple):
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

    __slots__ = ("one_statement", "required", "writes")

    def __init__(self, writes: tuple[Write, ...], one_statement: str | None = None) -> None:
        if not writes:
            raise ValueError("a write unit needs at least one write")
        first = last = -1
        for i, write in enumerate(writes):
            if not write.best_effort:
                if first < 0:
                    first = i
                elif last != i - 1:
                    raise ValueError("the fail-closed writes of a unit must be contiguous")
                last = i
        self.writes = writes
        self.one_statement = one_statement
        self.required = range(first, last + 1) if first >= 0 else range(0)
        """Positions of the fail-closed writes."""

    def __repr__(self) -> str:
        return f"WriteUnit({self.writes!r}, {self.one_statement!r})"

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


class UnitResult(NamedTuple):
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
