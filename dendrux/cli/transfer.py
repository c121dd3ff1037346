"""``dendrux export RUN`` and ``dendrux import FILE``: a run (and its delegated subtree)
as JSON Lines, and such a file read back into a database of either dialect."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, TYPE_CHECKING

from dendrux.cli.command import json_flag, open_reader
from dendrux.cli.render import dumps
from dendrux.cli.run_ref import resolve_run_id
from dendrux.cli.style import Style
from dendrux.db.urls import mask_url

if TYPE_CHECKING:
    from dendrux.cli.command import Commands


async def export(args: argparse.Namespace, url: str, style: Style) -> int:
    """Write the export file to stdout or ``-o FILE`` (renamed into place when complete,
    so a failed export never leaves a file that looks whole)."""
    from dendrux.transfer import export_run

    async with open_reader(url) as reader:
        run_id = await resolve_run_id(reader, args.run_id)
        lines = export_run(
            reader.engine, run_id, subtree=args.subtree, without_pii=args.without_pii
        )
        if args.output in (None, "-"):
            async for line in lines:
                sys.stdout.write(line + "\n")
            return 0
        target = Path(args.output)
        partial = target.with_name(target.name + ".partial")
        try:
            with partial.open("w", encoding="utf-8", newline="\n") as out:
                async for line in lines:
                    out.write(line + "\n")
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    print(f"exported run {run_id} to {target}", file=sys.stderr)
    return 0


def _file_lines(path: str) -> Callable[[], Iterable[str]]:
    """The export file's lines from the start, each time asked (the import reads them
    twice: check, then write)."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no export file at {path}")
    return lambda: file.open(encoding="utf-8")


def _spooled_lines(spool: IO[str]) -> Callable[[], Iterable[str]]:
    """stdin, copied into ``spool`` first so that it can be read twice."""
    for line in sys.stdin:
        spool.write(line)

    def again() -> Iterator[str]:
        spool.seek(0)
        yield from spool

    return again


async def import_(args: argparse.Namespace, url: str, style: Style) -> int:
    """A write command: the target is opened like ``demo`` opens it (a SQLite file is
    created and migrated; PostgreSQL must be migrated with ``dendrux db upgrade``)."""
    from dendrux.db import create_engine
    from dendrux.transfer import import_export

    with ExitStack() as stack:
        if args.file == "-":
            spool = stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8"))
            lines = _spooled_lines(spool)
        else:
            lines = _file_lines(args.file)
        async with create_engine(url) as engine:
            result = await import_export(engine, lines, skip_existing=args.skip_existing)
    if args.json:
        document = {
            "imported": result.imported,
            "skipped": result.skipped,
            "rows": result.rows,
            "detached": [d._asdict() for d in result.detached],
        }
        print(dumps(document, indent=2))
        return 0
    for link in result.detached:
        print(
            f"dendrux: warning: run {link.run_id}: {link.column} {link.missing_run_id} is "
            "neither in the file nor in this database; written as null",
            file=sys.stderr,
        )
    for run_id in result.skipped:
        print(f"skipped run {run_id}: it already exists here (left as it is)")
    total = sum(result.rows.values())
    counts = ", ".join(f"{name} {n}" for name, n in result.rows.items() if n)
    plural = "s" if len(result.imported) != 1 else ""
    print(
        f"imported {len(result.imported)} run{plural} into {mask_url(url)} "
        f"({total} rows: {counts or 'none'})"
    )
    if result.imported:
        print(f"  next: dendrux show {result.imported[0]}")
    return 0


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """``export`` and ``import``."""
    parser = commands.add_parser(
        "export",
        help="write a run (and its subtree) as JSON Lines",
        parents=[common],
        description="Write one run, every row of it, as JSON Lines that `dendrux import` "
        "reads into another database (SQLite or PostgreSQL). The file is a faithful copy: "
        "raw inputs, answers, pause state and the PII mapping (see --without-pii).",
    )
    parser.add_argument("run_id", metavar="RUN_ID")
    parser.add_argument(
        "--subtree", action="store_true", help="also every run it delegated to, at any depth"
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument(
        "--without-pii",
        action="store_true",
        help="leave out each run's PII mapping (placeholder -> real value)",
    )
    parser.set_defaults(action=export, existing_database=True)

    parser = commands.add_parser(
        "import",
        help="read an export file into this database",
        parents=[common],
        description="Read a `dendrux export` file into the database (--database-url), "
        "all of it in one transaction or nothing. Ids, timestamps and values are kept "
        "exactly; a run that already exists is refused (see --skip-existing); a parent "
        "or retried run in neither the file nor the database becomes null, with a warning.",
    )
    parser.add_argument("file", metavar="FILE", help="the export file, or - for stdin")
    parser.add_argument(
        "--skip-existing",
        action="store_true",
        help="leave runs that already exist as they are and import the others",
    )
    json_flag(parser, "what was imported as JSON")
    parser.set_defaults(action=import_)
