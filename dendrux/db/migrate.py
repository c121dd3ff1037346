"""Schema versioning: numbered migration files applied in order, once.

Each dialect has ``sql/<dialect>/migrations/NNNN_name.sql``. Applied versions
are recorded with the file's SHA-256; an applied file that changed since is
an error, never a silent skip. Migrators are serialised (an advisory lock on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) and everything pending is applied
in one transaction with its version rows. Never called around reads.

The PostgreSQL lock is transaction-scoped (``pg_advisory_xact_lock``, taken
first inside the migration's transaction), never a session lock: a
transaction pooler (PgBouncer, ``pool_mode = transaction``) keeps a
transaction on one server connection but not a session, so this is what
makes ``dendrux db upgrade`` through one safe; the lock ends with the
transaction, whichever client goes away (tests/test_pooler.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from dendrux.db.engine import Connection, Engine, Row
from dendrux.db.queries import Migration, load_migrations
from dendrux.db.urls import MASK
from dendrux.errors import (
    MigrationChecksumError,
    SchemaError,
    SchemaNotMigratedError,
    SchemaOutdatedError,
    SchemaTooNewError,
)

# pg_advisory_xact_lock key: the bytes of "dendrux\0" as a signed 64-bit integer.
MIGRATION_LOCK_KEY = int.from_bytes(b"dendrux\x00", "big", signed=True)


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Where a database stands: applied version against the newest this code knows."""

    dialect: str
    current_version: int
    newest_version: int
    upstream: bool = False
    """Written by dendrux 0.4.1: read as it is; ``upgrade(adopt_upstream=True)`` converts it."""

    @property
    def up_to_date(self) -> bool:
        """True when nothing is pending."""
        return self.current_version == self.newest_version


def _verify(applied: Sequence[Row], known: Sequence[Migration], url: str) -> int:
    """The applied version after checking checksums and refusing a newer database."""
    by_version = {m.version: m for m in known}
    current = 0
    for row in applied:
        version = int(row["version"])
        current = max(current, version)
        migration = by_version.get(version)
        if migration is None:
            raise SchemaTooNewError(
                f"{url} is at schema version {version}, newer than this dendrux knows "
                f"({len(known)}); upgrade the dendrux package"
            )
        if row["checksum"] != migration.checksum:
            raise MigrationChecksumError(
                f"{url}: migration {version:04d}_{migration.name}.sql was edited after it was "
                "applied; restore the original file and add a new numbered migration instead"
            )
    return current


def _has_statements(sql: str) -> bool:
    """False for a migration file of ``--`` comments only (drivers refuse empty queries)."""
    return any(line.strip() and not line.lstrip().startswith("--") for line in sql.splitlines())


async def is_upstream_schema(conn: Connection) -> bool:
    """True for tables made by the upstream (SQLAlchemy/Alembic) dendrux schema:
    ``agent_runs`` exists but our version table does not. Readers use such a
    database as it is; it is migrated only when adopted (`dendrux.db.adopt`)."""
    if await conn.fetch_value("version_table_exists"):
        return False
    return bool(await conn.fetch_value("agent_runs_exists"))


async def apply_migrations(conn: Connection, url: str) -> list[int]:
    """Apply every pending migration on a connection inside a (locked) transaction."""
    if await is_upstream_schema(conn):
        from dendrux.db.adopt import refusal_message

        raise SchemaError(refusal_message(url))
    dialect = conn.dialect
    await conn.execute("create_version_table")
    known = load_migrations(dialect.name)
    applied = await conn.fetch_all("applied_migrations")
    current = _verify(applied, known, url)
    done = []
    for migration in known[current:]:
        if _has_statements(migration.sql):  # a dialect's empty, commented twin runs nothing
            await conn.execute_script(migration.sql)
        await conn.execute(
            "record_migration",
            migration.version,
            migration.name,
            migration.checksum,
            datetime.now(UTC),
        )
        done.append(migration.version)
    return done


async def read_status(conn: Connection, url: str) -> SchemaStatus:
    """The schema version of the database behind ``conn``."""
    known = load_migrations(conn.dialect.name)
    if not await conn.fetch_value("version_table_exists"):
        upstream = bool(await conn.fetch_value("agent_runs_exists"))
        return SchemaStatus(conn.dialect.name, 0, len(known), upstream)
    current = _verify(await conn.fetch_all("applied_migrations"), known, url)
    return SchemaStatus(conn.dialect.name, current, len(known))


async def check_schema(conn: Connection, url: str) -> bool:
    """Refuse a database that is unmigrated, outdated, newer or edited; returns True
    when it holds the upstream schema (usable as it is, see `is_upstream_schema`)."""
    if await is_upstream_schema(conn):
        return True
    status = await read_status(conn, url)
    # A masked password is not something to paste: point at the environment instead.
    pasteable = '"$DENDRUX_DATABASE_URL"' if MASK in url else f"'{url}'"
    fix = f"run `dendrux db upgrade --database-url {pasteable}` or `await dendrux.db.upgrade(url)`"
    if status.current_version == 0:
        raise SchemaNotMigratedError(f"{url} has no dendrux schema yet; {fix}")
    if status.current_version < status.newest_version:
        raise SchemaOutdatedError(
            f"{url} is at schema version {status.current_version}, this dendrux needs "
            f"{status.newest_version}; {fix}"
        )
    return False


async def migrate_engine(engine: Engine) -> list[int]:
    """Bring ``engine``'s database to the newest schema; returns the versions applied."""
    async with engine.migration_transaction() as conn:
        if conn.dialect.name == "postgres":
            await conn.execute("lock_migrations", MIGRATION_LOCK_KEY)
            schema = engine.schema
            if schema is not None:
                await conn.execute("set_target_schema", schema)
                await conn.execute("create_target_schema")
        return await apply_migrations(conn, engine.url)


async def engine_status(engine: Engine) -> SchemaStatus:
    """The schema status of ``engine``'s database, without migrating it."""
    async with engine.migration_transaction() as conn:
        return await read_status(conn, engine.url)
