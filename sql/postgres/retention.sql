-- Retention: deleting finished runs (their rows go by ON DELETE CASCADE), in
-- small batches so no statement holds locks for long.

-- name: purgeable_runs
-- Up to $3 (from offset $4) finished runs last updated before $1 (optionally only the statuses in $2).
SELECT id FROM agent_runs
WHERE status IN ('success', 'error', 'cancelled', 'max_iterations')
  AND ($2::text[] IS NULL OR status = ANY($2::text[]))
  AND updated_at < $1
ORDER BY updated_at, id
LIMIT $3 OFFSET $4;

-- name: count_rows_of_runs
-- Rows per table belonging to the runs in $1.
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
