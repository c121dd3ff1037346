-- Cooperative pause and the notes inbox (0.4.1): run control flags and run_inbox.
-- Placeholders ($1..$n) are numbered exactly like the SQLite file.
-- A tenant scope is two parameters: whether it applies, and the tenant (NULL: untenanted).

-- name: request_pause
-- Latch pause_requested on a running run only; the reason $2 goes under meta key $3 when
-- given, or replaces an older one already there (0.4.1's rule). One statement.
UPDATE agent_runs SET
    pause_requested = TRUE,
    meta = CASE
        WHEN $2::text IS NOT NULL OR COALESCE(meta ? $3::text, FALSE)
        THEN (CASE WHEN jsonb_typeof(meta) = 'object' THEN meta ELSE '{}'::jsonb END)
             || jsonb_build_object($3::text, jsonb_build_object('reason', $2::text))
        ELSE meta END,
    updated_at = $4
WHERE id = $1 AND status = 'running'
RETURNING id;

-- name: try_pause_run
-- Pause by compare-and-set: only a running run without a pending cancel (a cancel wins);
-- clears pause_requested (any durable pause satisfies a request). With a usage total
-- ($13) the running totals too. Parameters as pause_run's.
UPDATE agent_runs SET
    total_input_tokens = CASE WHEN $13::boolean THEN $7::bigint ELSE total_input_tokens END,
    total_output_tokens = CASE WHEN $13::boolean THEN $8::bigint ELSE total_output_tokens END,
    total_cost_usd = CASE WHEN $13::boolean THEN $9::double precision ELSE total_cost_usd END,
    total_cache_read_tokens = CASE WHEN $13::boolean THEN $10::bigint ELSE total_cache_read_tokens END,
    total_cache_creation_tokens = CASE WHEN $13::boolean THEN $11::bigint ELSE total_cache_creation_tokens END,
    total_reasoning_tokens = CASE WHEN $13::boolean THEN $12::bigint ELSE total_reasoning_tokens END,
    status = $2,
    pause_data = $3::jsonb,
    iteration_count = COALESCE($4::integer, iteration_count),
    pii_mapping = COALESCE($5::jsonb, pii_mapping),
    pause_requested = FALSE,
    updated_at = $6
WHERE id = $1 AND status = 'running' AND cancel_requested = FALSE
RETURNING id;

-- name: get_run_control
-- The cancel and pause flags and whether undelivered notes wait, in one read.
SELECT cancel_requested, pause_requested,
       EXISTS (SELECT 1 FROM run_inbox n
               WHERE n.run_id = agent_runs.id AND n.delivered_at IS NULL) AS has_pending_notes
FROM agent_runs WHERE id = $1;

-- name: add_note
-- Insert note $2 only while run $1 exists, is not terminal and is in the tenant scope
-- ($6: scoped, $7: tenant). FOR SHARE conflicts with a finalize's row lock: a finalize
-- waits for this insert, or this insert re-reads the status the finalize committed.
-- No row back when nothing was inserted (run refused, or the note id taken).
INSERT INTO run_inbox (id, run_id, text, metadata, created_at)
SELECT $2, r.id, $3, $4::jsonb, $5 FROM agent_runs r
WHERE r.id = $1
  AND r.status NOT IN ('success', 'error', 'cancelled', 'max_iterations')
  AND (NOT $6::boolean OR r.tenant_id IS NOT DISTINCT FROM $7::text)
FOR SHARE
ON CONFLICT DO NOTHING
RETURNING id;

-- name: note_by_id
-- A stored note, to tell a retried add_note from another note at the same id.
SELECT run_id, text, metadata FROM run_inbox WHERE id = $1;

-- name: get_notes
-- A run's notes in delivery order; with a scope ($2, tenant $3) only if the run is in it.
-- Columns by position: RunNote's fields, in order (as dendrux.read.records declares).
SELECT id, run_id, text, metadata, created_at, delivered_at, delivered_iteration
FROM run_inbox
WHERE run_id = $1
  AND (NOT $2::boolean OR EXISTS (
        SELECT 1 FROM agent_runs r WHERE r.id = $1 AND r.tenant_id IS NOT DISTINCT FROM $3::text))
ORDER BY created_at, id;

-- name: get_undelivered_notes
-- get_notes, undelivered ones only (the partial index serves it).
-- Columns by position: RunNote's fields, in order (as dendrux.read.records declares).
SELECT id, run_id, text, metadata, created_at, delivered_at, delivered_iteration
FROM run_inbox
WHERE run_id = $1 AND delivered_at IS NULL
  AND (NOT $2::boolean OR EXISTS (
        SELECT 1 FROM agent_runs r WHERE r.id = $1 AND r.tenant_id IS NOT DISTINCT FROM $3::text))
ORDER BY created_at, id;

-- name: mark_notes_delivered
-- Stamp the undelivered notes among the ids $2 as delivered at iteration $4.
UPDATE run_inbox SET delivered_at = $3, delivered_iteration = $4
WHERE run_id = $1 AND id = ANY($2::text[]) AND delivered_at IS NULL
RETURNING id;

-- name: run_in_scope
-- 1 when run $1 exists and belongs to exactly tenant $2 (NULL: an untenanted run).
SELECT count(*) FROM agent_runs WHERE id = $1 AND tenant_id IS NOT DISTINCT FROM $2::text;
