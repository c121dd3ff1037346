"""``import_export``: an export file's rows written into a database, exactly and atomically.

Two passes over the lines. The first checks the whole file without touching the
database (header, every row, the order, the trailer), so a bad line is named
before any SQL runs. The second writes every row in ONE transaction: a failure
anywhere leaves the target as it was.

Decisions a file cannot make for itself:

- A run id that already exists in the target is refused (`RunExistsInTargetError`,
  naming it), or, with ``skip_existing``, left as it is together with the file's
  rows for it.
- A ``parent_run_id`` or ``retry_of_run_id`` naming a run that is neither in the
  file nor in the target is written as NULL (the foreign key would refuse it, and
  NULL is what the target's ``ON DELETE SET NULL`` leaves when a parent goes) and
  reported in `ImportResult.detached`; one that exists in the target is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

from dendrux.db.engine import Connection
from dendrux.errors import ConflictError, IntegrityError
from dendrux.state._executor import Executor, writing
from dendrux.transfer.format import (
    RUNS,
    TABLES_BY_NAME,
    Table,
    TransferFormatError,
    check_header,
    parse_line,
    row_parameters,
)
from dendrux.validation import check_bool

_LINKS = ("parent_run_id", "retry_of_run_id")
_LINK_AT = {name: [c.name for c in RUNS.columns].index(name) for name in _LINKS}


class RunExistsInTargetError(ConflictError):
    """Runs of the file already exist in the target database; nothing was imported."""

    def __init__(self, run_ids: list[str]) -> None:
        shown = ", ".join(repr(r) for r in run_ids[:5])
        more = f" and {len(run_ids) - 5} more" if len(run_ids) > 5 else ""
        which = (
            f"run {shown} already exists"
            if len(run_ids) == 1
            else f"runs {shown}{more} already exist"
        )
        super().__init__(
            f"{which} in the target database; nothing was imported "
            "(pass skip_existing / --skip-existing to import the other runs and leave "
            "existing ones as they are)"
        )
        self.run_ids = run_ids


class ImportRowError(ConflictError):
    """The target refused one row of the file (a unique key already taken, such as
    an idempotency key); nothing was imported."""

    def __init__(self, line: int, table: str, row_id: object, cause: BaseException) -> None:
        super().__init__(
            f"line {line}: {table} row {row_id!r} cannot be written ({cause}); nothing was imported"
        )
        self.line = line


class Detached(NamedTuple):
    """A link to a run that is neither in the file nor in the target, written as NULL."""

    run_id: str
    column: str
    missing_run_id: str


class ImportResult(NamedTuple):
    """What an import wrote: runs imported and skipped, rows per table, links nulled."""

    imported: list[str]
    skipped: list[str]
    rows: dict[str, int]
    detached: list[Detached]


class _Entry(NamedTuple):
    line: int
    table: Table
    args: tuple[Any, ...]


def _entries(lines: Iterable[str]) -> Iterator[_Entry]:
    """Every row of the file, checked; the header first and the trailer last are
    checked and not yielded. Runs must precede their rows, parents their children."""
    header_seen = False
    announced: set[str] = set()
    runs: set[str] = set()
    count = 0
    ended = 0
    number = 0
    for number, raw in enumerate(lines, start=1):
        text = raw.rstrip("\r\n")
        if ended:
            raise TransferFormatError(number, "text after the trailer line")
        if not text.strip():
            raise TransferFormatError(number, "empty line")
        document = parse_line(number, text)
        if not header_seen:
            announced = set(check_header(document))
            header_seen = True
            continue
        if "end" in document:
            if document.get("rows") != count:
                raise TransferFormatError(
                    number,
                    f"the trailer counts {document.get('rows')!r} rows but the file has {count}",
                )
            ended = number
            continue
        table = TABLES_BY_NAME.get(document.get("table"))  # type: ignore[arg-type]
        if table is None or set(document) != {"table", "row"}:
            raise TransferFormatError(
                number,
                'expected {"table": ..., "row": {...}} naming one of '
                f"{', '.join(TABLES_BY_NAME)}",
            )
        args = row_parameters(number, table, document["row"])
        if table is RUNS:
            run_id = args[0]
            if run_id in runs:
                raise TransferFormatError(number, f"run {run_id!r} appears twice")
            for name, at in _LINK_AT.items():
                link = args[at]
                if link in announced and link not in runs and link != run_id:
                    raise TransferFormatError(
                        number, f"run {run_id!r}: its {name} {link!r} comes later in the file"
                    )
            runs.add(run_id)
        else:
            owner = args[[c.name for c in table.columns].index(table.run_column)]
            if owner not in runs:
                raise TransferFormatError(
                    number,
                    f"{table.name} row for run {owner!r}, which has no agent_runs line before it",
                )
        count += 1
        yield _Entry(number, table, args)
    if not header_seen:
        raise TransferFormatError(0, "the file is empty (no header line)")
    if not ended:
        raise TransferFormatError(number, "the file ends without its trailer line: it is truncated")


def _read(lines: Callable[[], Iterable[str]]) -> Iterator[_Entry]:
    """`_entries` of a fresh read of the file, closing what ``lines()`` opened."""
    source = lines()
    try:
        yield from _entries(source)
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


def check_export(lines: Iterable[str]) -> list[str]:
    """Check a whole file without a database; returns its run ids in file order."""
    return [e.args[0] for e in _entries(lines) if e.table is RUNS]


async def _existing(conn: Connection, run_ids: Iterable[str]) -> set[str]:
    found = set()
    for run_id in run_ids:
        if await conn.fetch_value("run_exists", run_id, None):
            found.add(run_id)
    return found


async def import_export(
    db: Executor,
    lines: Callable[[], Iterable[str]],
    *,
    skip_existing: bool = False,
) -> ImportResult:
    """Import an export file; ``lines()`` is called twice (check, then write), each time
    giving the file's lines from the start (``lambda: open(path, encoding="utf-8")``).

    Raises `TransferFormatError` (naming the line) before any SQL for a bad file,
    `RunExistsInTargetError` for runs already there, `ImportRowError` when the target
    refuses a row; in every case nothing was written.
    """
    skip_existing = check_bool("skip_existing", skip_existing)
    file_runs: list[str] = []
    links: set[str] = set()
    for entry in _read(lines):
        if entry.table is RUNS:
            file_runs.append(entry.args[0])
            links.update(entry.args[at] for at in _LINK_AT.values() if entry.args[at])
    outside = links - set(file_runs)

    async with writing(db, atomic=True) as conn:
        present = await _existing(conn, file_runs)
        if present and not skip_existing:
            raise RunExistsInTargetError([r for r in file_runs if r in present])
        known = await _existing(conn, outside)
        rows: dict[str, int] = dict.fromkeys(TABLES_BY_NAME, 0)
        detached: list[Detached] = []
        for entry in _read(lines):
            table, args = entry.table, entry.args
            owner = args[0] if table is RUNS else args[1]
            if owner in present:
                continue
            if table is RUNS:
                patched = list(args)
                for name, at in _LINK_AT.items():
                    link = args[at]
                    if link in outside and link not in known:
                        patched[at] = None
                        detached.append(Detached(owner, name, link))
                args = tuple(patched)
            try:
                await conn.execute(table.insert_query, *args)
            except IntegrityError as exc:
                raise ImportRowError(entry.line, table.name, args[0], exc) from exc
            rows[table.name] += 1
    imported = [r for r in file_runs if r not in present]
    skipped = [r for r in file_runs if r in present]
    return ImportResult(imported, skipped, rows, detached)


__all__ = [
    "Detached",
    "ImportResult",
    "ImportRowError",
    "RunExistsInTargetError",
    "check_export",
    "import_export",
]
