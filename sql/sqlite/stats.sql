-- Run statistics for the overview: one row for the whole window, then one per group.
-- Placeholders are numbered (?1..?n) with the same numbering as the PostgreSQL file.

-- name: run_stats
-- Figures of the runs created in [?2, ?3) (no upper bound when ?3 is NULL), optionally of
-- one agent (?4) and one tenant (?5), grouped by ?1: 'day' (the UTC day of created_at:
-- the text's first ten characters, in our form and upstream's space-separated one),
-- 'agent', 'model' or 'tenant'. The first row (is_total = 1) covers the whole window; then
-- at most ?6 - 1 groups: days newest first, the others by runs descending, then key
-- (NULL last, byte order). Every run is read twice (once as itself, once for the total),
-- so one window pass ranks both. Durations are whole microseconds of finished runs
-- (updated_at - created_at: whole seconds from strftime over the text's first 19
-- characters (strftime itself would round a .999999 fraction up to the next second;
-- both forms are UTC), the six fraction digits from the text); percentiles are nearest-rank, rank ceil(p * n) in integers: (n + 1) / 2 and
-- (95 * n + 99) / 100, the rows PostgreSQL's percentile_disc picks.
-- Reads the window through ix_agent_runs_created (or the agent/tenant index).
WITH w AS (
    SELECT
        CASE ?1
            WHEN 'day' THEN substr(created_at, 1, 10)
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
        CAST(total_cost_usd AS REAL) AS cost_usd,
        CASE WHEN status IN ('success', 'error', 'cancelled', 'max_iterations')
             THEN (CAST(strftime('%s', substr(updated_at, 1, 19)) AS INTEGER)
                   - CAST(strftime('%s', substr(created_at, 1, 19)) AS INTEGER)) * 1000000
                  + CAST(substr(updated_at, 21, 6) AS INTEGER)
                  - CAST(substr(created_at, 21, 6) AS INTEGER)
        END AS duration_us
    FROM agent_runs
    WHERE created_at >= ?2
      AND (?3 IS NULL OR created_at < ?3)
      AND (?4 IS NULL OR agent_name = ?4)
      AND (?5 IS NULL OR tenant_id = ?5)
),
twice AS (
    SELECT s.is_total, CASE WHEN s.is_total = 1 THEN NULL ELSE w.k END AS k,
           w.finished, w.failed, w.input_tokens, w.output_tokens, w.cache_read_tokens,
           w.cache_creation_tokens, w.reasoning_tokens, w.cost_usd, w.duration_us
    FROM w CROSS JOIN (SELECT 0 AS is_total UNION ALL SELECT 1 AS is_total) AS s
),
ranked AS (
    SELECT twice.*,
           row_number() OVER (PARTITION BY is_total, k, duration_us IS NULL
                              ORDER BY duration_us) AS duration_rank,
           count(duration_us) OVER (PARTITION BY is_total, k) AS durations
    FROM twice
)
SELECT
    is_total,
    k AS key,
    count(*) AS runs,
    sum(finished) AS finished,
    sum(failed) AS errors,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_creation_tokens) AS cache_creation_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    sum(cost_usd) AS cost_usd,
    sum(finished AND cost_usd IS NULL) AS unpriced_runs,
    max(CASE WHEN duration_us IS NOT NULL AND duration_rank = (durations + 1) / 2
             THEN duration_us END) AS p50_duration_us,
    max(CASE WHEN duration_us IS NOT NULL AND duration_rank = (95 * durations + 99) / 100
             THEN duration_us END) AS p95_duration_us
FROM ranked
GROUP BY is_total, k
ORDER BY is_total DESC,
         CASE WHEN ?1 = 'day' THEN k END DESC,
         runs DESC,
         k IS NULL,
         k
LIMIT ?6;
