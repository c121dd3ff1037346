-- dendrux schema v3 for SQLite: cooperative pause and the notes inbox (0.4.1).
--
-- agent_runs.pause_requested is the flag request_pause latches on a running
-- run; a durable pause, a claim or a finalize clears it. run_inbox holds the
-- notes submitted to a run, delivered in (created_at, id) order; a note's
-- metadata is the application's own data and never reaches the model.
-- Column names follow upstream dendrux's schema, so a database it wrote
-- has the same shape.

ALTER TABLE agent_runs ADD COLUMN pause_requested INTEGER NOT NULL DEFAULT 0;

CREATE TABLE run_inbox (
    id                  TEXT PRIMARY KEY NOT NULL,
    run_id              TEXT NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
    text                TEXT NOT NULL,
    metadata            TEXT,
    created_at          TEXT NOT NULL,
    delivered_at        TEXT,
    delivered_iteration INTEGER
);

-- A run's notes in delivery order, and its undelivered ones alone (the
-- runner's per-iteration check reads only those).
CREATE INDEX ix_run_inbox_run_created ON run_inbox (run_id, created_at, id);
CREATE INDEX ix_run_inbox_run_undelivered ON run_inbox (run_id, created_at, id)
    WHERE delivered_at IS NULL;
