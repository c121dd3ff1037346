-- Sweeps: runs nobody will finish. Each kind is a twin pair: the SELECT that finds the
-- candidates (what `sweep --dry-run` lists) and the compare-and-set UPDATE that sweeps one
-- of them, re-checking the same idleness predicate, so the dry run lists what the sweep sweeps.

-- name: stale_run_candidates
-- Running or pending runs with no progress since $1, and whether run.started was recorded.
-- Live runs are few: the planner reads them through a status index, the progress check a
-- filter (no index holds last_progress_at, which every hook stamps: migration 0005 made
-- those stamps HOT updates; tests/test_hot_updates.py checks the plan over 20,000 runs).
SELECT r.id, r.agent_name, r.tenant_id, r.status, r.last_progress_at, r.iteration_count,
       r.cancel_requested, COALESCE(r.last_progress_at, r.created_at) AS idle_since,
       EXISTS (SELECT 1 FROM run_events e
               WHERE e.agent_run_id = r.id AND e.event_type = 'run.started') AS started
FROM agent_runs r
WHERE r.status IN ('running', 'pending') AND COALESCE(r.last_progress_at, r.created_at) < $1
ORDER BY r.created_at, r.id;

-- name: sweep_stale_run
-- CAS: mark one stale run as error unless it moved or progressed meanwhile; one whose
-- cancellation was requested becomes cancelled instead (its error cleared, as 0.4.1 does).
-- Returns the status it was given.
UPDATE agent_runs SET
    status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'error' END,
    failure_reason = $3,
    error = CASE WHEN cancel_requested THEN NULL ELSE $4 END,
    cancel_requested = FALSE,
    pause_requested = FALSE,
    updated_at = $5
WHERE id = $1 AND status = $2 AND COALESCE(last_progress_at, created_at) < $6
RETURNING status;

-- name: abandoned_run_candidates
-- Waiting (or cooperatively paused) runs whose last state change is older than $1.
SELECT id, agent_name, tenant_id, status, last_progress_at, iteration_count,
       FALSE AS cancel_requested, updated_at AS idle_since
FROM agent_runs
WHERE status IN ('waiting_client_tool', 'waiting_human_input', 'waiting_approval', 'paused')
  AND updated_at < $1
ORDER BY created_at, id;

-- name: sweep_abandoned_run
-- CAS: mark one abandoned waiting run as error unless it moved meanwhile (its error
-- text left as it was, as 0.4.1 does). Returns the status it was given.
UPDATE agent_runs SET
    status = 'error', failure_reason = $3, cancel_requested = FALSE, pause_requested = FALSE,
    updated_at = $4
WHERE id = $1 AND status = $2 AND updated_at < $5
RETURNING status;
