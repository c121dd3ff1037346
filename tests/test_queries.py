"""The SQL files: parsed once, same names on both dialects, every name used."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dendrux.db.queries import load_migrations, load_queries, parse_named_queries, sql_root

REPO = Path(__file__).resolve().parent.parent
# Files holding statements only one dialect has (transaction control, pragmas, locks,
# and PostgreSQL's one-statement forms of multi-row writes, which SQLite cannot express).
ENGINE_FILES = {"engine.sql", "hooks.sql"}


def _names(dialect: str, *, engine_only: bool) -> set[str]:
    names: set[str] = set()
    for path in (sql_root() / dialect).glob("*.sql"):
        if (path.name in ENGINE_FILES) == engine_only:
            names |= set(parse_named_queries(path.read_text(), str(path)))
    return names


def test_both_dialects_define_the_same_store_queries() -> None:
    assert _names("sqlite", engine_only=False) == _names("postgres", engine_only=False)


def test_every_query_name_is_used_by_the_code() -> None:
    code = "\n".join(p.read_text() for p in (REPO / "dendrux").rglob("*.py"))
    for dialect in ("sqlite", "postgres"):
        unused = [name for name in load_queries(dialect) if f'"{name}"' not in code]
        assert unused == [], f"{dialect}: queries never used: {unused}"


def test_placeholders_match_the_dialect() -> None:
    for name, sql in load_queries("sqlite").items():
        assert "$1" not in sql, name
    for name, sql in load_queries("postgres").items():
        assert not re.search(r"\?\d", sql), name


def test_placeholder_numbering_is_identical_across_dialects() -> None:
    sqlite, postgres = load_queries("sqlite"), load_queries("postgres")
    for name in _names("sqlite", engine_only=False):
        lite = sorted({int(n) for n in re.findall(r"\?(\d+)", sqlite[name])})
        pg = sorted({int(n) for n in re.findall(r"\$(\d+)", postgres[name])})
        assert lite == pg, name


def test_loader_caches_and_is_read_only() -> None:
    assert load_queries("sqlite") is load_queries("sqlite")
    with pytest.raises(TypeError):
        load_queries("sqlite")["x"] = "y"  # type: ignore[index]


def test_parser_rejects_duplicates_and_empty_blocks() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        parse_named_queries("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;", "f.sql")
    with pytest.raises(ValueError, match="no statement"):
        parse_named_queries("-- name: a\n-- only a comment\n", "f.sql")
    parsed = parse_named_queries("-- header\n-- name: a\n-- what it does\nSELECT 1;\n", "f.sql")
    assert parsed == {"a": "SELECT 1"}


def test_migrations_are_numbered_alike_on_both_dialects() -> None:
    lite, pg = load_migrations("sqlite"), load_migrations("postgres")
    assert [(m.version, m.name) for m in lite] == [(m.version, m.name) for m in pg]
    assert [m.version for m in lite] == list(range(1, len(lite) + 1))
