-- Schema versioning for PostgreSQL. Every migrator takes one transaction-level
-- advisory lock first (lock_migrations in engine.sql), so two processes migrating at
-- once run one after the other; being transaction-level, it holds through a
-- transaction pooler (PgBouncer) and never outlives the migration's transaction.

-- name: create_version_table
-- The table recording which numbered migrations ran, with their checksums.
CREATE TABLE IF NOT EXISTS dendrux_schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
);

-- name: version_table_exists
-- 1 when the version table exists in the current schema, else 0.
SELECT CASE WHEN to_regclass('dendrux_schema_version') IS NULL THEN 0 ELSE 1 END;

-- name: applied_migrations
-- Every applied migration, oldest first.
SELECT version, name, checksum FROM dendrux_schema_version ORDER BY version;

-- name: record_migration
-- Mark one migration as applied.
INSERT INTO dendrux_schema_version (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4);

-- name: agent_runs_exists
-- 1 when an agent_runs table exists (with no version table: the upstream schema).
SELECT CASE WHEN to_regclass('agent_runs') IS NULL THEN 0 ELSE 1 END;
