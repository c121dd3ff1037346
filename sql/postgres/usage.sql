-- Live usage, summed from llm_interactions at read time (so running and paused runs and
-- unfinalized children count), and the delegation subtree with each run's own usage.
-- A NULL cost is an unpriced call; NULL cache and reasoning counts read as zero.
-- Usage columns by position: dendrux.read.usage.USAGE_COLUMNS.

-- name: run_usage
-- One run's live usage (always one row; all zero for a run without LLM calls).
SELECT
       COALESCE(sum(input_tokens), 0)::bigint AS input_tokens,
       COALESCE(sum(output_tokens), 0)::bigint AS output_tokens,
       COALESCE(sum(cache_read_input_tokens), 0)::bigint AS cache_read_tokens,
       COALESCE(sum(cache_creation_input_tokens), 0)::bigint AS cache_write_tokens,
       COALESCE(sum(reasoning_tokens), 0)::bigint AS reasoning_tokens,
       COALESCE(sum(cost_usd), 0)::float8 AS known_cost_usd,
       COALESCE(sum(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END), 0)::bigint AS unpriced_calls,
       count(*)::bigint AS llm_calls
FROM llm_interactions WHERE agent_run_id = $1;

-- name: subtree_usage
-- Live usage of run $1 and every run below it (no tenant scope), one row per run with calls;
-- parent links are walked from the root (never back into it) at most $2 levels down.
WITH RECURSIVE down (id, depth) AS (
    SELECT id, 0 FROM agent_runs WHERE id = $1
    UNION ALL
    SELECT r.id, down.depth + 1
    FROM down JOIN agent_runs r ON r.parent_run_id = down.id
    WHERE r.id <> $1 AND down.depth < $2::integer
)
SELECT
       COALESCE(sum(input_tokens), 0)::bigint AS input_tokens,
       COALESCE(sum(output_tokens), 0)::bigint AS output_tokens,
       COALESCE(sum(cache_read_input_tokens), 0)::bigint AS cache_read_tokens,
       COALESCE(sum(cache_creation_input_tokens), 0)::bigint AS cache_write_tokens,
       COALESCE(sum(reasoning_tokens), 0)::bigint AS reasoning_tokens,
       COALESCE(sum(cost_usd), 0)::float8 AS known_cost_usd,
       COALESCE(sum(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END), 0)::bigint AS unpriced_calls,
       count(*)::bigint AS llm_calls
FROM llm_interactions WHERE agent_run_id IN (SELECT id FROM down)
GROUP BY agent_run_id;

-- name: subtree_summaries
-- Run $1 and its descendants breadth first (root first, then by depth, time, id):
-- RunSummary's columns (SUMMARY_COLUMNS), the depth, then the run's own usage.
-- Tenant scope: $2 true reads every tenant; otherwise only runs whose tenant_id is
-- $3 (NULL: untenanted runs), and a run out of scope hides everything below it.
-- Parent links are walked from the root (never back into it) at most $4 levels down.
WITH RECURSIVE down (id, depth) AS (
    SELECT id, 0 FROM agent_runs WHERE id = $1 AND ($2::boolean OR tenant_id IS NOT DISTINCT FROM $3::text)
    UNION ALL
    SELECT r.id, down.depth + 1
    FROM down JOIN agent_runs r ON r.parent_run_id = down.id
    WHERE r.id <> $1 AND down.depth < $4::integer AND ($2::boolean OR r.tenant_id IS NOT DISTINCT FROM $3::text)
),
spent AS (
    SELECT agent_run_id,
       COALESCE(sum(input_tokens), 0)::bigint AS input_tokens,
       COALESCE(sum(output_tokens), 0)::bigint AS output_tokens,
       COALESCE(sum(cache_read_input_tokens), 0)::bigint AS cache_read_tokens,
       COALESCE(sum(cache_creation_input_tokens), 0)::bigint AS cache_write_tokens,
       COALESCE(sum(reasoning_tokens), 0)::bigint AS reasoning_tokens,
       COALESCE(sum(cost_usd), 0)::float8 AS known_cost_usd,
       COALESCE(sum(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END), 0)::bigint AS unpriced_calls,
       count(*)::bigint AS llm_calls
    FROM llm_interactions WHERE agent_run_id IN (SELECT id FROM down)
    GROUP BY agent_run_id
)
SELECT r.id, r.agent_name, r.status, r.created_at, r.updated_at,
       COALESCE(r.iteration_count, 0) AS iteration_count,
       COALESCE(r.total_input_tokens, 0) AS total_input_tokens,
       COALESCE(r.total_output_tokens, 0) AS total_output_tokens,
       COALESCE(r.total_cache_read_tokens, 0) AS total_cache_read_tokens,
       COALESCE(r.total_cache_creation_tokens, 0) AS total_cache_creation_tokens,
       r.total_cost_usd::float8 AS total_cost_usd, r.model, r.parent_run_id,
       COALESCE(r.delegation_level, 0) AS delegation_level, r.tenant_id,
       COALESCE(r.total_reasoning_tokens, 0) AS total_reasoning_tokens, r.meta,
       down.depth, COALESCE(u.input_tokens, 0)::bigint AS input_tokens,
       COALESCE(u.output_tokens, 0)::bigint AS output_tokens,
       COALESCE(u.cache_read_tokens, 0)::bigint AS cache_read_tokens,
       COALESCE(u.cache_write_tokens, 0)::bigint AS cache_write_tokens,
       COALESCE(u.reasoning_tokens, 0)::bigint AS reasoning_tokens,
       COALESCE(u.known_cost_usd, 0)::float8 AS known_cost_usd,
       COALESCE(u.unpriced_calls, 0)::bigint AS unpriced_calls,
       COALESCE(u.llm_calls, 0)::bigint AS llm_calls
FROM down JOIN agent_runs r ON r.id = down.id
LEFT JOIN spent u ON u.agent_run_id = r.id
ORDER BY down.depth, r.created_at, r.id;

-- name: subtree_runs
-- subtree_summaries with every RunRecord column (RUN_COLUMNS) before the depth and usage.
-- Tenant scope: $2 true reads every tenant; otherwise only runs whose tenant_id is
-- $3 (NULL: untenanted runs), and a run out of scope hides everything below it.
-- Parent links are walked from the root (never back into it) at most $4 levels down.
WITH RECURSIVE down (id, depth) AS (
    SELECT id, 0 FROM agent_runs WHERE id = $1 AND ($2::boolean OR tenant_id IS NOT DISTINCT FROM $3::text)
    UNION ALL
    SELECT r.id, down.depth + 1
    FROM down JOIN agent_runs r ON r.parent_run_id = down.id
    WHERE r.id <> $1 AND down.depth < $4::integer AND ($2::boolean OR r.tenant_id IS NOT DISTINCT FROM $3::text)
),
spent AS (
    SELECT agent_run_id,
       COALESCE(sum(input_tokens), 0)::bigint AS input_tokens,
       COALESCE(sum(output_tokens), 0)::bigint AS output_tokens,
       COALESCE(sum(cache_read_input_tokens), 0)::bigint AS cache_read_tokens,
       COALESCE(sum(cache_creation_input_tokens), 0)::bigint AS cache_write_tokens,
       COALESCE(sum(reasoning_tokens), 0)::bigint AS reasoning_tokens,
       COALESCE(sum(cost_usd), 0)::float8 AS known_cost_usd,
       COALESCE(sum(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END), 0)::bigint AS unpriced_calls,
       count(*)::bigint AS llm_calls
    FROM llm_interactions WHERE agent_run_id IN (SELECT id FROM down)
    GROUP BY agent_run_id
)
SELECT r.id, r.agent_name, r.status, r.created_at, r.updated_at,
       COALESCE(r.iteration_count, 0) AS iteration_count,
       COALESCE(r.total_input_tokens, 0) AS total_input_tokens,
       COALESCE(r.total_output_tokens, 0) AS total_output_tokens,
       COALESCE(r.total_cache_read_tokens, 0) AS total_cache_read_tokens,
       COALESCE(r.total_cache_creation_tokens, 0) AS total_cache_creation_tokens,
       r.total_cost_usd::float8 AS total_cost_usd, r.model, r.parent_run_id,
       COALESCE(r.delegation_level, 0) AS delegation_level, r.tenant_id,
       COALESCE(r.total_reasoning_tokens, 0) AS total_reasoning_tokens, r.meta, r.strategy,
       r.input_data, r.output_data, r.error, r.failure_reason,
       r.cancel_requested, r.pause_requested, r.retry_of_run_id, r.last_progress_at,
       down.depth, COALESCE(u.input_tokens, 0)::bigint AS input_tokens,
       COALESCE(u.output_tokens, 0)::bigint AS output_tokens,
       COALESCE(u.cache_read_tokens, 0)::bigint AS cache_read_tokens,
       COALESCE(u.cache_write_tokens, 0)::bigint AS cache_write_tokens,
       COALESCE(u.reasoning_tokens, 0)::bigint AS reasoning_tokens,
       COALESCE(u.known_cost_usd, 0)::float8 AS known_cost_usd,
       COALESCE(u.unpriced_calls, 0)::bigint AS unpriced_calls,
       COALESCE(u.llm_calls, 0)::bigint AS llm_calls
FROM down JOIN agent_runs r ON r.id = down.id
LEFT JOIN spent u ON u.agent_run_id = r.id
ORDER BY down.depth, r.created_at, r.id;
