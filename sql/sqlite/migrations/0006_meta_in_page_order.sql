-- dendrux schema v6 for SQLite: a one-key metadata listing reads only its page.
--
-- agent_run_meta gets each run's created_at (copied: a run's created_at never
-- changes), and its index becomes (key, kind, value, created_at DESC,
-- agent_run_id DESC): the hits of one (key, kind, value) come in the listing's
-- order (newest first, ties by id DESC), so list_runs with a one-key filter walks
-- the index and stops after its page instead of reading and sorting every hit.
-- The new index starts with the old one's columns, so the counts and the
-- multi-key queries seek it exactly as they sought ix_agent_run_meta_lookup,
-- which it replaces. PostgreSQL's 0006 is empty (its GIN index serves the filter).

DROP INDEX IF EXISTS ix_agent_run_meta_lookup;

ALTER TABLE agent_run_meta ADD COLUMN created_at TEXT;

-- Backfill before the index exists: one write per row, no index upkeep.
UPDATE agent_run_meta
SET created_at = (SELECT r.created_at FROM agent_runs AS r WHERE r.id = agent_run_meta.agent_run_id);

CREATE INDEX ix_agent_run_meta_page
    ON agent_run_meta (key, kind, value, created_at DESC, agent_run_id DESC);

DROP TRIGGER IF EXISTS tr_agent_runs_meta_insert;
DROP TRIGGER IF EXISTS tr_agent_runs_meta_update;

CREATE TRIGGER tr_agent_runs_meta_insert AFTER INSERT ON agent_runs
BEGIN
    DELETE FROM agent_run_meta WHERE agent_run_id = NEW.id;
    INSERT OR REPLACE INTO agent_run_meta (agent_run_id, key, kind, value, created_at)
    SELECT NEW.id, e.key,
           CASE e.type WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number' ELSE e.type END,
           e.atom, NEW.created_at
    FROM json_each(CASE WHEN json_valid(NEW.meta) AND json_type(NEW.meta) = 'object'
                        THEN NEW.meta END) AS e
    WHERE e.type NOT IN ('array', 'object');
END;

CREATE TRIGGER tr_agent_runs_meta_update AFTER UPDATE OF meta ON agent_runs
WHEN NEW.meta IS NOT OLD.meta
BEGIN
    DELETE FROM agent_run_meta WHERE agent_run_id = OLD.id;
    INSERT OR REPLACE INTO agent_run_meta (agent_run_id, key, kind, value, created_at)
    SELECT NEW.id, e.key,
           CASE e.type WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number' ELSE e.type END,
           e.atom, NEW.created_at
    FROM json_each(CASE WHEN json_valid(NEW.meta) AND json_type(NEW.meta) = 'object'
                        THEN NEW.meta END) AS e
    WHERE e.type NOT IN ('array', 'object');
END;
