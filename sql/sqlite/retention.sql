-- Retention: deleting finished runs (their rows go by ON DELETE CASCADE), in
-- small batches so no statement holds the write lock for long.
--
-- The selection, the same in every query below: finished runs last updated before ?1,
-- optionally only the statuses in JSON array ?2, the agent ?3 and the tenant ?4 (NULL:
-- any). SQLite cannot use an index for "?3 IS NULL OR agent_name = ?3", so each query is
-- three branches of which exactly one runs (its guard on the parameters is false for the
-- others, and SQLite tests such a constant once, before reading any row): by agent
-- (ix_agent_runs_agent_status_created), by tenant (ix_agent_runs_tenant_status_created),
-- or neither (ix_agent_runs_status_updated). Each branch repeats the whole selection.

-- name: purgeable_runs
-- The runs a purge with these filters deletes, oldest first (what `purge --dry-run` lists).
SELECT id, agent_name, tenant_id, status, updated_at FROM agent_runs
WHERE ?3 IS NOT NULL AND agent_name = ?3
  AND status IN ('success', 'error', 'cancelled', 'max_iterations')
  AND (?2 IS NULL OR status IN (SELECT value FROM json_each(?2)))
  AND (?3 IS NULL OR agent_name = ?3)
  AND (?4 IS NULL OR tenant_id = ?4)
  AND updated_at < ?1
UNION ALL
SELECT id, agent_name, tenant_id, status, updated_at FROM agent_runs
WHERE ?3 IS NULL AND ?4 IS NOT NULL AND tenant_id = ?4
  AND status IN ('success', 'error', 'cancelled', 'max_iterations')
  AND (?2 IS NULL OR status IN (SELECT value FROM json_each(?2)))
  AND (?3 IS NULL OR agent_name = ?3)
  AND (?4 IS NULL OR tenant_id = ?4)
  AND updated_at < ?1
UNION ALL
SELECT id, agent_name, tenant_id, status, updated_at FROM agent_runs
WHERE ?3 IS NULL AND ?4 IS NULL
  AND status IN ('success', 'error', 'cancelled', 'max_iterations')
  AND (?2 IS NULL OR status IN (SELECT value FROM json_each(?2)))
  AND (?3 IS NULL OR agent_name = ?3)
  AND (?4 IS NULL OR tenant_id = ?4)
  AND updated_at < ?1
ORDER BY updated_at, id;

-- name: purge_batch
-- Up to ?5 of those runs, in no particular order: each batch deletes what it found, so
-- the next one starts afresh (no offset to skip, no sort of every candidate).
SELECT id FROM agent_runs
WHERE ?3 IS NOT NULL AND agent_name = ?3
  AND status IN ('success', 'error', 'cancelled', 'max_iterations')
  AND (?2 IS NULL OR status IN (SELECT value FROM json_each(?2)))
  AND (?3 IS NULL OR agent_name = ?3)
  AND (?4 IS NULL OR tenant_id = ?4)
  AND updated_at < ?1
UNION ALL
SELECT id FROM agent_runs
WHERE ?3 IS NULL AND ?4 IS NOT NULL AND tenant_id = ?4
  AND status IN ('success', 'error', 'cancelled', 'max_iterations')
  AND (?2 IS NULL OR status IN (SELECT value FROM json_each(?2)))
  AND (?3 IS NULL OR agent_name = ?3)
  AND (?4 IS NULL OR tenant_id = ?4)
  AND updated_at < ?1
UNION ALL
SELECT id FROM agent_runs
WHERE ?3 IS NULL AND ?4 IS NULL
  AND status IN ('success', 'error', 'cancelled', 'max_iterations')
  AND (?2 IS NULL OR status IN (SELECT value FROM json_each(?2)))
  AND (?3 IS NULL OR agent_name = ?3)
  AND (?4 IS NULL OR tenant_id = ?4)
  AND updated_at < ?1
LIMIT ?5;

-- name: count_rows_of_runs
-- Rows per table belonging to the runs (a batch, or a dry run's chunk of its list) in JSON array ?1.
SELECT
    (SELECT count(*) FROM agent_runs WHERE id IN (SELECT value FROM json_each(?1))) AS agent_runs,
    (SELECT count(*) FROM react_traces WHERE agent_run_id IN (SELECT value FROM json_each(?1))) AS react_traces,
    (SELECT count(*) FROM tool_calls WHERE agent_run_id IN (SELECT value FROM json_each(?1))) AS tool_calls,
    (SELECT count(*) FROM token_usage WHERE agent_run_id IN (SELECT value FROM json_each(?1))) AS token_usage,
    (SELECT count(*) FROM llm_interactions WHERE agent_run_id IN (SELECT value FROM json_each(?1))) AS llm_interactions,
    (SELECT count(*) FROM run_events WHERE agent_run_id IN (SELECT value FROM json_each(?1))) AS run_events;

-- name: delete_finished_runs
-- Delete the runs in JSON array ?1 that are (still) finished; returns their ids.
DELETE FROM agent_runs
WHERE id IN (SELECT value FROM json_each(?1))
  AND status IN ('success', 'error', 'cancelled', 'max_iterations')
RETURNING id;
