-- Cooperative pause and the notes inbox (0.4.1): run control flags and run_inbox.
-- Placeholders are numbered (?1..?n) with the same numbering as the PostgreSQL file.
-- A tenant scope is two parameters: whether it applies, and the tenant (NULL: untenanted).

-- name: request_pause
-- Latch pause_requested on a running run only; the reason ?2 goes under meta key ?3 when
-- given, or replaces an older one already there (0.4.1's rule). One statement.
UPDATE agent_runs SET
    pause_requested = 1,
    meta = CASE
        WHEN ?2 IS NOT NULL OR json_type(meta, '$."' || ?3 || '"') IS NOT NULL
        THEN json_set(CASE WHEN json_type(meta) = 'object' THEN meta ELSE '{}' END,
                      '$."' || ?3 || '"', json_object('reason', ?2))
        ELSE meta END,
    updated_at = ?4
WHERE id = ?1 AND status = 'running'
RETURNING id;

-- name: try_pause_run
-- Pause by compare-and-set: only a running run without a pending cancel (a cancel wins);
-- clears pause_requested (any durable pause satisfies a request). With a usage total
-- (?13) the running totals too. Parameters as pause_run's.
UPDATE agent_runs SET
    total_input_tokens = CASE WHEN ?13 THEN ?7 ELSE total_input_tokens END,
    total_output_tokens = CASE WHEN ?13 THEN ?8 ELSE total_output_tokens END,
    total_cost_usd = CASE WHEN ?13 THEN ?9 ELSE total_cost_usd END,
    total_cache_read_tokens = CASE WHEN ?13 THEN ?10 ELSE total_cache_read_tokens END,
    total_cache_creation_tokens = CASE WHEN ?13 THEN ?11 ELSE total_cache_creation_tokens END,
    total_reasoning_tokens = CASE WHEN ?13 THEN ?12 ELSE total_reasoning_tokens END,
    status = ?2,
    pause_data = ?3,
    iteration_count = COALESCE(?4, iteration_count),
    pii_mapping = COALESCE(?5, pii_mapping),
    pause_requested = 0,
    updated_at = ?6
WHERE id = ?1 AND status = 'running' AND cancel_requested = 0
RETURNING id;

-- name: get_run_control
-- The cancel and pause flags and whether undelivered notes wait, in one read.
SELECT cancel_requested, pause_requested,
       EXISTS (SELECT 1 FROM run_inbox n
               WHERE n.run_id = agent_runs.id AND n.delivered_at IS NULL) AS has_pending_notes
FROM agent_runs WHERE id = ?1;

-- name: add_note
-- Insert note ?2 only while run ?1 exists, is not terminal and is in the tenant scope
-- (?6: scoped, ?7: tenant). SQLite's single writer orders it against a finalize.
-- No row back when nothing was inserted (run refused, or the note id taken).
INSERT INTO run_inbox (id, run_id, text, metadata, created_at)
SELECT ?2, id, ?3, ?4, ?5 FROM agent_runs
WHERE id = ?1
  AND status NOT IN ('success', 'error', 'cancelled', 'max_iterations')
  AND (NOT ?6 OR tenant_id IS ?7)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: note_by_id
-- A stored note, to tell a retried add_note from another note at the same id.
SELECT run_id, text, metadata FROM run_inbox WHERE id = ?1;

-- name: get_notes
-- A run's notes in delivery order; with a scope (?2, tenant ?3) only if the run is in it.
-- Columns by position: RunNote's fields, in order (as dendrux.read.records declares).
SELECT id, run_id, text, metadata, created_at, delivered_at, delivered_iteration
FROM run_inbox
WHERE run_id = ?1
  AND (NOT ?2 OR EXISTS (SELECT 1 FROM agent_runs r WHERE r.id = ?1 AND r.tenant_id IS ?3))
ORDER BY created_at, id;

-- name: get_undelivered_notes
-- get_notes, undelivered ones only (the partial index serves it).
-- Columns by position: RunNote's fields, in order (as dendrux.read.records declares).
SELECT id, run_id, text, metadata, created_at, delivered_at, delivered_iteration
FROM run_inbox
WHERE run_id = ?1 AND delivered_at IS NULL
  AND (NOT ?2 OR EXISTS (SELECT 1 FROM agent_runs r WHERE r.id = ?1 AND r.tenant_id IS ?3))
ORDER BY created_at, id;

-- name: mark_notes_delivered
-- Stamp the undelivered notes among the JSON array ?2 as delivered at iteration ?4.
UPDATE run_inbox SET delivered_at = ?3, delivered_iteration = ?4
WHERE run_id = ?1 AND id IN (SELECT value FROM json_each(?2)) AND delivered_at IS NULL
RETURNING id;

-- name: run_in_scope
-- 1 when run ?1 exists and belongs to exactly tenant ?2 (NULL: an untenanted run).
SELECT count(*) FROM agent_runs WHERE id = ?1 AND tenant_id IS ?2;
