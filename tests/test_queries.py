"""The SQL files: parsed once, same names on both dialects, every name used."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dendrux.db.queries import load_migrations, load_queries, parse_named_queries

REPO = Path(__file__).resolve().parent.parent

# Every name only one dialect defines, each with the reason; all other names must
# exist on both dialects, with the same placeholders.
SQLITE_ONLY = {
    # Transaction control: asyncpg has its own (Connection.transaction()); SQLite needs
    # BEGIN IMMEDIATE to take the write lock up front.
    "begin_immediate": "transaction control",
    "commit": "transaction control",
    "rollback": "transaction control",
    # Each group-commit member's savepoint (PostgreSQL never groups unit by unit).
    "savepoint": "group commit",
    "release_savepoint": "group commit",
    "rollback_to_savepoint": "group commit",
    # Connection pragmas.
    "enable_wal": "pragma",
    "enable_foreign_keys": "pragma",
    "query_only": "pragma",
    "synchronous_full": "pragma",
    "synchronous_normal": "pragma",
    "synchronous_off": "pragma",
    # Adopting a 0.4.1 database (dendrux/db/adopt.py): SQLite renames tables aside with
    # foreign keys off, backs the file up, and checks references after the copy.
    "adopt_legacy_alter": "adoption",
    "adopt_foreign_keys_off": "adoption",
    "adopt_backup": "adoption",
    "adopt_foreign_key_problems": "adoption",
    # A metadata filter of one key: no grouping of agent_run_meta's hits per run
    # (PostgreSQL's meta @> serves any number of keys with one query).
    "list_runs_by_meta_one": "one-key metadata filter",
    "list_run_summaries_by_meta_one": "one-key metadata filter",
    "count_runs_by_meta_one": "one-key metadata filter",
    "count_runs_capped_by_meta_one": "one-key metadata filter",
}
POSTGRES_ONLY = {
    # Migrations: a server-wide advisory lock and an optional schema (namespace).
    "lock_migrations": "migrations",
    "set_target_schema": "migrations",
    "create_target_schema": "migrations",
    # Adopting a 0.4.1 database: its tables wait in a schema of their own.
    "adopt_create_stash": "adoption",
    # One-statement forms of the recorder's hooks (data-modifying CTEs, which SQLite
    # cannot express; it group-commits the same writes instead). Their parameters are
    # checked against the writes they replace by tests/test_hook_statements.py.
    "record_trace": "hook statement",
    "record_run_event": "hook statement",
    "record_llm_call": "hook statement",
    "record_tool_call": "hook statement",
    # LISTEN/NOTIFY: readers woken after the events committed (SQLite readers poll).
    "wake_run_event_readers": "reader wake-up",
}


def _shared() -> set[str]:
    return set(load_queries("sqlite")) - set(SQLITE_ONLY)


def test_both_dialects_define_the_same_store_queries() -> None:
    lite, pg = set(load_queries("sqlite")), set(load_queries("postgres"))
    assert lite - pg == set(SQLITE_ONLY), "a SQLite-only name must be listed with its reason"
    assert pg - lite == set(POSTGRES_ONLY), "a PostgreSQL-only name must be listed with its reason"


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
    for name in _shared():
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
