-- agent_runs: lifecycle writes (each compare-and-set is one statement) and reads.
-- Placeholders ($1..$n) are numbered exactly like the SQLite file.

-- name: insert_run
-- Create a run; returns no row when its id or idempotency key is already taken.
INSERT INTO agent_runs (
    id, tenant_id, agent_name, status, input_data, model, strategy, parent_run_id,
    delegation_level, retry_of_run_id, meta, idempotency_key, idempotency_fingerprint,
    last_progress_at, created_at, updated_at
) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14, $14, $14)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: run_by_idempotency_key
-- The run holding an idempotency key, to answer a repeated create_run.
SELECT id, status, idempotency_fingerprint FROM agent_runs WHERE idempotency_key = $1;

-- name: run_identity
-- Enough of a run to recognise our own earlier insert after a lost commit answer.
SELECT id, status, agent_name, created_at FROM agent_runs WHERE id = $1;

-- name: get_run
-- One run's anchor row, without pause_data and pii_mapping.
-- Columns by position: RunDetail's fields first (as dendrux.read.records declares).
SELECT id, agent_name, status, created_at, updated_at,
       COALESCE(iteration_count, 0) AS iteration_count,
       COALESCE(total_input_tokens, 0) AS total_input_tokens,
       COALESCE(total_output_tokens, 0) AS total_output_tokens,
       COALESCE(total_cache_read_tokens, 0) AS total_cache_read_tokens,
       COALESCE(total_cache_creation_tokens, 0) AS total_cache_creation_tokens,
       total_cost_usd::float8 AS total_cost_usd, model, parent_run_id,
       COALESCE(delegation_level, 0) AS delegation_level, tenant_id,
       COALESCE(total_reasoning_tokens, 0) AS total_reasoning_tokens, meta, strategy,
       input_data, output_data, error, failure_reason, cancel_requested, pause_requested,
       retry_of_run_id, last_progress_at
FROM agent_runs WHERE id = $1;

-- name: finalize_run
-- Move a run to a final status (CAS on $14 when given); clears pause data and the cancel and
-- pause request flags; $16, when given, is the failure reason.
-- $3: an answer replaces output_data (as 0.4.1 does); a usage total alone replaces its key.
UPDATE agent_runs SET
    status = $2,
    output_data = CASE WHEN $3::jsonb IS NULL THEN output_data
                       WHEN ($3::jsonb -> 'answer') IS NOT NULL THEN $3::jsonb
                       ELSE COALESCE(output_data, '{}'::jsonb) || $3::jsonb END,
    error = COALESCE($4::text, error),
    iteration_count = COALESCE($5::integer, iteration_count),
    total_input_tokens = CASE WHEN $15::boolean THEN $6::bigint ELSE total_input_tokens END,
    total_output_tokens = CASE WHEN $15::boolean THEN $7::bigint ELSE total_output_tokens END,
    total_cost_usd = CASE WHEN $15::boolean THEN $8::double precision ELSE total_cost_usd END,
    total_cache_read_tokens = CASE WHEN $15::boolean THEN $9::bigint ELSE total_cache_read_tokens END,
    total_cache_creation_tokens = CASE WHEN $15::boolean THEN $10::bigint ELSE total_cache_creation_tokens END,
    total_reasoning_tokens = CASE WHEN $15::boolean THEN $11::bigint ELSE total_reasoning_tokens END,
    pii_mapping = COALESCE($12::jsonb, pii_mapping),
    failure_reason = COALESCE($16::text, failure_reason),
    pause_data = NULL,
    cancel_requested = FALSE,
    pause_requested = FALSE,
    updated_at = $13
WHERE id = $1 AND ($14::text IS NULL OR status = $14::text)
RETURNING id;

-- name: finalize_run_if_status_in
-- finalize_run, but the CAS accepts any current status in the array $14.
UPDATE agent_runs SET
    status = $2,
    output_data = CASE WHEN $3::jsonb IS NULL THEN output_data
                       WHEN ($3::jsonb -> 'answer') IS NOT NULL THEN $3::jsonb
                       ELSE COALESCE(output_data, '{}'::jsonb) || $3::jsonb END,
    error = COALESCE($4::text, error),
    iteration_count = COALESCE($5::integer, iteration_count),
    total_input_tokens = CASE WHEN $15::boolean THEN $6::bigint ELSE total_input_tokens END,
    total_output_tokens = CASE WHEN $15::boolean THEN $7::bigint ELSE total_output_tokens END,
    total_cost_usd = CASE WHEN $15::boolean THEN $8::double precision ELSE total_cost_usd END,
    total_cache_read_tokens = CASE WHEN $15::boolean THEN $9::bigint ELSE total_cache_read_tokens END,
    total_cache_creation_tokens = CASE WHEN $15::boolean THEN $10::bigint ELSE total_cache_creation_tokens END,
    total_reasoning_tokens = CASE WHEN $15::boolean THEN $11::bigint ELSE total_reasoning_tokens END,
    pii_mapping = COALESCE($12::jsonb, pii_mapping),
    failure_reason = COALESCE($16::text, failure_reason),
    pause_data = NULL,
    cancel_requested = FALSE,
    pause_requested = FALSE,
    updated_at = $13
WHERE id = $1 AND status = ANY($14::text[])
RETURNING id;

-- name: pause_run
-- Park a non-terminal run in a waiting status with the state needed to resume it; with a usage
-- total ($13) the run's running totals too, so a parked run does not read as zero spend.
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
    updated_at = $6
WHERE id = $1 AND status NOT IN ('success', 'error', 'cancelled', 'max_iterations')
RETURNING id;

-- name: get_pause_state
-- The resume state of a paused run.
SELECT pause_data FROM agent_runs WHERE id = $1;

-- name: get_pii_mapping
-- Placeholder -> real value mapping of a run.
SELECT pii_mapping FROM agent_runs WHERE id = $1;

-- name: claim_paused_run
-- First claimer of a paused run wins: waiting status -> running; a stale pause request is
-- cleared with it (0.4.1), so a resumed run does not pause again at once.
UPDATE agent_runs SET status = 'running', pause_requested = FALSE, updated_at = $3,
    last_progress_at = $3
WHERE id = $1 AND status = $2
RETURNING id;

-- name: submit_and_claim
-- Shallow-merge submitted data into pause_data and claim the run, in one statement;
-- a run without pause_data has nothing to resume from and is refused.
UPDATE agent_runs SET
    status = 'running',
    pause_requested = FALSE,
    updated_at = $4,
    last_progress_at = $4,
    pause_data = COALESCE(pause_data, '{}'::jsonb) || $3::jsonb
WHERE id = $1 AND status = $2
  AND pause_data IS NOT NULL AND pause_data::text <> 'null'
RETURNING id;

-- name: request_cancel
-- Raise the cooperative cancel flag; refuses terminal runs in the same statement.
UPDATE agent_runs SET cancel_requested = TRUE, updated_at = $2
WHERE id = $1 AND status NOT IN ('success', 'error', 'cancelled', 'max_iterations')
RETURNING id;

-- name: is_cancel_requested
-- The cooperative cancel flag of a run.
SELECT cancel_requested FROM agent_runs WHERE id = $1;

-- name: touch_progress
-- Liveness hint for sweepers.
UPDATE agent_runs SET last_progress_at = $2 WHERE id = $1;

-- name: list_runs
-- Newest first, ties by id; every filter is optional (NULL = not filtered).
SELECT id, agent_name, status, created_at, updated_at,
       COALESCE(iteration_count, 0) AS iteration_count,
       COALESCE(total_input_tokens, 0) AS total_input_tokens,
       COALESCE(total_output_tokens, 0) AS total_output_tokens,
       COALESCE(total_cache_read_tokens, 0) AS total_cache_read_tokens,
       COALESCE(total_cache_creation_tokens, 0) AS total_cache_creation_tokens,
       total_cost_usd::float8 AS total_cost_usd, model, parent_run_id,
       COALESCE(delegation_level, 0) AS delegation_level, tenant_id,
       COALESCE(total_reasoning_tokens, 0) AS total_reasoning_tokens, meta, strategy,
       input_data, output_data, error, failure_reason, cancel_requested, pause_requested,
       retry_of_run_id, last_progress_at
FROM agent_runs
WHERE ($1::text[] IS NULL OR status = ANY($1::text[]))
  AND ($2::text IS NULL OR agent_name = $2::text)
  AND ($3::text IS NULL OR parent_run_id = $3::text)
  AND ($4::text IS NULL OR tenant_id = $4::text)
  AND ($5::timestamptz IS NULL OR created_at >= $5::timestamptz)
  AND ($6::timestamptz IS NULL OR created_at < $6::timestamptz)
  AND ($7::jsonb IS NULL OR meta::jsonb @> $7::jsonb)
ORDER BY created_at DESC, id DESC
LIMIT $8 OFFSET $9;

-- name: count_runs
-- How many runs list_runs would page through with the same filters.
SELECT count(*)
FROM agent_runs
WHERE ($1::text[] IS NULL OR status = ANY($1::text[]))
  AND ($2::text IS NULL OR agent_name = $2::text)
  AND ($3::text IS NULL OR parent_run_id = $3::text)
  AND ($4::text IS NULL OR tenant_id = $4::text)
  AND ($5::timestamptz IS NULL OR created_at >= $5::timestamptz)
  AND ($6::timestamptz IS NULL OR created_at < $6::timestamptz)
  AND ($7::jsonb IS NULL OR meta::jsonb @> $7::jsonb);

-- name: delegation_node
-- A run with the fields its delegation view needs.
SELECT id, parent_run_id, agent_name, status, delegation_level
FROM agent_runs WHERE id = $1;

-- name: delegation_ancestry
-- Walk parent links upward from run $1 (nearest parent first), bounded by $2 steps.
WITH RECURSIVE up (id, parent_run_id, agent_name, status, delegation_level, depth) AS (
    SELECT p.id, p.parent_run_id, p.agent_name, p.status, p.delegation_level, 1
    FROM agent_runs c JOIN agent_runs p ON p.id = c.parent_run_id
    WHERE c.id = $1
    UNION ALL
    SELECT p.id, p.parent_run_id, p.agent_name, p.status, p.delegation_level, up.depth + 1
    FROM up JOIN agent_runs p ON p.id = up.parent_run_id
    WHERE up.depth < $2
)
SELECT id, parent_run_id, agent_name, status, delegation_level, depth FROM up ORDER BY depth;

-- name: delegation_children
-- Direct children of run $1, oldest first.
SELECT id, agent_name, status, delegation_level
FROM agent_runs WHERE parent_run_id = $1
ORDER BY created_at, id;

-- name: delegation_subtree_totals
-- Totals over run $1 and its descendants (depth bounded by $2), one row per status.
WITH RECURSIVE down (id, depth) AS (
    SELECT id, 0 FROM agent_runs WHERE id = $1
    UNION
    SELECT r.id, down.depth + 1
    FROM down JOIN agent_runs r ON r.parent_run_id = down.id
    WHERE down.depth < $2
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
       total_cost_usd::float8 AS total_cost_usd, model, parent_run_id,
       COALESCE(delegation_level, 0) AS delegation_level, tenant_id,
       COALESCE(total_reasoning_tokens, 0) AS total_reasoning_tokens, meta
FROM agent_runs
WHERE ($1::text[] IS NULL OR status = ANY($1::text[]))
  AND ($2::text IS NULL OR agent_name = $2::text)
  AND ($3::text IS NULL OR parent_run_id = $3::text)
  AND ($4::text IS NULL OR tenant_id = $4::text)
  AND ($5::timestamptz IS NULL OR created_at >= $5::timestamptz)
  AND ($6::timestamptz IS NULL OR created_at < $6::timestamptz)
  AND ($7::jsonb IS NULL OR meta::jsonb @> $7::jsonb)
ORDER BY created_at DESC, id DESC
LIMIT $8 OFFSET $9;

-- name: run_status
-- A run's status, or no row when it does not exist (or, when $2 is given, is another tenant's).
SELECT status FROM agent_runs WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2::text);

-- name: run_exists
-- 1 when the run exists (and, when $2 is given, belongs to that tenant).
SELECT count(*) FROM agent_runs WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2::text);

-- name: list_retries
-- The runs that retried $1 (retry_of_run_id, indexed by ix_agent_runs_retry_of), oldest
-- first; $2, when given, keeps that tenant's only. Columns: RunSummary's fields, in order.
SELECT id, agent_name, status, created_at, updated_at,
       COALESCE(iteration_count, 0) AS iteration_count,
       COALESCE(total_input_tokens, 0) AS total_input_tokens,
       COALESCE(total_output_tokens, 0) AS total_output_tokens,
       COALESCE(total_cache_read_tokens, 0) AS total_cache_read_tokens,
       COALESCE(total_cache_creation_tokens, 0) AS total_cache_creation_tokens,
       total_cost_usd::float8 AS total_cost_usd, model, parent_run_id,
       COALESCE(delegation_level, 0) AS delegation_level, tenant_id,
       COALESCE(total_reasoning_tokens, 0) AS total_reasoning_tokens, meta
FROM agent_runs
WHERE retry_of_run_id = $1 AND ($2::text IS NULL OR tenant_id = $2::text)
ORDER BY created_at, id
LIMIT $3;

-- The *_by_meta twins of list_runs / list_run_summaries / count_runs, for a given
-- metadata filter $7: the GIN index on meta serves meta @> $7 (SQLite seeks its
-- agent_run_meta index table instead; both dialects name the same queries).

-- name: list_runs_by_meta
-- list_runs with a metadata filter, served by the metadata index.
SELECT id, agent_name, status, created_at, updated_at,
       COALESCE(iteration_count, 0) AS iteration_count,
       COALESCE(total_input_tokens, 0) AS total_input_tokens,
       COALESCE(total_output_tokens, 0) AS total_output_tokens,
       COALESCE(total_cache_read_tokens, 0) AS total_cache_read_tokens,
       COALESCE(total_cache_creation_tokens, 0) AS total_cache_creation_tokens,
       total_cost_usd::float8 AS total_cost_usd, model, parent_run_id,
       COALESCE(delegation_level, 0) AS delegation_level, tenant_id,
       COALESCE(total_reasoning_tokens, 0) AS total_reasoning_tokens, meta, strategy,
       input_data, output_data, error, failure_reason, cancel_requested, pause_requested,
       retry_of_run_id, last_progress_at
FROM agent_runs
WHERE ($1::text[] IS NULL OR status = ANY($1::text[]))
  AND ($2::text IS NULL OR agent_name = $2::text)
  AND ($3::text IS NULL OR parent_run_id = $3::text)
  AND ($4::text IS NULL OR tenant_id = $4::text)
  AND ($5::timestamptz IS NULL OR created_at >= $5::timestamptz)
  AND ($6::timestamptz IS NULL OR created_at < $6::timestamptz)
  AND meta::jsonb @> $7::jsonb
ORDER BY created_at DESC, id DESC
LIMIT $8 OFFSET $9;

-- name: list_run_summaries_by_meta
-- list_run_summaries with a metadata filter, served by the metadata index.
-- Columns by position: RunSummary's fields, in order (as dendrux.read.records declares).
SELECT id, agent_name, status, created_at, updated_at,
       COALESCE(iteration_count, 0) AS iteration_count,
       COALESCE(total_input_tokens, 0) AS total_input_tokens,
       COALESCE(total_output_tokens, 0) AS total_output_tokens,
       COALESCE(total_cache_read_tokens, 0) AS total_cache_read_tokens,
       COALESCE(total_cache_creation_tokens, 0) AS total_cache_creation_tokens,
       total_cost_usd::float8 AS total_cost_usd, model, parent_run_id,
       COALESCE(delegation_level, 0) AS delegation_level, tenant_id,
       COALESCE(total_reasoning_tokens, 0) AS total_reasoning_tokens, meta
FROM agent_runs
WHERE ($1::text[] IS NULL OR status = ANY($1::text[]))
  AND ($2::text IS NULL OR agent_name = $2::text)
  AND ($3::text IS NULL OR parent_run_id = $3::text)
  AND ($4::text IS NULL OR tenant_id = $4::text)
  AND ($5::timestamptz IS NULL OR created_at >= $5::timestamptz)
  AND ($6::timestamptz IS NULL OR created_at < $6::timestamptz)
  AND meta::jsonb @> $7::jsonb
ORDER BY created_at DESC, id DESC
LIMIT $8 OFFSET $9;

-- name: count_runs_by_meta
-- count_runs with a metadata filter, served by the metadata index.
SELECT count(*)
FROM agent_runs
WHERE ($1::text[] IS NULL OR status = ANY($1::text[]))
  AND ($2::text IS NULL OR agent_name = $2::text)
  AND ($3::text IS NULL OR parent_run_id = $3::text)
  AND ($4::text IS NULL OR tenant_id = $4::text)
  AND ($5::timestamptz IS NULL OR created_at >= $5::timestamptz)
  AND ($6::timestamptz IS NULL OR created_at < $6::timestamptz)
  AND meta::jsonb @> $7::jsonb;

-- Capped counts, for a runs list over a large store (the dashboard): min(count, $8),
-- never reading past $8 matching runs. One branch per indexed filter, guarded by which
-- filters are given: a generic plan (which a prepared statement may settle on) then
-- still walks the right index (the guards become one-time filters), where a single
-- "$n IS NULL OR col = $n" form would be planned as a scan of the table.
