-- dendrux schema v5 for PostgreSQL: progress stamps as HOT updates.
--
-- Every recorder hook that moves a run forward stamps agent_runs.last_progress_at.
-- With that column in an index (status, last_progress_at) no such update could be
-- HOT: each stamp wrote a new entry into every index of agent_runs, the GIN on meta
-- included. Without it, the stamp changes no indexed column, and with free room on
-- the row's page (fillfactor 90: a tenth of each page kept for new row versions)
-- PostgreSQL writes the new version beside the old one and touches no index.
-- The sweep finds stale runs through the status index instead (live runs are few;
-- the progress check filters them; see sweeps.sql). The fillfactor applies to pages
-- filled from now on: existing pages are not rewritten. (Measured with bench.pgcost, 200
-- runs x 8: of 2,000 progress stamps 98.6% were HOT at fillfactor 100, 99.7% at 90, 99.8%
-- at 80; 90 keeps nearly all of them for a tenth more table.)

DROP INDEX IF EXISTS ix_agent_runs_status_progress;
ALTER TABLE agent_runs SET (fillfactor = 90);
