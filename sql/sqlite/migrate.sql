-- Schema versioning for SQLite. Migrations run inside BEGIN IMMEDIATE, which
-- takes the database's write lock and so serialises concurrent migrators.

-- name: create_version_table
-- The table recording which numbered migrations ran, with their checksums.
CREATE TABLE IF NOT EXISTS dendrux_schema_version (
    version    INTEGER PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at TEXT NOT NULL
);

-- name: version_table_exists
-- 1 when the version table exists, else 0.
SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'dendrux_schema_version';

-- name: applied_migrations
-- Every applied migration, oldest first.
SELECT version, name, checksum FROM dendrux_schema_version ORDER BY version;

-- name: record_migration
-- Mark one migration as applied.
INSERT INTO dendrux_schema_version (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4);

-- name: agent_runs_exists
-- 1 when an agent_runs table exists (with no version table: the upstream schema).
SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'agent_runs';
