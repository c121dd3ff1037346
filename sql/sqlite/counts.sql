-- The dashboard's counts on SQLite: capped totals for the runs list and
-- counts by status, each bounded so a million runs cost what ten thousand do.
-- Placeholders follow the listing queries of runs.sql (filters 1..7).

-- name: count_runs_capped
-- count_runs, at most ?8. Without filters, or with a status filter alone, an index is
-- counted without reading a row; otherwise the pick below drives.
SELECT CASE
WHEN ?2 IS NULL AND ?3 IS NULL AND ?4 IS NULL AND ?5 IS NULL AND ?6 IS NULL AND ?7 IS NULL
THEN (SELECT count(*) FROM (
    SELECT 1 FROM agent_runs WHERE ?1 IS NULL
    UNION ALL
    SELECT 1 FROM agent_runs WHERE ?1 IS NOT NULL AND status IN (SELECT value FROM json_each(?1))
    LIMIT ?8
))
ELSE (SELECT count(*) FROM (
    SELECT 1
    FROM (
        SELECT rowid AS rid FROM agent_runs WHERE ?3 IS NOT NULL AND parent_run_id = ?3
        UNION ALL
        SELECT rowid FROM agent_runs
        WHERE ?3 IS NULL AND ?2 IS NOT NULL AND agent_name = ?2
        UNION ALL
        SELECT rowid FROM agent_runs
        WHERE ?3 IS NULL AND ?2 IS NULL AND ?1 IS NOT NULL
          AND status IN (SELECT value FROM json_each(?1))
        UNION ALL
        SELECT rowid FROM agent_runs
        WHERE ?3 IS NULL AND ?2 IS NULL AND ?1 IS NULL AND ?4 IS NOT NULL AND tenant_id = ?4
        UNION ALL
        SELECT rowid FROM agent_runs
        WHERE ?3 IS NULL AND ?2 IS NULL AND ?1 IS NULL AND ?4 IS NULL
    ) AS pick
    CROSS JOIN agent_runs ON agent_runs.rowid = pick.rid  -- CROSS JOIN: the pick drives
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
    LIMIT ?8
))
END;

-- name: count_runs_capped_by_meta
-- count_runs_by_meta, at most ?8: the metadata index's hits drive.
SELECT count(*) FROM (
    SELECT 1
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
    LIMIT ?8
);

-- name: count_runs_capped_by_meta_one
-- count_runs_capped_by_meta for a one-key filter (see list_runs_by_meta_one in runs.sql).
SELECT count(*) FROM (
    SELECT 1
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
      AND (?6 IS NULL OR agent_runs.created_at < ?6)
    LIMIT ?8
);

-- name: status_counts
-- For each status of the JSON array ?1: how many runs have it and match the filters
-- ?2..?7, at most ?8 each. The common shapes (no filter, only an agent, only a tenant:
-- a tenant principal's page) count a range of one index and read no row. Otherwise
-- each status walks the narrowest index range its filters allow (a parent's children;
-- the agent's or the tenant's runs of the status, ix_agent_runs_agent_status_created /
-- ix_agent_runs_tenant_status_created; the status) and checks the rest, so a busy
-- status stops at ?8 and a rare one reads only its own runs.
SELECT s.value AS status, CASE
WHEN ?2 IS NULL AND ?3 IS NULL AND ?4 IS NULL AND ?5 IS NULL AND ?6 IS NULL AND ?7 IS NULL
THEN (  -- no filter: the status index alone, no row read
    SELECT count(*) FROM (SELECT 1 FROM agent_runs WHERE status = s.value LIMIT ?8)
)
WHEN ?2 IS NOT NULL AND ?3 IS NULL AND ?4 IS NULL AND ?5 IS NULL AND ?6 IS NULL AND ?7 IS NULL
THEN (  -- only an agent: its status range, no row read
    SELECT count(*) FROM (
        SELECT 1 FROM agent_runs WHERE agent_name = ?2 AND status = s.value LIMIT ?8
    )
)
WHEN ?4 IS NOT NULL AND ?2 IS NULL AND ?3 IS NULL AND ?5 IS NULL AND ?6 IS NULL AND ?7 IS NULL
THEN (  -- only a tenant: its status range, no row read
    SELECT count(*) FROM (
        SELECT 1 FROM agent_runs WHERE tenant_id = ?4 AND status = s.value LIMIT ?8
    )
)
ELSE (
    SELECT count(*) FROM (
        SELECT 1
        FROM (
            SELECT rowid AS rid FROM agent_runs WHERE ?3 IS NOT NULL AND parent_run_id = ?3
            UNION ALL
            SELECT rowid FROM agent_runs
            WHERE ?3 IS NULL AND ?2 IS NOT NULL AND agent_name = ?2 AND status = s.value
            UNION ALL
            SELECT rowid FROM agent_runs
            WHERE ?3 IS NULL AND ?2 IS NULL AND ?4 IS NOT NULL AND tenant_id = ?4
              AND status = s.value
            UNION ALL
            SELECT rowid FROM agent_runs
            WHERE ?3 IS NULL AND ?2 IS NULL AND ?4 IS NULL AND status = s.value
        ) AS pick
        CROSS JOIN agent_runs ON agent_runs.rowid = pick.rid  -- CROSS JOIN: the pick drives
        WHERE agent_runs.status = s.value
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
        LIMIT ?8
    )
) END AS runs
FROM json_each(?1) AS s;

-- name: status_counts_by_meta
-- status_counts with a metadata filter: the metadata index's hits, found once, drive.
WITH hit AS MATERIALIZED (
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
)
SELECT s.value AS status, (
    SELECT count(*) FROM (
        SELECT 1
        FROM hit CROSS JOIN agent_runs ON agent_runs.id = hit.run_id
        WHERE agent_runs.status = s.value
          AND (?2 IS NULL OR agent_name = ?2)
          AND (?3 IS NULL OR parent_run_id = ?3)
          AND (?4 IS NULL OR tenant_id = ?4)
          AND (?5 IS NULL OR created_at >= ?5)
          AND (?6 IS NULL OR created_at < ?6)
        LIMIT ?8
    )
) AS runs
FROM json_each(?1) AS s;
