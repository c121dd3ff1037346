-- Connection setup and transaction control for SQLite.

-- name: begin_immediate
-- Start a write transaction holding the database write lock from the start.
BEGIN IMMEDIATE;

-- name: commit
-- Commit the current transaction.
COMMIT;

-- name: rollback
-- Roll the current transaction back.
ROLLBACK;

-- name: enable_wal
-- Readers never block on the writer.
PRAGMA journal_mode = WAL;

-- name: enable_foreign_keys
-- Cascades and SET NULL need foreign keys enforced.
PRAGMA foreign_keys = ON;

-- name: synchronous_full
-- fsync on every commit: an audit trail survives power loss (the default).
PRAGMA synchronous = FULL;

-- name: synchronous_normal
-- fsync at checkpoints only: faster, may lose the last commits on power loss.
PRAGMA synchronous = NORMAL;

-- name: synchronous_off
-- No fsync at all: for throwaway databases.
PRAGMA synchronous = OFF;

-- name: query_only
-- Reader connections refuse writes.
PRAGMA query_only = ON;

-- name: savepoint
-- Open a unit's savepoint inside a group-commit transaction.
SAVEPOINT dendrux_unit;

-- name: release_savepoint
-- Keep the unit's writes (they commit with the group).
RELEASE dendrux_unit;

-- name: rollback_to_savepoint
-- Undo the unit's writes, leaving the other members of the group untouched.
ROLLBACK TO dendrux_unit;
