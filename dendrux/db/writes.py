"""Write units: the rows one operation writes, handed to the engine as data.

A unit is what one hook or one store call must write: a few named statements,
each fail-closed or best-effort. Because the engine gets data instead of
code, it chooses how to run them: SQLite runs the units of many concurrent
callers in one group-commit transaction (one fsync, one thread hop), and
PostgreSQL sends a unit's one-statement form where the dialect has one. What
a unit means is written once, in `dendrux.db.units`, and every path drives it.

This module never imports a driver, nor asyncio (`dendrux.db.group` runs the
queues). Its types are small named tuples and a slotted class: several are
built per hook, so they stay cheap to make.
"""

from __future__ import annotations

from itertools import chain
from typing import Any, NamedTuple

from dendrux.errors import DendruxError, SchemaError, SlotTakenError, StoreClosedError


class Slot(NamedTuple):
    """The unique place a row claims, named by `SlotTakenError` when another row holds it."""

    table: str
    column: str
    value: object
    run_id: str


class Write(NamedTuple):
    """One named statement of a unit, its parameters and its policy.

    An insert that is exactly-once under retries names its ``row_id`` (the
    client-minted id among its ``args``), the ``own_row_query`` that tells
    whether that id is stored (its one parameter), and the ``slot`` it claims:
    the insert returns no row when its id or slot was taken, and the unit
    policy then tells a retry that already landed from a conflict.
    """

    query: str
    args: tuple[Any, ...]
    label: str
    best_effort: bool = False
    own_row_query: str | None = None
    row_id: str | None = None
    slot: Slot | None = None

    def as_best_effort(self) -> Write:
        """The same write, skipped (and reported) instead of failing its unit."""
        # Built directly: NamedTuple._replace costs a microsecond per best-effort row.
        return Write(
            self.query, self.args, self.label, True, self.own_row_query, self.row_id, self.slot
        )

    def taken(self) -> SlotTakenError:
        """The error for an insert whose slot holds someone else's row."""
        slot = self.slot
        if slot is None:
            return SlotTakenError(self.query, "?", "id", self.row_id)
        return SlotTakenError(slot.table, slot.run_id, slot.column, slot.value)


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
        """The parameters of `one_statement`, laid out in the one way every hook
        statement of ``sql/postgres/hooks.sql`` numbers them: each write's
        parameters in the order of its single-row query, writes in unit order
        (tests/test_hook_statements.py checks each statement against this)."""
        return tuple(chain.from_iterable(w.args for w in self.writes))

    def stored_ids(self) -> tuple[Any, ...]:
        """What `one_statement` returns once it succeeded: the id of each
        fail-closed insert, None for the other writes."""
        return tuple(w.row_id if w.own_row_query else None for w in self.writes)


class UnitResult(NamedTuple):
    """What a unit did: each write's value (first column of its first row, or
    None), and the best-effort writes skipped with the error that refused them."""

    values: tuple[Any, ...]
    skipped: tuple[tuple[str, BaseException], ...] = ()


def single(write: Write) -> WriteUnit:
    """A unit of one write."""
    return WriteUnit((write,))


Outcome = UnitResult | Exception
"""What committing one unit came to: its result, or the error it failed with."""


def is_refusal(exc: BaseException) -> bool:
    """Whether a failed statement was refused for a logical reason (a constraint, a
    trigger), as opposed to a transient failure (retried whole by the caller) or a
    setup problem (closed store, schema). PostgreSQL falls back from a refused
    one-statement form to the unit's writes one by one; nothing else uses it."""
    return (
        isinstance(exc, DendruxError)
        and not getattr(exc, "transient", False)
        and not isinstance(exc, StoreClosedError | SchemaError)
    )
