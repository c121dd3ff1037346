-- dendrux schema v7 for PostgreSQL: lz4 compression for the big payload columns.
--
-- The recorder's LLM-call row carries ~7 KB of JSON in four JSONB columns; values
-- that large are compressed when toasted, and with the server's default (pglz) that
-- compression was about a third of the statement's execution (bench.pgcost, 200 runs
-- x 8: record_llm_call 0.40-0.52 ms with pglz, 0.29-0.35 ms with lz4; server CPU per
-- hook 0.03-0.05 ms less). A library cannot count on default_toast_compression being
-- set, so the columns ask for lz4 themselves.
--
-- Only on PostgreSQL 14+ built with lz4 (--with-lz4): elsewhere (13, or a server
-- without lz4) this migration does nothing and the columns keep the server default.
-- The ALTERs are constant strings run by EXECUTE, not plain statements, because
-- PL/pgSQL parses a DO block's plain statements before running any of it and 13's
-- grammar has no SET COMPRESSION; nothing from outside goes into them. Table names
-- are unqualified: the migrator pins search_path to the engine's schema.
--
-- SET COMPRESSION changes the catalog only: it affects values written from now on.
-- Existing rows keep the compression they were written with (both stay readable);
-- nothing is rewritten.

DO $$
BEGIN
    IF current_setting('server_version_num')::integer >= 140000
       AND EXISTS (
           SELECT 1 FROM pg_settings
           WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)
       )
    THEN
        EXECUTE 'ALTER TABLE llm_interactions'
            ' ALTER COLUMN semantic_request SET COMPRESSION lz4,'
            ' ALTER COLUMN semantic_response SET COMPRESSION lz4,'
            ' ALTER COLUMN provider_request SET COMPRESSION lz4,'
            ' ALTER COLUMN provider_response SET COMPRESSION lz4,'
            ' ALTER COLUMN guardrail_findings SET COMPRESSION lz4';
        EXECUTE 'ALTER TABLE tool_calls'
            ' ALTER COLUMN params SET COMPRESSION lz4,'
            ' ALTER COLUMN result SET COMPRESSION lz4';
        EXECUTE 'ALTER TABLE react_traces ALTER COLUMN content SET COMPRESSION lz4';
        EXECUTE 'ALTER TABLE run_events ALTER COLUMN data SET COMPRESSION lz4';
        EXECUTE 'ALTER TABLE agent_runs'
            ' ALTER COLUMN input_data SET COMPRESSION lz4,'
            ' ALTER COLUMN output_data SET COMPRESSION lz4,'
            ' ALTER COLUMN pause_data SET COMPRESSION lz4';
    END IF;
END
$$;
