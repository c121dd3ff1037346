-- dendrux schema v5 for SQLite: no index on a column every hook writes.
--
-- Every recorder hook that moves a run forward stamps agent_runs.last_progress_at;
-- with that column in an index (status, last_progress_at) each stamp also rewrote an
-- index entry. The sweep finds stale runs through the status index instead (live
-- runs are few; the progress check filters them; see sweeps.sql). PostgreSQL's 0005
-- drops the same index so its stamps become HOT updates.

DROP INDEX IF EXISTS ix_agent_runs_status_progress;
