"""Named SQL queries, read from ``sql/<dialect>/*.sql``.

A block is ``-- name: some_name``, then comment lines (the first says what
it does), then one statement. Files are parsed once per dialect and cached;
the mapping handed out is read-only. The loader never rewrites SQL text.

The ``sql/`` tree is found next to the package (installed wheels carry it
as ``dendrux/sql``) or next to the ``dendrux/`` folder (a source checkout,
an editable install or a vendored copy).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Literal, NamedTuple

DialectName = Literal["sqlite", "postgres"]

# Patterns as text: `re` compiles (and caches) them when the files are first read.
_NAME_LINE = r"--\s*name:\s*([a-z_][a-z0-9_]*)\s*"
_MIGRATION_FILE = r"(\d{4})_([a-z0-9_]+)\.sql"


def sql_root() -> Path:
    """The directory holding ``sqlite/`` and ``postgres/``."""
    package_dir = Path(__file__).resolve().parent.parent
    for candidate in (package_dir / "sql", package_dir.parent / "sql"):
        if (candidate / "sqlite").is_dir() and (candidate / "postgres").is_dir():
            return candidate
    raise FileNotFoundError(
        f"dendrux cannot find its sql/ directory (looked in {package_dir / 'sql'} and "
        f"{package_dir.parent / 'sql'}); keep sql/ beside the dendrux/ folder when vendoring"
    )


def parse_named_queries(text: str, source: str) -> dict[str, str]:
    """Split one ``.sql`` file into ``{name: statement}``."""
    queries: dict[str, str] = {}
    name: str | None = None
    body: list[str] = []

    def flush() -> None:
        if name is None:
            return
        statement = "\n".join(
            line for line in body if line.strip() and not line.lstrip().startswith("--")
        ).strip()
        statement = statement.removesuffix(";").strip()
        if not statement:
            raise ValueError(f"{source}: query {name!r} has no statement")
        if name in queries:
            raise ValueError(f"{source}: query {name!r} is defined twice")
        queries[name] = statement

    for line in text.splitlines():
        match = re.fullmatch(_NAME_LINE, line.strip())
        if match:
            flush()
            name, body = match.group(1), []
        elif name is not None:
            body.append(line)
    flush()
    return queries


@cache
def load_queries(dialect: DialectName) -> MappingProxyType[str, str]:
    """Every named query of a dialect, across all its ``.sql`` files."""
    merged: dict[str, str] = {}
    for path in sorted((sql_root() / dialect).glob("*.sql")):
        for name, statement in parse_named_queries(path.read_text("utf-8"), str(path)).items():
            if name in merged:
                raise ValueError(f"{path}: query {name!r} is already defined in another file")
            merged[name] = statement
    return MappingProxyType(merged)


class Migration(NamedTuple):
    """One numbered migration file (a named tuple: a frozen dataclass's generated
    methods would cost import time on every reader)."""

    version: int
    name: str
    sql: str
    checksum: str


@cache
def load_migrations(dialect: DialectName) -> tuple[Migration, ...]:
    """The dialect's migrations in version order; numbers must run 1, 2, 3..."""
    import hashlib  # only the migrator needs checksums

    migrations = []
    for path in sorted((sql_root() / dialect / "migrations").glob("*.sql")):
        match = re.fullmatch(_MIGRATION_FILE, path.name)
        if not match:
            raise ValueError(f"{path}: migration files are named NNNN_name.sql")
        text = path.read_text("utf-8")
        migrations.append(
            Migration(
                version=int(match.group(1)),
                name=match.group(2),
                sql=text,
                checksum=hashlib.sha256(text.encode("utf-8")).hexdigest(),
            )
        )
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise ValueError(f"{dialect} migrations must be numbered 1..n without gaps")
    return tuple(migrations)
