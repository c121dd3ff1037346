-- Adopting a database written by dendrux 0.4.1 (PostgreSQL): see dendrux/db/adopt.py
-- and docs/adopting-0.4.1.md. The checks read only; the conversion moves 0.4.1's seven
-- tables aside (into the dendrux_adopt_upstream schema, indexes and constraints with them),
-- creates ours with the numbered migrations, copies every row converting what converts
-- losslessly, and drops the old tables, all in one transaction.

-- name: adopt_table_columns
-- Every column of the seven tables adoption converts.
SELECT table_name::text AS table_name, column_name::text AS column_name
FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name IN ('agent_runs', 'react_traces', 'tool_calls', 'token_usage', 'llm_interactions', 'run_events', 'run_inbox');

-- name: adopt_duplicate_slots
-- Slots our unique constraints refuse that 0.4.1 stored twice (run, slot, copies).
SELECT 'run_events' AS table_name, agent_run_id AS run_id, CAST(sequence_index AS TEXT) AS slot,
       count(*) AS copies
FROM run_events GROUP BY agent_run_id, sequence_index HAVING count(*) > 1
UNION ALL
SELECT 'react_traces', agent_run_id, CAST(order_index AS TEXT), count(*)
FROM react_traces GROUP BY agent_run_id, order_index HAVING count(*) > 1
UNION ALL
SELECT 'tool_calls', agent_run_id, tool_call_id, count(*)
FROM tool_calls GROUP BY agent_run_id, tool_call_id HAVING count(*) > 1
ORDER BY 1, 2, 3
LIMIT 50;

-- name: adopt_bad_timestamps
-- Timestamps missing where our schema requires one (0.4.1 allows a NULL run_events.created_at).
SELECT 'agent_runs' AS table_name, 'created_at' AS column_name, id FROM agent_runs
WHERE created_at IS NULL
UNION ALL
SELECT 'agent_runs' AS table_name, 'updated_at' AS column_name, id FROM agent_runs
WHERE updated_at IS NULL
UNION ALL
SELECT 'react_traces' AS table_name, 'created_at' AS column_name, id FROM react_traces
WHERE created_at IS NULL
UNION ALL
SELECT 'react_traces' AS table_name, 'updated_at' AS column_name, id FROM react_traces
WHERE updated_at IS NULL
UNION ALL
SELECT 'tool_calls' AS table_name, 'created_at' AS column_name, id FROM tool_calls
WHERE created_at IS NULL
UNION ALL
SELECT 'tool_calls' AS table_name, 'updated_at' AS column_name, id FROM tool_calls
WHERE updated_at IS NULL
UNION ALL
SELECT 'token_usage' AS table_name, 'created_at' AS column_name, id FROM token_usage
WHERE created_at IS NULL
UNION ALL
SELECT 'llm_interactions' AS table_name, 'created_at' AS column_name, id FROM llm_interactions
WHERE created_at IS NULL
UNION ALL
SELECT 'run_events' AS table_name, 'created_at' AS column_name, id FROM run_events
WHERE created_at IS NULL
UNION ALL
SELECT 'run_inbox' AS table_name, 'created_at' AS column_name, id FROM run_inbox
WHERE created_at IS NULL
LIMIT 50;

-- name: adopt_create_stash
-- A schema of its own for 0.4.1's tables while ours are made (index names are global).
CREATE SCHEMA dendrux_adopt_upstream;

-- name: adopt_stash_agent_runs
-- Move 0.4.1's agent_runs aside.
ALTER TABLE agent_runs SET SCHEMA dendrux_adopt_upstream;

-- name: adopt_stash_react_traces
-- Move 0.4.1's react_traces aside.
ALTER TABLE react_traces SET SCHEMA dendrux_adopt_upstream;

-- name: adopt_stash_tool_calls
-- Move 0.4.1's tool_calls aside.
ALTER TABLE tool_calls SET SCHEMA dendrux_adopt_upstream;

-- name: adopt_stash_token_usage
-- Move 0.4.1's token_usage aside.
ALTER TABLE token_usage SET SCHEMA dendrux_adopt_upstream;

-- name: adopt_stash_llm_interactions
-- Move 0.4.1's llm_interactions aside.
ALTER TABLE llm_interactions SET SCHEMA dendrux_adopt_upstream;

-- name: adopt_stash_run_events
-- Move 0.4.1's run_events aside.
ALTER TABLE run_events SET SCHEMA dendrux_adopt_upstream;

-- name: adopt_stash_run_inbox
-- Move 0.4.1's run_inbox aside.
ALTER TABLE run_inbox SET SCHEMA dendrux_adopt_upstream;

-- name: adopt_copy_agent_runs
-- Every row of 0.4.1's agent_runs into ours.
INSERT INTO agent_runs (
    id, tenant_id, agent_name, status, input_data, output_data, iteration_count, model, strategy, parent_run_id, delegation_level, retry_of_run_id, total_input_tokens, total_output_tokens, total_cost_usd, total_cache_read_tokens, total_cache_creation_tokens, total_reasoning_tokens, meta, pause_data, pii_mapping, error, last_progress_at, failure_reason, idempotency_key, idempotency_fingerprint, cancel_requested, created_at, updated_at, pause_requested
)
SELECT id,
       tenant_id,
       agent_name,
       status,
       CASE WHEN json_typeof(input_data) = 'null' THEN NULL ELSE input_data::jsonb END,
       CASE WHEN json_typeof(output_data) = 'null' THEN NULL ELSE output_data::jsonb END,
       COALESCE(iteration_count, 0),
       model,
       strategy,
       parent_run_id,
       COALESCE(delegation_level, 0),
       retry_of_run_id,
       COALESCE(total_input_tokens, 0),
       COALESCE(total_output_tokens, 0),
       total_cost_usd::float8,
       COALESCE(total_cache_read_tokens, 0),
       COALESCE(total_cache_creation_tokens, 0),
       COALESCE(total_reasoning_tokens, 0),
       CASE WHEN json_typeof(meta) = 'null' THEN NULL ELSE meta::jsonb END,
       CASE WHEN json_typeof(pause_data) = 'null' THEN NULL ELSE pause_data::jsonb END,
       CASE WHEN json_typeof(pii_mapping) = 'null' THEN NULL ELSE pii_mapping::jsonb END,
       error,
       last_progress_at,
       failure_reason,
       idempotency_key,
       idempotency_fingerprint,
       COALESCE(cancel_requested, FALSE),
       created_at,
       updated_at,
       COALESCE(pause_requested, FALSE)
FROM dendrux_adopt_upstream.agent_runs;

-- name: adopt_copy_react_traces
-- Every row of 0.4.1's react_traces into ours.
INSERT INTO react_traces (
    id, agent_run_id, role, content, order_index, meta, created_at, updated_at
)
SELECT id,
       agent_run_id,
       role,
       content,
       order_index,
       CASE WHEN json_typeof(meta) = 'null' THEN NULL ELSE meta::jsonb END,
       created_at,
       updated_at
FROM dendrux_adopt_upstream.react_traces;

-- name: adopt_copy_tool_calls
-- Every row of 0.4.1's tool_calls into ours.
INSERT INTO tool_calls (
    id, agent_run_id, tool_call_id, provider_tool_call_id, tool_name, target, params, result, success, duration_ms, iteration_index, error_message, meta, created_at, updated_at
)
SELECT id,
       agent_run_id,
       tool_call_id,
       provider_tool_call_id,
       tool_name,
       COALESCE(target, 'server'),
       CASE WHEN json_typeof(params) = 'null' THEN NULL ELSE params::jsonb END,
       CASE WHEN json_typeof(result) = 'null' THEN NULL ELSE result::jsonb END,
       success,
       duration_ms,
       iteration_index,
       error_message,
       CASE WHEN json_typeof(meta) = 'null' THEN NULL ELSE meta::jsonb END,
       created_at,
       updated_at
FROM dendrux_adopt_upstream.tool_calls;

-- name: adopt_copy_token_usage
-- Every row of 0.4.1's token_usage into ours.
INSERT INTO token_usage (
    id, agent_run_id, iteration_index, model, provider, input_tokens, output_tokens, cost_usd, duration_ms, cache_read_input_tokens, cache_creation_input_tokens, reasoning_tokens, meta, created_at
)
SELECT id,
       agent_run_id,
       iteration_index,
       model,
       provider,
       COALESCE(input_tokens, 0),
       COALESCE(output_tokens, 0),
       cost_usd::float8,
       duration_ms,
       cache_read_input_tokens,
       cache_creation_input_tokens,
       reasoning_tokens,
       CASE WHEN json_typeof(meta) = 'null' THEN NULL ELSE meta::jsonb END,
       created_at
FROM dendrux_adopt_upstream.token_usage;

-- name: adopt_copy_llm_interactions
-- Every row of 0.4.1's llm_interactions into ours.
INSERT INTO llm_interactions (
    id, agent_run_id, iteration_index, model, provider, semantic_request, semantic_response, provider_request, provider_response, input_tokens, output_tokens, cost_usd, duration_ms, cache_read_input_tokens, cache_creation_input_tokens, reasoning_tokens, guardrail_findings, created_at
)
SELECT id,
       agent_run_id,
       iteration_index,
       model,
       provider,
       CASE WHEN json_typeof(semantic_request) = 'null' THEN NULL ELSE semantic_request::jsonb END,
       CASE WHEN json_typeof(semantic_response) = 'null' THEN NULL ELSE semantic_response::jsonb END,
       CASE WHEN json_typeof(provider_request) = 'null' THEN NULL ELSE provider_request::jsonb END,
       CASE WHEN json_typeof(provider_response) = 'null' THEN NULL ELSE provider_response::jsonb END,
       COALESCE(input_tokens, 0),
       COALESCE(output_tokens, 0),
       cost_usd::float8,
       duration_ms,
       cache_read_input_tokens,
       cache_creation_input_tokens,
       reasoning_tokens,
       CASE WHEN json_typeof(guardrail_findings) = 'null' THEN NULL ELSE guardrail_findings::jsonb END,
       created_at
FROM dendrux_adopt_upstream.llm_interactions;

-- name: adopt_copy_run_events
-- Every row of 0.4.1's run_events into ours.
INSERT INTO run_events (
    id, agent_run_id, event_type, sequence_index, iteration_index, correlation_id, data, created_at
)
SELECT id,
       agent_run_id,
       event_type,
       sequence_index,
       COALESCE(iteration_index, 0),
       correlation_id,
       CASE WHEN json_typeof(data) = 'null' THEN NULL ELSE data::jsonb END,
       created_at
FROM dendrux_adopt_upstream.run_events;

-- name: adopt_copy_run_inbox
-- Every row of 0.4.1's run_inbox into ours.
INSERT INTO run_inbox (
    id, run_id, text, metadata, created_at, delivered_at, delivered_iteration
)
SELECT id,
       run_id,
       text,
       CASE WHEN json_typeof(metadata) = 'null' THEN NULL ELSE metadata::jsonb END,
       created_at,
       delivered_at,
       delivered_iteration
FROM dendrux_adopt_upstream.run_inbox;

-- name: adopt_drop_react_traces
-- 0.4.1's react_traces, now copied.
DROP TABLE dendrux_adopt_upstream.react_traces CASCADE;

-- name: adopt_drop_tool_calls
-- 0.4.1's tool_calls, now copied.
DROP TABLE dendrux_adopt_upstream.tool_calls CASCADE;

-- name: adopt_drop_token_usage
-- 0.4.1's token_usage, now copied.
DROP TABLE dendrux_adopt_upstream.token_usage CASCADE;

-- name: adopt_drop_llm_interactions
-- 0.4.1's llm_interactions, now copied.
DROP TABLE dendrux_adopt_upstream.llm_interactions CASCADE;

-- name: adopt_drop_run_events
-- 0.4.1's run_events, now copied.
DROP TABLE dendrux_adopt_upstream.run_events CASCADE;

-- name: adopt_drop_run_inbox
-- 0.4.1's run_inbox, now copied.
DROP TABLE dendrux_adopt_upstream.run_inbox CASCADE;

-- name: adopt_drop_agent_runs
-- 0.4.1's agent_runs, now copied.
DROP TABLE dendrux_adopt_upstream.agent_runs CASCADE;

-- name: adopt_finish
-- Drop the emptied stash schema and point dendrux_blob_refs (0.4.1's image references,
-- left as they are) back at agent_runs: dropping the old table dropped its foreign key.
DO $$
BEGIN
    DROP SCHEMA dendrux_adopt_upstream;
    IF to_regclass('dendrux_blob_refs') IS NOT NULL THEN
        ALTER TABLE dendrux_blob_refs ADD CONSTRAINT dendrux_blob_refs_run_id_fkey
            FOREIGN KEY (run_id) REFERENCES agent_runs (id) ON DELETE CASCADE;
    END IF;
END
$$;
