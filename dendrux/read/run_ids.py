"""Runs found by the beginning of their id: the command line's short run ids.

A prefix matches an id that begins with it as typed, upper-cased or lower-cased (so
``01jx`` finds ``01JX...`` ULIDs and ``RUN`` finds ``run-1``). Each form is one range
of the primary key (``id >= form AND id < next``), never a scan of the table: a short
prefix over a million runs reads a bounded number of index entries.
"""

from __future__ import annotations

from dendrux.db.engine import Connection
from dendrux.read.records import RunSummary

_MAX_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


def prefix_forms(prefix: str) -> tuple[str, str, str]:
    """The prefix as typed, upper-cased and lower-cased."""
    return prefix, prefix.upper(), prefix.lower()


def upper_bound(prefix: str) -> str:
    """The least string above every string that begins with ``prefix``, in code point
    order (which is byte order for UTF-8: SQLite's BINARY, PostgreSQL's C collation).
    A prefix made only of the highest code point gets a bound no stored id reaches."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if code in _SURROGATES:  # not encodable: the next one that is
            code = _SURROGATES.stop
        if code <= _MAX_CODE_POINT:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return prefix + chr(_MAX_CODE_POINT) * 32


def begins_with_a_form(run_id: str, forms: tuple[str, ...]) -> bool:
    """Whether ``run_id`` really begins with one of the forms (a database whose
    collation is not bytewise may return a few ids the ranges do not mean)."""
    return run_id.startswith(forms)


async def find_runs_by_id_prefix(
    conn: Connection, prefix: str, scope: tuple[bool, str | None], limit: int
) -> list[RunSummary]:
    """At most ``limit`` runs whose id begins with a form of ``prefix``, in id order,
    within the scope (``(False, None)``: every tenant)."""
    forms = prefix_forms(prefix)
    bounds: list[object] = []
    for form in forms:
        bounds += [form, upper_bound(form)]
    rows = await conn.fetch_all("find_runs_by_id_prefix", *bounds, *scope, limit)
    found = RunSummary.from_rows(rows, conn.dialect)
    return [run for run in found if begins_with_a_form(run.run_id, forms)]
