"""Engines, URLs and schema migrations.

``create_engine(url, **options)`` builds an engine without doing any I/O;
``await upgrade(engine_or_url)`` brings its schema to the newest version.
Drivers are imported only when an engine of their dialect is built, the
migrator only when a schema is checked or migrated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dendrux.db.engine import Connection, Dialect, Engine, Row
from dendrux.db.urls import (
    ACCEPTED_SCHEMES,
    DatabaseURL,
    default_database_url,
    mask_url,
    parse_database_url,
)

if TYPE_CHECKING:
    from dendrux.db.migrate import SchemaStatus

__all__ = [
    "ACCEPTED_SCHEMES",
    "Connection",
    "DatabaseURL",
    "Dialect",
    "Engine",
    "Row",
    "SchemaStatus",
    "create_engine",
    "default_database_url",
    "engine_from_connection",
    "mask_url",
    "parse_database_url",
    "schema_status",
    "upgrade",
]


def create_engine(url: str, **options: Any) -> Engine:
    """An engine for ``url`` (see `dendrux.db.urls` for the accepted forms).

    SQLite options: ``synchronous``, ``busy_timeout``, ``readers``, ``mode``,
    ``create``, ``auto_migrate``, ``wal``. PostgreSQL options: ``schema``,
    ``prepared_statements``, ``listen``, ``pool_min_size``, ``pool_max_size``,
    ``connect_timeout``. Options may also be given as URL query parameters.

    ``create=False`` (accepted by both dialects) opens an existing database
    only: a SQLite file is opened with ``mode=rw`` (or ``mode="ro"`` when also
    given) and a missing file raises `DatabaseMissingError` instead of being
    created; on PostgreSQL it changes nothing (a server database is never
    created). Read-only tools pass it so a mistyped path leaves no empty file.

    The engine's ``url`` and ``repr`` show the URL with its password masked.
    """
    parsed = parse_database_url(url, argument="url")
    if parsed.dialect == "sqlite":
        from dendrux.db.sqlite import SqliteEngine

        return SqliteEngine(parsed, **options)
    from dendrux.db.postgres import PostgresEngine

    return PostgresEngine(parsed, **options)


def engine_from_connection(connection: object, **options: Any) -> Engine:
    """An engine over what an application already owns: an ``asyncpg.Pool`` or an
    open ``aiosqlite.Connection``. Disposing the engine leaves it open."""
    module = type(connection).__module__
    if module.startswith("asyncpg"):
        from dendrux.db.postgres import PostgresEngine

        return PostgresEngine(None, pool=connection, **options)
    if module.startswith("aiosqlite"):
        from dendrux.db.sqlite import SqliteEngine

        memory = parse_database_url("sqlite+aiosqlite:///:memory:")
        return SqliteEngine(memory, connection=connection, **options)  # type: ignore[arg-type]
    from dendrux.errors import InvalidArgumentTypeError

    raise InvalidArgumentTypeError(
        "expected a dendrux Engine, an asyncpg.Pool or an aiosqlite.Connection, got "
        f"{type(connection).__name__}"
    )


def __getattr__(name: str) -> object:
    # The migrator loads with its first use: readers never need it at import.
    if name == "SchemaStatus":
        from dendrux.db.migrate import SchemaStatus

        return SchemaStatus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


async def upgrade(
    target: Engine | str, *, adopt_upstream: bool = False, **options: Any
) -> list[int]:
    """Migrate a database to the newest schema; returns the versions applied (maybe none).

    A database written by dendrux 0.4.1 is refused unless ``adopt_upstream=True`` (a URL
    only), which converts it in place: see `dendrux.db.adopt` and docs/adopting-0.4.1.md.
    """
    from dendrux.db.migrate import migrate_engine

    if adopt_upstream:
        from dendrux.db.adopt import adopt_url

        return (await adopt_url(target, **options)).applied
    if isinstance(target, Engine):
        applied = await migrate_engine(target)
        target.forget_schema_check()
        return applied
    engine = create_engine(target, **options)
    try:
        return await migrate_engine(engine)
    finally:
        await engine.dispose()


async def schema_status(target: Engine | str, **options: Any) -> SchemaStatus:
    """Current and newest schema version of a database, without changing it."""
    from dendrux.db.migrate import engine_status

    if isinstance(target, Engine):
        return await engine_status(target)
    engine = create_engine(target, **options)
    try:
        return await engine_status(engine)
    finally:
        await engine.dispose()
