-- agent_runs: lifecycle writes (each compare-and-set is one statement) and reads.
-- Placeholders are numbered (?1..?n) with the same numbering as the PostgreSQL file.

-- name: insert_run
-- Create a run; returns no row when its id or idempotency key is already taken.
INSERT INTO agent_runs (
    id, tenant_id, agent_name, status, input_data, model, strategy, parent_run_id,
    delegation_level, retry_of_run_id, meta, idempotency_key, idempotency_fingerprint,
    last_progress_at, created_at, updated_at
) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, ?14)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: run_by_idempotency_key
-- The run holding an idempotency key, to answer a repeated create_run.
SELECT id, status, idempotency_fingerprint FROM agent_runs WHERE idempotency_key = ?1;

-- name: run_identity
-- Enough of a run to recognise our own earlier insert after a lost commit answer.
SELECT id, status, agent_name, created_at FROM agent_runs WHERE id = ?1;

-- name: get_run
-- One run's anchor row, without pause_data and pii_mapping.
-- Columns by position: RunDetail's fields first (as dendrux.read.records declares).
SELECT id, agent_name, status, created_at, updated_at,
       COALESCE(iteration_count, 0) AS iteration_count,
       COALESCE(total_input_tokens, 0) AS total_input_tokens,
       COALESCE(total_output_tokens, 0) AS total_output_tokens,
       COALESCE(total_cache_read_tokens, 0) AS total_cache_read_tokens,
       COALESCE(total_cache_creation_tokens, 0) AS total_cache_creation_tokens,
       CAST(total_cost_usd AS REAL) AS total_cost_usd, model, parent_run_id,
       COALESCE(delegation_level, 0) AS delegation_level, tenant_id,
       COALESCE(total_reasoning_tokens, 0) AS total_reasoning_tokens, meta, strategy,
       input_data, output_data, error, failure_reason, cancel_requested, pause_requested,
       retry_of_run_id, last_progress_at
FROM agent_runs WHERE id = ?1;

-- name: finalize_run
-- Move a run to a final status (CAS on ?14 when given); clears pause data and the cancel and
-- pause request flags; ?16, when given, is the failure reason.
-- ?3: an answer replaces output_data (as 0.4.1 does); a usage total alone replaces its key.
UPDATE agent_runs SET
    status = ?2,
    output_data = CASE WHEN ?3 IS NULL THEN output_data
                       WHEN json_type(?3, '$.answer') IS NOT NULL THEN ?3
                       ELSE json_set(COALESCE(output_data, '{}'), '$.usage', ?3 -> '$.usage') END,
    error = COALESCE(?4, error),
    iteration_count = COALESCE(?5, iteration_count),
    total_input_tokens = CASE WHEN ?15 THEN ?6 ELSE total_input_tokens END,
    total_output_tokens = CASE WHEN ?15 THEN ?7 ELSE total_output_tokens END,
    total_cost_usd = CASE WHEN ?15 THEN ?8 ELSE total_cost_usd END,
    total_cache_read_tokens = CASE WHEN ?15 THEN ?9 ELSE total_cache_read_tokens END,
    total_cache_creation_tokens = CASE WHEN ?15 THEN ?10 ELSE total_cache_creation_tokens END,
    total_reasoning_tokens = CASE WHEN ?15 THEN ?11 ELSE total_reasoning_tokens END,
    pii_mapping = COALESCE(?12, pii_mapping),
    failure_reason = COALESCE(?16, failure_reason),
    pause_data = NULL,
    cancel_requested = 0,
    pause_requested = 0,
    updated_at = ?13
WHERE id = ?1 AND (?14 IS NULL OR status = ?14)
RETURNING id;

-- name: finalize_run_if_status_in
-- finalize_run, but the CAS accepts any current status in the JSON array ?14.
UPDATE agent_runs SET
    status = ?2,
    output_data = CASE WHEN ?3 IS NULL THEN output_data
                       WHEN json_type(?3, '$.answer') IS NOT NULL THEN ?3
                       ELSE json_set(COALESCE(output_data, '{}'), '$.usage', ?3 -> '$.usage') END,
    error = COALESCE(?4, error),
    iteration_count = COALESCE(?5, iteration_count),
    total_input_tokens = CASE WHEN ?15 THEN ?6 ELSE total_input_tokens END,
    total_output_tokens = CASE WHEN ?15 THEN ?7 ELSE total_output_tokens END,
    total_cost_usd = CASE WHEN ?15 THEN ?8 ELSE total_cost_usd END,
    total_cache_read_tokens = CASE WHEN ?15 THEN ?9 ELSE total_cache_read_tokens END,
    total_cache_creation_tokens = CASE WHEN ?15 THEN ?10 ELSE total_cache_creation_tokens END,
    total_reasoning_tokens = CASE WHEN ?15 THEN ?11 ELSE total_reasoning_tokens END,
    pii_mapping = COALESCE(?12, pii_mapping),
    failure_reason = COALESCE(?16, failure_reason),
    pause_data = NULL,
    cancel_requested = 0,
    pause_requested = 0,
    updated_at = ?13
WHERE id = ?1 AND status IN (SELECT value FROM json_each(?14))
RETURNING id;

-- name: pause_run
-- Park a non-terminal run in a waiting status with the state needed to resume it; with a usage
-- total (?13) the run's running totals too, so a parked run does not read as zero spend.
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
    updated_at = ?6
WHERE id = ?1 AND status NOT IN ('success', 'error', 'cancelled', 'max_iterations')
RETURNING id;

-- name: get_pause_state
-- The resume state of a paused run.
SELECT pause_data FROM agent_runs WHERE id = ?1;

-- name: get_pii_mapping
-- Placeholder -> real value mapping of a run.
SELECT pii_mapping FROM agent_runs WHERE id = ?1;

-- name: claim_paused_run
-- First claimer of a paused run wins: waiting status -> running; a stale pause request is
-- cleared with it (0.4.1), so a resumed run does not pause again at once.
UPDATE agent_runs SET status = 'running', pause_requested = 0, updated_at = ?3,
    last_progress_at = ?3
WHERE id = ?1 AND status = ?2
RETURNING id;

-- name: submit_and_claim
-- Shallow-merge submitted data into pause_data and claim the run, in one statement;
-- a run without pause_data has nothing to resume from and is refused.
UPDATE agent_runs SET
    status = 'running',
    pause_requested = 0,
    updated_at = ?4,
    last_progress_at = ?4,
    pause_data = (
        -- "->" returns each value's JSON text as written, so numbers keep every digit.
        SELECT json_group_object(merged.key, json(merged.value))
        FROM (
            SELECT old.key AS key, COALESCE(agent_runs.pause_data, '{}') -> old.fullkey AS value
            FROM json_each(COALESCE(agent_runs.pause_data, '{}')) AS old
            WHERE old.key NOT IN (SELECT new.key FROM json_each(?3) AS new)
            UNION ALL
            SELECT new.key, ?3 -> new.fullkey FROM json_each(?3) AS new
        ) AS merged
    )
WHERE id = ?1 AND status = ?2
  AND pause_data IS NOT NULL AND pause_data <> 'null'
RETURNING id;

-- name: request_cancel
-- Raise the cooperative cancel flag; refuses terminal runs in the same statement.
UPDATE agent_runs SET cancel_requested = 1, updated_at = ?2
WHERE id = ?1 AND status NOT IN ('success', 'error', 'cancelled', 'max_iterations')
RETURNING id;

-- name: is_cancel_requested
-- The cooperative cancel flag of a run.
SELECT cancel_requested FROM agent_runs WHERE id = ?1;

-- name: touch_progress
-- Liveness hint for sweepers.
UPDATE agent_runs SET last_progress_at = ?2 WHERE id = ?1;

-- name: list_runs
-- Newest first, ties by id; every filter is optional (NULL = not filtered).
SELECT id, agent_name, status, created_at, updated_at,
       COALESCE(iteration_count, 0) AS iteration_count,
       COALESCE(total_input_tokens, 0) AS total_input_tokens,
       COALESCE(total_output_tokens, 0) AS total_output_tokens,
       COALESCE(total_cache_read_tokens, 0) AS total_cache_read_tokens,
       COALESCE(total_cache_creation_tokens, 0) AS total_cache_creation_tokens,
       CAST(total_cost_usd AS REAL) AS total_cost_usd, model, parent_run_id,
       COALESCE(delegation_level, 0) AS delegation_level, tenant_id,
       COALESCE(total_reasoning_tokens, 0) AS total_reasoning_tokens, meta, strategy,
       input_data, output_data, error, failure_reason, cancel_requested, pause_requested,
       retry_of_run_id, last_progress_at
FROM agent_runs
WHERE (?1 IS NULL OR status IN (SELECT value FROM json_each(?1)))
  AND (?2 IS NULL OR agent_name = ?2)
  AND (?3 IS NULL OR parent_run_id = ?3)
  AND (?4 IS NULL OR tenant_id = ?4)
  AND (?5 IS NULL OR created_at >= ?5)
  AND (?6 IS NULL OR created_at < ?6)
  AND (?7 IS NULL OR NOT EXISTS (
        SELECT 1 FROM json_each(?7) AS f
        WHERE NOT COALESCE(CASE f.type
            WHEN 'text' THEN json_type(agent_runs.meta, '$."' || f.key || '"') = 'text'
                AND json_extract(agent_runs.meta, '$."' || f.key || '"') = f.value
            WHEN 'integer' THEN json_type(agent_runs.meta, '$."' || f.key || '"') IN ('integer', 'real')
                AND json_extract(agent_runs.meta, '$."' || f.key || '"') = f.value
            WHEN 'real' THEN json_type(agent_runs.meta, '$."' || f.key || '"') IN ('integer', 'real')
                AND json_extract(agent_runs.meta, '$."' || f.key || '"') = f.value
            ELSE json_type(agent_runs.meta, '$."' || f.key || '"') = f.type
        END, 0)))
ORDER BY created_at DESC, id DESC
LIMIT ?8 OFFSET ?9;

-- name: count_runs
-- How many runs list_runs would page through with the same filters.
SELECT count(*)
FROM agent_runs
WHERE (?1 IS NULL OR status IN (SELECT value FROM json_each(?1)))
  AND (?2 IS NULL OR agent_name = ?2)
  AND (?3 IS NULL OR parent_run_id = ?3)
  AND (?4 IS NULL OR tenant_id = ?4)
  AND (?5 IS NULL OR created_at >= ?5)
  AND (?6 IS NULL OR created_at < ?6)
  AND (?7 IS NULL OR NOT EXISTS (
        SELECT 1 FROM json_each(?7) AS f
        WHERE NOT COALESCE(CASE f.type
            WHEN 'text' THEN json_type(agent_runs.meta, '$."' || f.key || '"') = 'text'
                AND json_extract(agent_runs.meta, '$."' || f.key || '"') = f.value
            WHEN 'integer' THEN json_type(agent_runs.meta, '$."' || f.key || '"') IN ('integer', 'real')
                AND json_extract(agent_runs.meta, '$."' || f.key || '"') = f.value
            WHEN 'real' THEN json_type(agent_runs.meta, '$."' || f.key || '"') IN ('integer', 'real')
                AND json_extract(agent_runs.meta, '$."' || f.key || '"') = f.value
            ELSE json_type(agent_runs.meta, '$."' || f.key || '"') = f.type
        END, 0)));

-- name: delegation_node
-- A run with the fields its delegation view needs.
SELECT id, parent_run_id, agent_name, status, delegation_level
FROM agent_runs WHERE id = ?1;

-- name: delegation_ancestry
-- Walk parent links upward from run ?1 (nearest parent first), bounded by ?2 steps.
WITH RECURSIVE up (id, parent_run_id, agent_name, status, delegation_level, depth) AS (
    SELECT p.id, p.parent_run_id, p.agent_name, p.status, p.delegation_level, 1
    FROM agent_runs c JOIN agent_runs p ON p.id = c.parent_run_id
    WHERE c.id = ?1
    UNION ALL
    SELECT p.id, p.parent_run_id, p.agent_name, p.status, p.delegation_level, up.depth + 1
    FROM up JOIN agent_runs p ON p.id = up.parent_run_id
    WHERE up.depth < ?2
)
SELECT id, parent_run_id, agent_name, status, delegation_level, depth FROM up ORDER BY depth;

-- name: delegation_children
-- Direct children of run ?1, oldest first.
SELECT id, agent_name, status, delegation_level
FROM agent_runs WHERE parent_run_id = ?1
ORDER BY created_at, id;

-- name: delegation_subtree_totals
-- Totals over run ?1 and its descendants (depth bounded by ?2), one row per status.
WITH RECURSIVE down (id, depth) AS (
    SELECT id, 0 FROM agent_runs WHERE id = ?1
    UNION
    SELECT r.id, down.depth + 1
    FROM down JOIN agent_runs r ON r.parent_run_id = down.id
    WHERE down.depth < ?2
),
nodes AS (SELECT id, min(depth) AS depth FROM down GROUP BY id)
SELECT r.status,
       count(*) AS runs,
       sum(CASE WHEN n.depth = 1 THEN 1 ELSE 0 END) AS direct_children,
       max(n.depth) AS max_depth,
       sum(r.total_input_tokens) AS input_tokens,
       sum(r.total_output_tokens) AS output_tokens,
       sum(r.total_cost_usd) AS cost_usd,
       sum(CASE WHEN r.total_cost_usd IS NULL THEN 1 ELSE 0 END) AS unknown_costs
FROM nodes n JOIN agent_runs r ON r.id = n.id
GROUP BY r.status
ORDER BY r.status;

-- name: list_run_summaries
-- list_runs for readers: the summary columns only, newest first, ties by id.
-- Columns by position: RunSummary's fields, in order (as dendrux.read.records declares).
SELECT id, agent_name, status, created_at, updated_at,
       COALESCE(iteration_count, 0) AS iteration_count,
       COALESCE(total_input_tokens, 0) AS total_input_tokens,
       COALESCE(total_output_tokens, 0) AS total_output_tokens,
       COALESCE(total_cache_read_tokens, 0) AS total_cache_read_tokens,
       COALESCE(total_cache_creation_tokens, 0) AS total_cache_creation_tokens,
       CAST(total_cost_usd AS REAL) AS total_cost_usd, model, parent_run_id,
       COALESCE(delegation_level, 0) AS delegation_level, tenant_id,
       COALESCE(total_reasoning_tokens, 0) AS total_reasoning_tokens, meta
FROM agent_runs
WHERE (?1 IS NULL OR status IN (SELECT value FROM json_each(?1)))
  AND (?2 IS NULL OR agent_name = ?2)
  AND (?3 IS NULL OR parent_run_id = ?3)
  AND (?4 IS NULL OR tenant_id = ?4)
  AND (?5 IS NULL OR created_at >= ?5)
  AND (?6 IS NULL OR created_at < ?6)
  AND (?7 IS NULL OR NOT EXISTS (
        SELECT 1 FROM json_each(?7) AS f
        WHERE NOT COALESCE(CASE f.type
            WHEN 'text' THEN json_type(agent_runs.meta, '$."' || f.key || '"') = 'text'
                AND json_extract(agent_runs.meta, '$."' || f.key || '"') = f.value
            WHEN 'integer' THEN json_type(agent_runs.meta, '$."' || f.key || '"') IN ('integer', 'real')
                AND json_extract(agent_runs.meta, '$."' || f.key || '"') = f.value
            WHEN 'real' THEN json_type(agent_runs.meta, '$."' || f.key || '"') IN ('integer', 'real')
                AND json_extract(agent_runs.meta, '$."' || f.key || '"') = f.value
            ELSE json_type(agent_runs.meta, '$."' || f.key || '"') = f.type
        END, 0)))
ORDER BY created_at DESC, id DESC
LIMIT ?8 OFFSET ?9;

-- name: run_status
-- A run's status, or no row when it does not exist (or, when ?2 is given, is another tenant's).
SELECT status FROM agent_runs WHERE id = ?1 AND (?2 IS NULL OR tenant_id = ?2);

-- name: run_exists
-- 1 when the run exists (and, when ?2 is given, belongs to that tenant).
SELECT count(*) FROM agent_runs WHERE id = ?1 AND (?2 IS NULL OR tenant_id = ?2);

-- name: list_retries
-- The runs that retried ?1 (retry_of_run_id, indexed by ix_agent_runs_retry_of), oldest
-- first; ?2, when given, keeps that tenant's only. Columns: RunSummary's fields, in order.
SELECT id, agent_name, status, created_at, updated_at,
       COALESCE(iteration_count, 0) AS iteration_count,
       COALESCE(total_input_tokens, 0) AS total_input_tokens,
       COALESCE(total_output_tokens, 0) AS total_output_tokens,
       COALESCE(total_cache_read_tokens, 0) AS total_cache_read_tokens,
       COALESCE(total_cache_creation_tokens, 0) AS total_cache_creation_tokens,
       CAST(total_cost_usd AS REAL) AS total_cost_usd, model, parent_run_id,
       COALESCE(delegation_level, 0) AS delegation_level, tenant_id,
       COALESCE(total_reasoning_tokens, 0) AS total_reasoning_tokens, meta
FROM agent_runs
WHERE retry_of_run_id = ?1 AND (?2 IS NULL OR tenant_id = ?2)
ORDER BY created_at, id
LIMIT ?3;

-- The *_by_meta twins of list_runs / list_run_summaries / count_runs, for a given
-- metadata filter ?7 (a JSON object): the index table agent_run_meta (migration 0002)
-- finds the matching runs first, so a selective filter reads a few index
-- entries instead of every run's meta. (Upstream-schema databases have no such
-- table: their metadata filters run the json_each form of the base queries.)

-- name: list_runs_by_meta
-- list_runs with a metadata filter, served by the metadata index.
SELECT id, agent_name, status, created_at, updated_at,
       COALESCE(iteration_count, 0) AS iteration_count,
       COALESCE(total_input_tokens, 0) AS total_input_tokens,
       COALESCE(total_output_tokens, 0) AS total_output_tokens,
       COALESCE(total_cache_read_tokens, 0) AS total_cache_read_tokens,
       COALESCE(total_cache_creation_tokens, 0) AS total_cache_creation_tokens,
       CAST(total_cost_usd AS REAL) AS total_cost_usd, model, parent_run_id,
       COALESCE(delegation_level, 0) AS delegation_level, tenant_id,
       COALESCE(total_reasoning_tokens, 0) AS total_reasoning_tokens, meta, strategy,
       input_data, output_data, error, failure_reason, cancel_requested, pause_requested,
       retry_of_run_id, last_progress_at
FROM (
    -- Runs holding every (key, value) pair of the filter ?7, found in the index.
    SELECT agent_run_meta.agent_run_id AS run_id
    FROM json_each(?7) AS f
    JOIN agent_run_meta
      ON agent_run_meta.key = f.key
     AND agent_run_meta.kind = CASE f.type WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number'
                               ELSE f.type END
     AND agent_run_meta.value IS f.atom
    GROUP BY agent_run_meta.agent_run_id
    HAVING count(*) = (SELECT count(*) FROM json_each(?7))
) AS hit
CROSS JOIN agent_runs ON agent_runs.id = hit.run_id  -- CROSS JOIN: the hits drive the loop
WHERE (?1 IS NULL OR status IN (SELECT value FROM json_each(?1)))
  AND (?2 IS NULL OR agent_name = ?2)
  AND (?3 IS NULL OR parent_run_id = ?3)
  AND (?4 IS NULL OR tenant_id = ?4)
  AND (?5 IS NULL OR created_at >= ?5)
  AND (?6 IS NULL OR created_at < ?6)
ORDER BY created_at DESC, id DESC
LIMIT ?8 OFFSET ?9;

-- name: list_run_summaries_by_meta
-- list_run_summaries with a metadata filter, served by the metadata index.
-- Columns by position: RunSummary's fields, in order (as dendrux.read.records declares).
SELECT id, agent_name, status, created_at, updated_at,
       COALESCE(iteration_count, 0) AS iteration_count,
       COALESCE(total_input_tokens, 0) AS total_input_tokens,
       COALESCE(total_output_tokens, 0) AS total_output_tokens,
       COALESCE(total_cache_read_tokens, 0) AS total_cache_read_tokens,
       COALESCE(total_cache_creation_tokens, 0) AS total_cache_creation_tokens,
       CAST(total_cost_usd AS REAL) AS total_cost_usd, model, parent_run_id,
       COALESCE(delegation_level, 0) AS delegation_level, tenant_id,
       COALESCE(total_reasoning_tokens, 0) AS total_reasoning_tokens, meta
FROM (
    -- Runs holding every (key, value) pair of the filter ?7, found in the index.
    SELECT agent_run_meta.agent_run_id AS run_id
    FROM json_each(?7) AS f
    JOIN agent_run_meta
      ON agent_run_meta.key = f.key
     AND agent_run_meta.kind = CASE f.type WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number'
                               ELSE f.type END
     AND agent_run_meta.value IS f.atom
    GROUP BY agent_run_meta.agent_run_id
    HAVING count(*) = (SELECT count(*) FROM json_each(?7))
) AS hit
CROSS JOIN agent_runs ON agent_runs.id = hit.run_id  -- CROSS JOIN: the hits drive the loop
WHERE (?1 IS NULL OR status IN (SELECT value FROM json_each(?1)))
  AND (?2 IS NULL OR agent_name = ?2)
  AND (?3 IS NULL OR parent_run_id = ?3)
  AND (?4 IS NULL OR tenant_id = ?4)
  AND (?5 IS NULL OR created_at >= ?5)
  AND (?6 IS NULL OR created_at < ?6)
ORDER BY created_at DESC, id DESC
LIMIT ?8 OFFSET ?9;

-- name: count_runs_by_meta
-- count_runs with a metadata filter, served by the metadata index.
SELECT count(*)
FROM (
    -- Runs holding every (key, value) pair of the filter ?7, found in the index.
    SELECT agent_run_meta.agent_run_id AS run_id
    FROM json_each(?7) AS f
    JOIN agent_run_meta
      ON agent_run_meta.key = f.key
     AND agent_run_meta.kind = CASE f.type WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number'
                               ELSE f.type END
     AND agent_run_meta.value IS f.atom
    GROUP BY agent_run_meta.agent_run_id
    HAVING count(*) = (SELECT count(*) FROM json_each(?7))
) AS hit
CROSS JOIN agent_runs ON agent_runs.id = hit.run_id  -- CROSS JOIN: the hits drive the loop
WHERE (?1 IS NULL OR status IN (SELECT value FROM json_each(?1)))
  AND (?2 IS NULL OR agent_name = ?2)
  AND (?3 IS NULL OR parent_run_id = ?3)
  AND (?4 IS NULL OR tenant_id = ?4)
  AND (?5 IS NULL OR created_at >= ?5)
  AND (?6 IS NULL OR created_at < ?6);

-- The *_by_meta_one twins, for a filter ?7 of exactly one key (the common case: a
-- thread, a user): the same rows as the *_by_meta queries, without grouping the
-- index's hits per run (a run has at most one index row per key) and, for the
-- listings, reading in full only the page's runs. The read side picks them by the
-- filter's number of keys; PostgreSQL needs no twin (meta @> serves any filter).

-- name: list_runs_by_meta_one
-- list_runs_by_meta for a one-key filter.
SELECT id, agent_name, status, created_at, updated_at,
       COALESCE(iteration_count, 0) AS iteration_count,
       COALESCE(total_input_tokens, 0) AS total_input_tokens,
       COALESCE(total_output_tokens, 0) AS total_output_tokens,
       COALESCE(total_cache_read_tokens, 0) AS total_cache_read_tokens,
       COALESCE(total_cache_creation_tokens, 0) AS total_cache_creation_tokens,
       CAST(total_cost_usd AS REAL) AS total_cost_usd, model, parent_run_id,
       COALESCE(delegation_level, 0) AS delegation_level, tenant_id,
       COALESCE(total_reasoning_tokens, 0) AS total_reasoning_tokens, meta, strategy,
       input_data, output_data, error, failure_reason, cancel_requested, pause_requested,
       retry_of_run_id, last_progress_at
FROM (
    -- The page's runs, sorted by (created_at, id) alone: only the page's rows are
    -- read in full, not every hit's.
    -- ix_agent_run_meta_page yields the filter's hits newest first (ties by id DESC),
    -- the page's order: the walk stops after ?8 + ?9 matching runs, no sort. The
    -- filter's (key, kind, value) are scalar subqueries, constants for the whole
    -- statement, so the planner knows one index range is walked (a join to
    -- json_each(?7) would make it sort every hit).
    SELECT agent_runs.rowid AS rid, agent_run_meta.created_at AS c,
           agent_run_meta.agent_run_id AS i
    FROM agent_run_meta
    CROSS JOIN agent_runs ON agent_runs.id = agent_run_meta.agent_run_id
    WHERE agent_run_meta.key = (SELECT key FROM json_each(?7))
      AND agent_run_meta.kind = (SELECT CASE type WHEN 'integer' THEN 'number'
                                                  WHEN 'real' THEN 'number'
                                                  ELSE type END FROM json_each(?7))
      AND agent_run_meta.value IS (SELECT atom FROM json_each(?7))
      AND (?1 IS NULL OR agent_runs.status IN (SELECT value FROM json_each(?1)))
      AND (?2 IS NULL OR agent_runs.agent_name = ?2)
      AND (?3 IS NULL OR agent_runs.parent_run_id = ?3)
      AND (?4 IS NULL OR agent_runs.tenant_id = ?4)
      AND (?5 IS NULL OR agent_run_meta.created_at >= ?5)
      AND (?6 IS NULL OR agent_run_meta.created_at < ?6)
    ORDER BY agent_run_meta.created_at DESC, agent_run_meta.agent_run_id DESC
    LIMIT ?8 OFFSET ?9
) AS page
CROSS JOIN agent_runs ON agent_runs.rowid = page.rid
ORDER BY page.c DESC, page.i DESC;

-- name: list_run_summaries_by_meta_one
-- list_run_summaries_by_meta for a one-key filter.
-- Columns by position: RunSummary's fields, in order (as dendrux.read.records declares).
SELECT id, agent_name, status, created_at, updated_at,
       COALESCE(iteration_count, 0) AS iteration_count,
       COALESCE(total_input_tokens, 0) AS total_input_tokens,
       COALESCE(total_output_tokens, 0) AS total_output_tokens,
       COALESCE(total_cache_read_tokens, 0) AS total_cache_read_tokens,
       COALESCE(total_cache_creation_tokens, 0) AS total_cache_creation_tokens,
       CAST(total_cost_usd AS REAL) AS total_cost_usd, model, parent_run_id,
       COALESCE(delegation_level, 0) AS delegation_level, tenant_id,
       COALESCE(total_reasoning_tokens, 0) AS total_reasoning_tokens, meta
FROM (
    -- The page's runs, sorted by (created_at, id) alone: only the page's rows are
    -- read in full, not every hit's.
    -- ix_agent_run_meta_page yields the filter's hits newest first (ties by id DESC),
    -- the page's order: the walk stops after ?8 + ?9 matching runs, no sort. The
    -- filter's (key, kind, value) are scalar subqueries, constants for the whole
    -- statement, so the planner knows one index range is walked (a join to
    -- json_each(?7) would make it sort every hit).
    SELECT agent_runs.rowid AS rid, agent_run_meta.created_at AS c,
           agent_run_meta.agent_run_id AS i
    FROM agent_run_meta
    CROSS JOIN agent_runs ON agent_runs.id = agent_run_meta.agent_run_id
    WHERE agent_run_meta.key = (SELECT key FROM json_each(?7))
      AND agent_run_meta.kind = (SELECT CASE type WHEN 'integer' THEN 'number'
                                                  WHEN 'real' THEN 'number'
                                                  ELSE type END FROM json_each(?7))
      AND agent_run_meta.value IS (SELECT atom FROM json_each(?7))
      AND (?1 IS NULL OR agent_runs.status IN (SELECT value FROM json_each(?1)))
      AND (?2 IS NULL OR agent_runs.agent_name = ?2)
      AND (?3 IS NULL OR agent_runs.parent_run_id = ?3)
      AND (?4 IS NULL OR agent_runs.tenant_id = ?4)
      AND (?5 IS NULL OR agent_run_meta.created_at >= ?5)
      AND (?6 IS NULL OR agent_run_meta.created_at < ?6)
    ORDER BY agent_run_meta.created_at DESC, agent_run_meta.agent_run_id DESC
    LIMIT ?8 OFFSET ?9
) AS page
CROSS JOIN agent_runs ON agent_runs.rowid = page.rid
ORDER BY page.c DESC, page.i DESC;

-- name: count_runs_by_meta_one
-- count_runs_by_meta for a one-key filter.
SELECT count(*)
FROM json_each(?7) AS f  -- one row: the filter's only (key, value) pair
CROSS JOIN agent_run_meta  -- CROSS JOIN: the filter drives, then the index's hits
   ON agent_run_meta.key = f.key
  AND agent_run_meta.kind = CASE f.type WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number'
                            ELSE f.type END
  AND agent_run_meta.value IS f.atom
CROSS JOIN agent_runs ON agent_runs.id = agent_run_meta.agent_run_id
WHERE (?1 IS NULL OR agent_runs.status IN (SELECT value FROM json_each(?1)))
  AND (?2 IS NULL OR agent_runs.agent_name = ?2)
  AND (?3 IS NULL OR agent_runs.parent_run_id = ?3)
  AND (?4 IS NULL OR agent_runs.tenant_id = ?4)
  AND (?5 IS NULL OR agent_runs.created_at >= ?5)
  AND (?6 IS NULL OR agent_runs.created_at < ?6);

-- Capped counts, for a runs list over a large store (the dashboard): min(count, ?8),
-- never reading past ?8 matching runs. SQLite plans a statement once, before it knows
-- which filters are NULL, so an "?n IS NULL OR col = ?n" filter can never pick an index:
-- the pick below is one branch per indexed filter, guarded by which filters are given
-- (a guard that does not depend on a row is tested once, so the other branches read
-- nothing); the chosen branch walks its index, every filter is applied to what it
-- yields, and the LIMIT stops the walk.
