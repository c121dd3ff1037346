-- PostgreSQL-only statements of the engine and the migrator (no SQLite twin).

-- name: lock_migrations
-- Serialise migrators; released at commit or rollback.
SELECT pg_advisory_xact_lock($1);

-- name: set_target_schema
-- Remember the configured schema name for create_target_schema (bound, never spliced).
SELECT set_config('dendrux.target_schema', $1, true);

-- name: create_target_schema
-- Create the configured schema; the name is quoted by format('%I').
DO $$
BEGIN
    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', current_setting('dendrux.target_schema'));
END
$$;
