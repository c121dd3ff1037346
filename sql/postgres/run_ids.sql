-- Run id lookup by prefix (the command line's short run ids), on PostgreSQL.

-- name: find_runs_by_id_prefix
-- The runs whose id begins with one of three forms of a prefix (as typed, upper-cased,
-- lower-cased). Each form is a range of the primary key, [$1, $2), [$3, $4) and [$5, $6),
-- read in id order and cut at $9 rows, so a short prefix over a million runs still reads
-- $9 index entries per form. The ranges are exact under the C collation; under another,
-- the caller keeps only the ids that really begin with a form. $7: scoped (false: every
-- tenant); $8: the tenant (NULL: only untenanted runs).
-- Columns: RunSummary's fields, in order (SUMMARY_COLUMNS).
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
WHERE id IN (
    (SELECT id FROM agent_runs
     WHERE id >= $1::text AND id < $2::text
       AND (NOT $7::boolean OR tenant_id IS NOT DISTINCT FROM $8::text)
     ORDER BY id LIMIT $9::bigint)
    UNION
    (SELECT id FROM agent_runs
     WHERE id >= $3::text AND id < $4::text
       AND (NOT $7::boolean OR tenant_id IS NOT DISTINCT FROM $8::text)
     ORDER BY id LIMIT $9::bigint)
    UNION
    (SELECT id FROM agent_runs
     WHERE id >= $5::text AND id < $6::text
       AND (NOT $7::boolean OR tenant_id IS NOT DISTINCT FROM $8::text)
     ORDER BY id LIMIT $9::bigint)
)
ORDER BY id
LIMIT $9::bigint;
