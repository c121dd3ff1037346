-- Run statistics for the overview: one row for the whole window, then one per group.
-- Placeholders are numbered (?1..?n) with the same numbering as the PostgreSQL file.

-- name: run_stats
-- Figures of the runs created in [?2, ?3) (no upper bound when ?3 is NULL), optionally of
-- one agent (?4) and one tenant (?5), grouped by ?1: 'day' (the UTC day of created_at:
-- the text's first ten characters, in our form and upstream's space-separated one),
-- 'agent', 'model' or 'tenant'. The first row (is_total = 1) covers the whole window; then
-- at most ?6 - 1 groups: days newest first, the others by runs descending, then key
-- (NULL last, byte order). The window's rows are read once into a temporary table, then
-- summed per group and in total; only the finished runs' (key, duration) pairs go through
-- the two ranking sorts (per group, overall). Durations are whole microseconds of finished
-- runs (updated_at - created_at): whole seconds from strftime over the text's first 19
-- characters (strftime itself would round a .999999 fraction up to the next second; both
-- forms are UTC), plus the six fraction digits of the text. Percentiles are nearest-rank,
-- rank ceil(p * n) in integers, (n + 1) / 2 and (95 * n + 99) / 100: the rows PostgreSQL's
-- percentile_disc picks.
-- Reads the window through ix_agent_runs_created (or the agent/tenant index).
WITH w AS MATERIALIZED (
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
sums AS (
    SELECT 0 AS is_total, k, count(*) AS runs, sum(finished) AS finished, sum(failed) AS errors,
           sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
           sum(cache_read_tokens) AS cache_read_tokens,
           sum(cache_creation_tokens) AS cache_creation_tokens,
           sum(reasoning_tokens) AS reasoning_tokens, sum(cost_usd) AS cost_usd,
           sum(finished AND cost_usd IS NULL) AS unpriced_runs
    FROM w GROUP BY k
),
ranked AS (
    SELECT k, duration_us,
           row_number() OVER (PARTITION BY k ORDER BY duration_us) AS r,
           count(*) OVER (PARTITION BY k) AS n
    FROM w WHERE duration_us IS NOT NULL
),
pct AS (
    SELECT k, max(CASE WHEN r = (n + 1) / 2 THEN duration_us END) AS p50,
              max(CASE WHEN r = (95 * n + 99) / 100 THEN duration_us END) AS p95
    FROM ranked WHERE r = (n + 1) / 2 OR r = (95 * n + 99) / 100 GROUP BY k
),
all_ranked AS (
    SELECT duration_us, row_number() OVER (ORDER BY duration_us) AS r, count(*) OVER () AS n
    FROM w WHERE duration_us IS NOT NULL
),
all_pct AS (
    SELECT max(CASE WHEN r = (n + 1) / 2 THEN duration_us END) AS p50,
           max(CASE WHEN r = (95 * n + 99) / 100 THEN duration_us END) AS p95
    FROM all_ranked WHERE r = (n + 1) / 2 OR r = (95 * n + 99) / 100
)
SELECT 1 AS is_total, NULL AS key, t.runs, t.finished, t.errors, t.input_tokens, t.output_tokens,
       t.cache_read_tokens, t.cache_creation_tokens, t.reasoning_tokens, t.cost_usd,
       t.unpriced_runs, all_pct.p50 AS p50_duration_us, all_pct.p95 AS p95_duration_us
FROM (SELECT count(*) AS runs, sum(finished) AS finished, sum(failed) AS errors,
             sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
             sum(cache_read_tokens) AS cache_read_tokens,
             sum(cache_creation_tokens) AS cache_creation_tokens,
             sum(reasoning_tokens) AS reasoning_tokens, sum(cost_usd) AS cost_usd,
             sum(finished AND cost_usd IS NULL) AS unpriced_runs FROM w) AS t, all_pct
UNION ALL
SELECT * FROM (
    SELECT 0, s.k, s.runs, s.finished, s.errors, s.input_tokens, s.output_tokens,
           s.cache_read_tokens, s.cache_creation_tokens, s.reasoning_tokens, s.cost_usd,
           s.unpriced_runs, pct.p50, pct.p95
    FROM sums AS s LEFT JOIN pct ON pct.k IS s.k
    ORDER BY CASE WHEN ?1 = 'day' THEN s.k END DESC, s.runs DESC, s.k IS NULL, s.k
    LIMIT ?6 - 1
);
