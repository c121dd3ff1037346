-- dendrux schema v2 for SQLite: an index for metadata filters.
--
-- agent_run_meta holds one row per top-level scalar of agent_runs.meta, so that
-- list_runs / count_runs(metadata_filter=...) seek an index on (key, kind, value)
-- instead of reading every run's JSON. kind is 'text', 'number' (JSON integers
-- and reals alike, so 1 = 1.0), 'true', 'false' or 'null'; value is what
-- json_each reports as the SQL value (text, integer or real; 1/0 for true/false;
-- NULL for null). Arrays, objects and meta that is not a JSON object get no row:
-- a scalar filter never matches them, as with PostgreSQL's meta @> filter.
-- Duplicate keys keep the last value, as JSONB does.
--
-- Kept in sync by triggers on insert and on update of meta; removed with its
-- run by the foreign key (the insert trigger also clears rows a run id left
-- behind when deleted with foreign keys off). PostgreSQL needs none of this:
-- its GIN index on meta serves the same filter (0002 is empty there).

CREATE TABLE agent_run_meta (
    agent_run_id TEXT NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
    key          TEXT NOT NULL,
    kind         TEXT NOT NULL,
    value,       -- no declared type, so no affinity: the text '1' never becomes 1
    PRIMARY KEY (agent_run_id, key)
) WITHOUT ROWID;
CREATE INDEX ix_agent_run_meta_lookup ON agent_run_meta (key, kind, value);

CREATE TRIGGER tr_agent_runs_meta_insert AFTER INSERT ON agent_runs
BEGIN
    DELETE FROM agent_run_meta WHERE agent_run_id = NEW.id;
    INSERT OR REPLACE INTO agent_run_meta (agent_run_id, key, kind, value)
    SELECT NEW.id, e.key,
           CASE e.type WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number' ELSE e.type END,
           e.atom
    FROM json_each(CASE WHEN json_valid(NEW.meta) AND json_type(NEW.meta) = 'object'
                        THEN NEW.meta END) AS e
    WHERE e.type NOT IN ('array', 'object');
END;

CREATE TRIGGER tr_agent_runs_meta_update AFTER UPDATE OF meta ON agent_runs
WHEN NEW.meta IS NOT OLD.meta
BEGIN
    DELETE FROM agent_run_meta WHERE agent_run_id = OLD.id;
    INSERT OR REPLACE INTO agent_run_meta (agent_run_id, key, kind, value)
    SELECT NEW.id, e.key,
           CASE e.type WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number' ELSE e.type END,
           e.atom
    FROM json_each(CASE WHEN json_valid(NEW.meta) AND json_type(NEW.meta) = 'object'
                        THEN NEW.meta END) AS e
    WHERE e.type NOT IN ('array', 'object');
END;

-- Backfill the runs written before this migration.
INSERT OR REPLACE INTO agent_run_meta (agent_run_id, key, kind, value)
SELECT r.id, e.key,
       CASE e.type WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number' ELSE e.type END,
       e.atom
FROM agent_runs AS r,
     json_each(CASE WHEN json_valid(r.meta) AND json_type(r.meta) = 'object'
                    THEN r.meta END) AS e
WHERE e.type NOT IN ('array', 'object');
