-- The dashboard's counts on PostgreSQL: capped totals for the runs list and
-- counts by status, each bounded so a million runs cost what ten thousand do.
-- Placeholders follow the listing queries of runs.sql (filters 1..7).

-- name: count_runs_capped
-- count_runs, at most $8.
SELECT count(*) FROM (
    SELECT 1 FROM agent_runs
    WHERE $3::text IS NOT NULL AND parent_run_id = $3::text
      AND ($1::text[] IS NULL OR status = ANY($1::text[]))
      AND ($2::text IS NULL OR agent_name = $2::text)
      AND ($4::text IS NULL OR tenant_id = $4::text)
      AND ($5::timestamptz IS NULL OR created_at >= $5::timestamptz)
      AND ($6::timestamptz IS NULL OR created_at < $6::timestamptz)
      AND ($7::jsonb IS NULL OR meta::jsonb @> $7::jsonb)
    UNION ALL
    SELECT 1 FROM agent_runs
    WHERE $3::text IS NULL AND $2::text IS NOT NULL AND agent_name = $2::text
      AND ($1::text[] IS NULL OR status = ANY($1::text[]))
      AND ($4::text IS NULL OR tenant_id = $4::text)
      AND ($5::timestamptz IS NULL OR created_at >= $5::timestamptz)
      AND ($6::timestamptz IS NULL OR created_at < $6::timestamptz)
      AND ($7::jsonb IS NULL OR meta::jsonb @> $7::jsonb)
    UNION ALL
    SELECT 1 FROM agent_runs
    WHERE $3::text IS NULL AND $2::text IS NULL AND $1::text[] IS NOT NULL
      AND status = ANY($1::text[])
      AND ($4::text IS NULL OR tenant_id = $4::text)
      AND ($5::timestamptz IS NULL OR created_at >= $5::timestamptz)
      AND ($6::timestamptz IS NULL OR created_at < $6::timestamptz)
      AND ($7::jsonb IS NULL OR meta::jsonb @> $7::jsonb)
    UNION ALL
    SELECT 1 FROM agent_runs
    WHERE $3::text IS NULL AND $2::text IS NULL AND $1::text[] IS NULL
      AND ($4::text IS NULL OR tenant_id = $4::text)
      AND ($5::timestamptz IS NULL OR created_at >= $5::timestamptz)
      AND ($6::timestamptz IS NULL OR created_at < $6::timestamptz)
      AND ($7::jsonb IS NULL OR meta::jsonb @> $7::jsonb)
    LIMIT $8
) AS capped;

-- name: count_runs_capped_by_meta
-- count_runs_by_meta, at most $8: the GIN index on meta serves meta @> $7.
SELECT count(*) FROM (
    SELECT 1 FROM agent_runs
    WHERE ($1::text[] IS NULL OR status = ANY($1::text[]))
      AND ($2::text IS NULL OR agent_name = $2::text)
      AND ($3::text IS NULL OR parent_run_id = $3::text)
      AND ($4::text IS NULL OR tenant_id = $4::text)
      AND ($5::timestamptz IS NULL OR created_at >= $5::timestamptz)
      AND ($6::timestamptz IS NULL OR created_at < $6::timestamptz)
      AND meta::jsonb @> $7::jsonb
    LIMIT $8
) AS capped;

-- name: status_counts
-- For each status of $1: how many runs have it and match the filters $2..$7, at most
-- $8 each. The common shapes (no filter, only an agent, only a tenant: a tenant
-- principal's page) count a range of one index and read no row: every column they
-- name is in it. Otherwise each status walks the narrowest index range that its
-- filters allow (a parent's children; the agent's or the tenant's runs of the status,
-- ix_agent_runs_agent_status_created / ix_agent_runs_tenant_status_created; the
-- status) and checks the rest, so a busy status stops at $8 and a rare one reads only
-- its own runs. Each branch is guarded by which filters are given, so a reused generic
-- plan still runs only the branch that fits.
SELECT s.status, CASE
WHEN $2::text IS NULL AND $3::text IS NULL AND $4::text IS NULL
     AND $5::timestamptz IS NULL AND $6::timestamptz IS NULL AND $7::jsonb IS NULL
THEN (SELECT count(*) FROM (
    SELECT 1 FROM agent_runs WHERE status = s.status LIMIT $8
) AS capped)
WHEN $2::text IS NOT NULL AND $3::text IS NULL AND $4::text IS NULL
     AND $5::timestamptz IS NULL AND $6::timestamptz IS NULL AND $7::jsonb IS NULL
THEN (SELECT count(*) FROM (
    SELECT 1 FROM agent_runs WHERE agent_name = $2::text AND status = s.status LIMIT $8
) AS capped)
WHEN $4::text IS NOT NULL AND $2::text IS NULL AND $3::text IS NULL
     AND $5::timestamptz IS NULL AND $6::timestamptz IS NULL AND $7::jsonb IS NULL
THEN (SELECT count(*) FROM (
    SELECT 1 FROM agent_runs WHERE tenant_id = $4::text AND status = s.status LIMIT $8
) AS capped)
ELSE (SELECT count(*) FROM (
    SELECT 1 FROM agent_runs
    WHERE $3::text IS NOT NULL AND parent_run_id = $3::text AND status = s.status
      AND ($2::text IS NULL OR agent_name = $2::text)
      AND ($4::text IS NULL OR tenant_id = $4::text)
      AND ($5::timestamptz IS NULL OR created_at >= $5::timestamptz)
      AND ($6::timestamptz IS NULL OR created_at < $6::timestamptz)
      AND ($7::jsonb IS NULL OR meta::jsonb @> $7::jsonb)
    UNION ALL
    SELECT 1 FROM agent_runs
    WHERE $3::text IS NULL AND $2::text IS NOT NULL
      AND agent_name = $2::text AND status = s.status
      AND ($4::text IS NULL OR tenant_id = $4::text)
      AND ($5::timestamptz IS NULL OR created_at >= $5::timestamptz)
      AND ($6::timestamptz IS NULL OR created_at < $6::timestamptz)
      AND ($7::jsonb IS NULL OR meta::jsonb @> $7::jsonb)
    UNION ALL
    SELECT 1 FROM agent_runs
    WHERE $3::text IS NULL AND $2::text IS NULL AND $4::text IS NOT NULL
      AND tenant_id = $4::text AND status = s.status
      AND ($5::timestamptz IS NULL OR created_at >= $5::timestamptz)
      AND ($6::timestamptz IS NULL OR created_at < $6::timestamptz)
      AND ($7::jsonb IS NULL OR meta::jsonb @> $7::jsonb)
    UNION ALL
    SELECT 1 FROM agent_runs
    WHERE $3::text IS NULL AND $2::text IS NULL AND $4::text IS NULL AND status = s.status
      AND ($5::timestamptz IS NULL OR created_at >= $5::timestamptz)
      AND ($6::timestamptz IS NULL OR created_at < $6::timestamptz)
      AND ($7::jsonb IS NULL OR meta::jsonb @> $7::jsonb)
    LIMIT $8
) AS capped)
END AS runs
FROM unnest($1::text[]) AS s (status);

-- name: status_counts_by_meta
-- status_counts with a metadata filter: the GIN index on meta finds the runs once.
WITH hit AS MATERIALIZED (
    SELECT status FROM agent_runs
    WHERE ($2::text IS NULL OR agent_name = $2::text)
      AND ($3::text IS NULL OR parent_run_id = $3::text)
      AND ($4::text IS NULL OR tenant_id = $4::text)
      AND ($5::timestamptz IS NULL OR created_at >= $5::timestamptz)
      AND ($6::timestamptz IS NULL OR created_at < $6::timestamptz)
      AND meta::jsonb @> $7::jsonb
)
SELECT s.status, (
    SELECT count(*) FROM (SELECT 1 FROM hit WHERE hit.status = s.status LIMIT $8) AS capped
) AS runs
FROM unnest($1::text[]) AS s (status);
