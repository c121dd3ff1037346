-- Run statistics for the overview: one row for the whole window, then one per group.
-- Placeholders are numbered ($1..$n) with the same numbering as the SQLite file.

-- name: run_stats
-- Figures of the runs created in [$2, $3) (no upper bound when $3 is NULL), optionally of
-- one agent ($4) and one tenant ($5), grouped by $1: 'day' (the UTC day of created_at),
-- 'agent', 'model' or 'tenant'. The first row (is_total = 1) covers the whole window; then
-- at most $6 - 1 groups: days newest first, the others by runs descending, then key
-- (NULL last, byte order). Durations are whole microseconds of finished runs
-- (updated_at - created_at); percentiles are nearest-rank (percentile_disc), the rank
-- ceil(p * n) that the SQLite file computes with integers.
-- Reads the window through ix_agent_runs_created (or the agent/tenant index).
WITH w AS (
    SELECT
        CASE $1::text
            WHEN 'day' THEN to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')
            WHEN 'agent' THEN agent_name
            WHEN 'model' THEN model
            ELSE tenant_id
        END AS k,
        status IN ('success', 'error', 'cancelled', 'max_iterations') AS finished,
        status = 'error' AS failed,
        COALESCE(total_input_tokens, 0) AS input_tokens,
        COALESCE(total_output_tokens, 0) AS output_tokens,
        COALESCE(total_cache_read_tokens, 0) AS cache_read_tokens,
        COALESCE(total_cache_creation_tokens, 0) AS cache_creation_tokens,
        COALESCE(total_reasoning_tokens, 0) AS reasoning_tokens,
        total_cost_usd::double precision AS cost_usd,
        CASE WHEN status IN ('success', 'error', 'cancelled', 'max_iterations')
             THEN round(EXTRACT(EPOCH FROM updated_at - created_at) * 1000000)::bigint
        END AS duration_us
    FROM agent_runs
    WHERE created_at >= $2
      AND ($3::timestamptz IS NULL OR created_at < $3)
      AND ($4::text IS NULL OR agent_name = $4)
      AND ($5::text IS NULL OR tenant_id = $5)
)
SELECT
    GROUPING(k) AS is_total,
    k AS key,
    count(*) AS runs,
    count(*) FILTER (WHERE finished) AS finished,
    count(*) FILTER (WHERE failed) AS errors,
    COALESCE(sum(input_tokens), 0)::bigint AS input_tokens,
    COALESCE(sum(output_tokens), 0)::bigint AS output_tokens,
    COALESCE(sum(cache_read_tokens), 0)::bigint AS cache_read_tokens,
    COALESCE(sum(cache_creation_tokens), 0)::bigint AS cache_creation_tokens,
    COALESCE(sum(reasoning_tokens), 0)::bigint AS reasoning_tokens,
    sum(cost_usd) AS cost_usd,
    count(*) FILTER (WHERE finished AND cost_usd IS NULL) AS unpriced_runs,
    percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_us) AS p50_duration_us,
    percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_us) AS p95_duration_us
FROM w
GROUP BY GROUPING SETS ((k), ())
ORDER BY is_total DESC,
         CASE WHEN $1::text = 'day' THEN k END DESC,
         runs DESC,
         k IS NULL,
         k COLLATE "C"
LIMIT $6;
