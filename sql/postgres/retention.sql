-- Retention: deleting finished runs (their rows go by ON DELETE CASCADE), in
-- small batches so no statement holds locks for long. The selection is written out
-- once per query below and must stay the same in each: finished runs last updated before
-- $1, optionally only the statuses in $2, the agent $3 and the tenant $4 (NULL: any).
-- It is served by ix_agent_runs_status_updated, or the agent/tenant status indexes.

-- name: purgeable_runs
-- The runs a purge with these filters deletes, oldest first (what `purge --dry-run` lists).
SELECT id, agent_name, tenant_id, status, updated_at FROM agent_runs
WHERE status IN ('success', 'error', 'cancelled', 'max_iterations')
  AND ($2::text[] IS NULL OR status = ANY($2::text[]))
  AND ($3::text IS NULL OR agent_name = $3::text)
  AND ($4::text IS NULL OR tenant_id = $4::text)
  AND updated_at < $1
ORDER BY updated_at, id;

-- name: purge_batch
-- Up to $5 of those runs, in no particular order: each batch deletes what it found, so
-- the next one starts afresh (no offset to skip, no sort of every candidate).
SELECT id FROM agent_runs
WHERE status IN ('success', 'error', 'cancelled', 'max_iterations')
  AND ($2::text[] IS NULL OR status = ANY($2::text[]))
  AND ($3::text IS NULL OR agent_name = $3::text)
  AND ($4::text IS NULL OR tenant_id = $4::text)
  AND updated_at < $1
LIMIT $5;

-- name: count_rows_of_runs
-- Rows per table belonging to the runs (a batch, or a dry run's chunk of its list) in $1.
SELECT
    (SELECT count(*) FROM agent_runs WHERE id = ANY($1::text[])) AS agent_runs,
    (SELECT count(*) FROM react_traces WHERE agent_run_id = ANY($1::text[])) AS react_traces,
    (SELECT count(*) FROM tool_calls WHERE agent_run_id = ANY($1::text[])) AS tool_calls,
    (SELECT count(*) FROM token_usage WHERE agent_run_id = ANY($1::text[])) AS token_usage,
    (SELECT count(*) FROM llm_interactions WHERE agent_run_id = ANY($1::text[])) AS llm_interactions,
    (SELECT count(*) FROM run_events WHERE agent_run_id = ANY($1::text[])) AS run_events;

-- name: delete_finished_runs
-- Delete the runs in $1 that are (still) finished; returns their ids.
DELETE FROM agent_runs
WHERE id = ANY($1::text[])
  AND status IN ('success', 'error', 'cancelled', 'max_iterations')
RETURNING id;
