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

-- name: wake_run_event_readers
-- Wake the streaming readers of these runs ($1, text[]), sent by the engine once their
-- events committed. A transaction of its own, committed without waiting for its WAL
-- flush (set_config(..., true) lasts until its commit): NOTIFY takes a database-wide
-- lock before commit and holds it until the transaction ends, so inside the events' own
-- transactions it queued every writer's commit, fsync included, behind one lock.
SELECT count(pg_notify('dendrux_run_events', run_id))
FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit,
     unnest($1::text[]) AS run_id;
