"""Adopting a database written by dendrux 0.4.1: converting it in place to our schema.

Readers use such a database as it is; `dendrux db upgrade` refuses it unless told to
adopt it (``--adopt-upstream`` / ``upgrade(url, adopt_upstream=True)``), because
adoption rewrites every table. What cannot be converted losslessly is refused first,
naming the rows, with nothing changed: slots our unique constraints forbid that 0.4.1
stored twice, SQLite timestamps in a form 0.4.1 never writes, required timestamps that
are NULL, a schema older than 0.4.1's. Then, in one transaction (holding our migration
lock), 0.4.1's seven tables are moved aside, ours are created by the numbered
migrations (so the result is exactly a fresh database of ours plus the data), every row
is copied (naive UTC text to our UTC text, JSON to JSONB, NUMERIC to double precision,
JSON ``null`` to SQL NULL) and the old tables are dropped. 0.4.1-only tables
(``alembic_version``, ``dendrux_blobs``, ``dendrux_blob_refs``) stay as they are.

SQLite: a backup (``VACUUM INTO <file>.pre-adopt-<UTC timestamp>.db``) is written first.
PostgreSQL: all or nothing in one transaction; take a ``pg_dump`` first to keep a copy.
See docs/adopting-0.4.1.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dendrux.db.engine import Connection, Engine, Row
from dendrux.errors import DendruxError, SchemaError

# The tables adoption converts (parents first) and the columns each must have: 0.4.1's
# schema; an older upstream schema lacks some and is refused.
TABLES: dict[str, str] = {  # space-separated column names
    "agent_runs": (
        "id tenant_id agent_name status input_data output_data iteration_count model strategy "
        "parent_run_id delegation_level retry_of_run_id total_input_tokens total_output_tokens "
        "total_cost_usd total_cache_read_tokens total_cache_creation_tokens "
        "total_reasoning_tokens meta pause_data pii_mapping error last_progress_at "
        "failure_reason idempotency_key idempotency_fingerprint cancel_requested created_at "
        "updated_at pause_requested"
    ),
    "react_traces": "id agent_run_id role content order_index meta created_at updated_at",
    "tool_calls": (
        "id agent_run_id tool_call_id provider_tool_call_id tool_name target params result "
        "success duration_ms iteration_index error_message meta created_at updated_at"
    ),
    "token_usage": (
        "id agent_run_id iteration_index model provider input_tokens output_tokens cost_usd "
        "duration_ms cache_read_input_tokens cache_creation_input_tokens reasoning_tokens meta "
        "created_at"
    ),
    "llm_interactions": (
        "id agent_run_id iteration_index model provider semantic_request semantic_response "
        "provider_request provider_response input_tokens output_tokens cost_usd duration_ms "
        "cache_read_input_tokens cache_creation_input_tokens reasoning_tokens "
        "guardrail_findings created_at"
    ),
    "run_events": (
        "id agent_run_id event_type sequence_index iteration_index correlation_id data created_at"
    ),
    "run_inbox": "id run_id text metadata created_at delivered_at delivered_iteration",
}

# Named statements per table (each name spelled out: tests/test_queries.py looks for them).
_STASH = {
    "agent_runs": "adopt_stash_agent_runs",
    "react_traces": "adopt_stash_react_traces",
    "tool_calls": "adopt_stash_tool_calls",
    "token_usage": "adopt_stash_token_usage",
    "llm_interactions": "adopt_stash_llm_interactions",
    "run_events": "adopt_stash_run_events",
    "run_inbox": "adopt_stash_run_inbox",
}
_COPY = {
    "agent_runs": "adopt_copy_agent_runs",
    "react_traces": "adopt_copy_react_traces",
    "tool_calls": "adopt_copy_tool_calls",
    "token_usage": "adopt_copy_token_usage",
    "llm_interactions": "adopt_copy_llm_interactions",
    "run_events": "adopt_copy_run_events",
    "run_inbox": "adopt_copy_run_inbox",
}
_DROP = {  # children first
    "react_traces": "adopt_drop_react_traces",
    "tool_calls": "adopt_drop_tool_calls",
    "token_usage": "adopt_drop_token_usage",
    "llm_interactions": "adopt_drop_llm_interactions",
    "run_events": "adopt_drop_run_events",
    "run_inbox": "adopt_drop_run_inbox",
    "agent_runs": "adopt_drop_agent_runs",
}
_SHOWN = 10


@dataclass(frozen=True, slots=True)
class AdoptResult:
    """What adoption did: whether the database was converted now (False: it already was
    ours), the migration versions applied, and the SQLite backup written (if any)."""

    adopted: bool
    applied: list[int]
    backup: str | None = None


def refusal_message(url: str) -> str:
    """Why `dendrux db upgrade` leaves a 0.4.1 database alone, and how to adopt it (short
    enough for the CLI's one error line)."""
    from dendrux.db.urls import MASK

    pasteable = '"$DENDRUX_DATABASE_URL"' if MASK in url else f"'{url}'"
    backup = (
        "A backup <file>.pre-adopt-<UTC time>.db is written first"
        if url.startswith("sqlite")
        else "It is one transaction; take a pg_dump first to keep a copy"
    )
    return (
        "this database was written by dendrux 0.4.1: read as it is, never migrated. To convert "
        "it in place (rewrites every table; 0.4.1 cannot use it afterwards): `dendrux db "
        f"upgrade --adopt-upstream --database-url {pasteable}` or `upgrade(url, "
        f"adopt_upstream=True)`. {backup}. See docs/adopting-0.4.1.md"
    )


def _rows(rows: Sequence[Row], *fields: str) -> str:
    shown = ["(" + ", ".join(str(row[f]) for f in fields) + ")" for row in rows[:_SHOWN]]
    more = f" and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
    return ", ".join(shown) + more


async def check_convertible(conn: Connection, url: str) -> None:
    """Refuse (before anything changes) what adoption cannot convert losslessly."""
    present: dict[str, set[str]] = {}
    for row in await conn.fetch_all("adopt_table_columns"):
        present.setdefault(str(row["table_name"]), set()).add(str(row["column_name"]))
    missing = [
        f"{table}.{column}"
        for table, columns in TABLES.items()
        for column in columns.split()
        if column not in present.get(table, set())
    ]
    if missing:
        raise SchemaError(
            f"{url}: cannot adopt: this upstream database is older than dendrux 0.4.1 "
            f"(missing {', '.join(missing[:_SHOWN])}{' ...' if len(missing) > _SHOWN else ''}); "
            "upgrade it with dendrux 0.4.1 first (`dendrux db migrate`, or open it once "
            "with 0.4.1 on SQLite), then adopt it"
        )
    duplicates = await conn.fetch_all("adopt_duplicate_slots")
    if duplicates:
        raise SchemaError(
            f"{url}: cannot adopt: 0.4.1 stored rows at the same slot more than once, which "
            "this dendrux refuses (each event index, trace position and tool call is unique "
            "per run); nothing was changed. (table, run, slot, copies): "
            f"{_rows(duplicates, 'table_name', 'run_id', 'slot', 'copies')}. Delete or "
            "renumber the extra rows with 0.4.1 or SQL, then adopt again; or keep reading "
            "the database as it is"
        )
    bad = await conn.fetch_all("adopt_bad_timestamps")
    if bad:
        raise SchemaError(
            f"{url}: cannot adopt: timestamps missing or not in 0.4.1's UTC form; nothing "
            f"was changed. (table, column, row id): {_rows(bad, 'table_name', 'column_name', 'id')}"
        )


def backup_path(sqlite_path: str, now: datetime | None = None) -> str:
    """``<file>.pre-adopt-<UTC timestamp>.db`` beside the database file."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{sqlite_path}.pre-adopt-{stamp}.db"


async def _convert(conn: Connection, url: str) -> list[int]:
    """0.4.1's tables aside, ours created by the migrations, rows copied, old ones dropped."""
    from dendrux.db.migrate import apply_migrations

    postgres = conn.dialect.name == "postgres"
    await conn.execute("adopt_create_stash" if postgres else "adopt_legacy_alter")
    for name in _STASH.values():
        await conn.execute(name)
    applied = await apply_migrations(conn, url)
    for name in _COPY.values():
        await conn.execute(name)
    if not postgres:  # PostgreSQL checked every reference as it copied
        orphans = await conn.fetch_all("adopt_foreign_key_problems")
        if orphans:
            raise SchemaError(
                f"{url}: cannot adopt: rows whose parent run is missing; nothing was changed. "
                f"(table, rowid, parent): {_rows(orphans, 'table_name', 'rowid', 'parent')}"
            )
    for name in _DROP.values():
        await conn.execute(name)
    await conn.execute("adopt_finish")
    return applied


async def adopt_engine(engine: Engine, sqlite_path: str | None) -> AdoptResult:
    """Adopt ``engine``'s database (a fresh engine of its own: SQLite needs its writer
    with foreign keys off). A database of ours is migrated as usual; adopting an adopted
    database is a no-op."""
    from dendrux.db.migrate import MIGRATION_LOCK_KEY, apply_migrations, is_upstream_schema

    postgres = engine.dialect.name == "postgres"
    backup: str | None = None
    async with engine.migration_transaction() as conn:
        if postgres:
            await conn.execute("lock_migrations", MIGRATION_LOCK_KEY)
            schema = engine.schema
            if schema is not None:
                await conn.execute("set_target_schema", schema)
                await conn.execute("create_target_schema")
        if not await is_upstream_schema(conn):
            return AdoptResult(False, await apply_migrations(conn, engine.url))
        await check_convertible(conn, engine.url)
        if not postgres:
            # VACUUM INTO and the foreign-key switch need no open transaction: end the
            # checking one, back up, and take the write lock again for the conversion.
            await conn.execute("commit")
            if sqlite_path is not None and sqlite_path != ":memory:":
                backup = backup_path(sqlite_path)
                if Path(backup).exists():
                    raise SchemaError(f"{engine.url}: backup {backup} already exists")
                await conn.execute("adopt_backup", backup)
            await conn.execute("adopt_foreign_keys_off")
            await conn.execute("begin_immediate")
            if not await is_upstream_schema(conn):  # adopted meanwhile by another process
                return AdoptResult(False, await apply_migrations(conn, engine.url), backup)
            await check_convertible(conn, engine.url)
        try:
            applied = await _convert(conn, engine.url)
        except SchemaError:
            raise
        except DendruxError as exc:
            raise SchemaError(
                f"{engine.url}: adoption failed and was rolled back, nothing was changed: {exc}"
            ) from exc
    return AdoptResult(True, applied, backup)


async def adopt_url(url: object, **options: object) -> AdoptResult:
    """`adopt_engine` on an engine of its own for ``url`` (disposed afterwards)."""
    from dendrux.db import create_engine, parse_database_url
    from dendrux.errors import InvalidArgumentTypeError

    if not isinstance(url, str):
        raise InvalidArgumentTypeError(
            "upgrade(adopt_upstream=True) needs the database URL, not "
            f"{type(url).__name__}: adoption opens its own connection"
        )
    parsed = parse_database_url(url, argument="url")
    engine = create_engine(url, **options)
    try:
        return await adopt_engine(engine, parsed.sqlite_path)
    finally:
        await engine.dispose()
