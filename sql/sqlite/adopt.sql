-- Adopting a database written by dendrux 0.4.1 (SQLite): see dendrux/db/adopt.py
-- and docs/adopting-0.4.1.md. The checks read only; the conversion moves 0.4.1's seven
-- tables aside (renamed, with legacy_alter_table on so other tables' references stay),
-- creates ours with the numbered migrations, copies every row converting what converts
-- losslessly, and drops the old tables, all in one transaction.

-- name: adopt_table_columns
-- Every column of the seven tables adoption converts.
SELECT m.name AS table_name, p.name AS column_name
FROM sqlite_master AS m, pragma_table_info(m.name) AS p
WHERE m.type = 'table' AND m.name IN ('agent_runs', 'react_traces', 'tool_calls', 'token_usage', 'llm_interactions', 'run_events', 'run_inbox');

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
-- Timestamps that are not 0.4.1's naive UTC text ('YYYY-MM-DD HH:MM:SS[.ffffff]'),
-- or missing where our schema requires one: not converted by guesswork.
SELECT 'agent_runs' AS table_name, 'last_progress_at' AS column_name, id FROM agent_runs
WHERE NOT (last_progress_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]' OR last_progress_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]')
UNION ALL
SELECT 'agent_runs' AS table_name, 'created_at' AS column_name, id FROM agent_runs
WHERE created_at IS NULL OR NOT (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]' OR created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]')
UNION ALL
SELECT 'agent_runs' AS table_name, 'updated_at' AS column_name, id FROM agent_runs
WHERE updated_at IS NULL OR NOT (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]' OR updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]')
UNION ALL
SELECT 'react_traces' AS table_name, 'created_at' AS column_name, id FROM react_traces
WHERE created_at IS NULL OR NOT (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]' OR created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]')
UNION ALL
SELECT 'react_traces' AS table_name, 'updated_at' AS column_name, id FROM react_traces
WHERE updated_at IS NULL OR NOT (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]' OR updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]')
UNION ALL
SELECT 'tool_calls' AS table_name, 'created_at' AS column_name, id FROM tool_calls
WHERE created_at IS NULL OR NOT (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]' OR created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]')
UNION ALL
SELECT 'tool_calls' AS table_name, 'updated_at' AS column_name, id FROM tool_calls
WHERE updated_at IS NULL OR NOT (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]' OR updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]')
UNION ALL
SELECT 'token_usage' AS table_name, 'created_at' AS column_name, id FROM token_usage
WHERE created_at IS NULL OR NOT (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]' OR created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]')
UNION ALL
SELECT 'llm_interactions' AS table_name, 'created_at' AS column_name, id FROM llm_interactions
WHERE created_at IS NULL OR NOT (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]' OR created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]')
UNION ALL
SELECT 'run_events' AS table_name, 'created_at' AS column_name, id FROM run_events
WHERE created_at IS NULL OR NOT (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]' OR created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]')
UNION ALL
SELECT 'run_inbox' AS table_name, 'created_at' AS column_name, id FROM run_inbox
WHERE created_at IS NULL OR NOT (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]' OR created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]')
UNION ALL
SELECT 'run_inbox' AS table_name, 'delivered_at' AS column_name, id FROM run_inbox
WHERE NOT (delivered_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]' OR delivered_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]')
LIMIT 50;

-- name: adopt_legacy_alter
-- Renaming a table must leave other tables' references (dendrux_blob_refs) as they are.
PRAGMA legacy_alter_table = ON;

-- name: adopt_foreign_keys_off
-- Off (outside the transaction) while tables are swapped: no cascade, no rewritten references.
PRAGMA foreign_keys = OFF;

-- name: adopt_backup
-- The whole database copied to ?1 before anything changes (restore by copying it back).
VACUUM INTO ?1;

-- name: adopt_stash_agent_runs
-- Move 0.4.1's agent_runs aside.
ALTER TABLE agent_runs RENAME TO adopt_upstream_agent_runs;

-- name: adopt_stash_react_traces
-- Move 0.4.1's react_traces aside.
ALTER TABLE react_traces RENAME TO adopt_upstream_react_traces;

-- name: adopt_stash_tool_calls
-- Move 0.4.1's tool_calls aside.
ALTER TABLE tool_calls RENAME TO adopt_upstream_tool_calls;

-- name: adopt_stash_token_usage
-- Move 0.4.1's token_usage aside.
ALTER TABLE token_usage RENAME TO adopt_upstream_token_usage;

-- name: adopt_stash_llm_interactions
-- Move 0.4.1's llm_interactions aside.
ALTER TABLE llm_interactions RENAME TO adopt_upstream_llm_interactions;

-- name: adopt_stash_run_events
-- Move 0.4.1's run_events aside.
ALTER TABLE run_events RENAME TO adopt_upstream_run_events;

-- name: adopt_stash_run_inbox
-- Move 0.4.1's run_inbox aside.
ALTER TABLE run_inbox RENAME TO adopt_upstream_run_inbox;

-- name: adopt_copy_agent_runs
-- Every row of 0.4.1's agent_runs into ours.
INSERT INTO agent_runs (
    id, tenant_id, agent_name, status, input_data, output_data, iteration_count, model, strategy, parent_run_id, delegation_level, retry_of_run_id, total_input_tokens, total_output_tokens, total_cost_usd, total_cache_read_tokens, total_cache_creation_tokens, total_reasoning_tokens, meta, pause_data, pii_mapping, error, last_progress_at, failure_reason, idempotency_key, idempotency_fingerprint, cancel_requested, created_at, updated_at, pause_requested
)
SELECT id,
       tenant_id,
       agent_name,
       status,
       NULLIF(input_data, 'null'),
       NULLIF(output_data, 'null'),
       COALESCE(iteration_count, 0),
       model,
       strategy,
       parent_run_id,
       COALESCE(delegation_level, 0),
       retry_of_run_id,
       COALESCE(total_input_tokens, 0),
       COALESCE(total_output_tokens, 0),
       total_cost_usd,
       COALESCE(total_cache_read_tokens, 0),
       COALESCE(total_cache_creation_tokens, 0),
       COALESCE(total_reasoning_tokens, 0),
       NULLIF(meta, 'null'),
       NULLIF(pause_data, 'null'),
       NULLIF(pii_mapping, 'null'),
       error,
       substr(last_progress_at, 1, 10) || 'T' || substr(last_progress_at, 12, 8) || '.' || substr(substr(last_progress_at, 21) || '000000', 1, 6) || '+00:00',
       failure_reason,
       idempotency_key,
       idempotency_fingerprint,
       COALESCE(cancel_requested, 0),
       substr(created_at, 1, 10) || 'T' || substr(created_at, 12, 8) || '.' || substr(substr(created_at, 21) || '000000', 1, 6) || '+00:00',
       substr(updated_at, 1, 10) || 'T' || substr(updated_at, 12, 8) || '.' || substr(substr(updated_at, 21) || '000000', 1, 6) || '+00:00',
       COALESCE(pause_requested, 0)
FROM adopt_upstream_agent_runs;

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
       NULLIF(meta, 'null'),
       substr(created_at, 1, 10) || 'T' || substr(created_at, 12, 8) || '.' || substr(substr(created_at, 21) || '000000', 1, 6) || '+00:00',
       substr(updated_at, 1, 10) || 'T' || substr(updated_at, 12, 8) || '.' || substr(substr(updated_at, 21) || '000000', 1, 6) || '+00:00'
FROM adopt_upstream_react_traces;

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
       NULLIF(params, 'null'),
       NULLIF(result, 'null'),
       success,
       duration_ms,
       iteration_index,
       error_message,
       NULLIF(meta, 'null'),
       substr(created_at, 1, 10) || 'T' || substr(created_at, 12, 8) || '.' || substr(substr(created_at, 21) || '000000', 1, 6) || '+00:00',
       substr(updated_at, 1, 10) || 'T' || substr(updated_at, 12, 8) || '.' || substr(substr(updated_at, 21) || '000000', 1, 6) || '+00:00'
FROM adopt_upstream_tool_calls;

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
       cost_usd,
       duration_ms,
       cache_read_input_tokens,
       cache_creation_input_tokens,
       reasoning_tokens,
       NULLIF(meta, 'null'),
       substr(created_at, 1, 10) || 'T' || substr(created_at, 12, 8) || '.' || substr(substr(created_at, 21) || '000000', 1, 6) || '+00:00'
FROM adopt_upstream_token_usage;

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
       NULLIF(semantic_request, 'null'),
       NULLIF(semantic_response, 'null'),
       NULLIF(provider_request, 'null'),
       NULLIF(provider_response, 'null'),
       COALESCE(input_tokens, 0),
       COALESCE(output_tokens, 0),
       cost_usd,
       duration_ms,
       cache_read_input_tokens,
       cache_creation_input_tokens,
       reasoning_tokens,
       NULLIF(guardrail_findings, 'null'),
       substr(created_at, 1, 10) || 'T' || substr(created_at, 12, 8) || '.' || substr(substr(created_at, 21) || '000000', 1, 6) || '+00:00'
FROM adopt_upstream_llm_interactions;

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
       NULLIF(data, 'null'),
       substr(created_at, 1, 10) || 'T' || substr(created_at, 12, 8) || '.' || substr(substr(created_at, 21) || '000000', 1, 6) || '+00:00'
FROM adopt_upstream_run_events;

-- name: adopt_copy_run_inbox
-- Every row of 0.4.1's run_inbox into ours.
INSERT INTO run_inbox (
    id, run_id, text, metadata, created_at, delivered_at, delivered_iteration
)
SELECT id,
       run_id,
       text,
       NULLIF(metadata, 'null'),
       substr(created_at, 1, 10) || 'T' || substr(created_at, 12, 8) || '.' || substr(substr(created_at, 21) || '000000', 1, 6) || '+00:00',
       substr(delivered_at, 1, 10) || 'T' || substr(delivered_at, 12, 8) || '.' || substr(substr(delivered_at, 21) || '000000', 1, 6) || '+00:00',
       delivered_iteration
FROM adopt_upstream_run_inbox;

-- name: adopt_foreign_key_problems
-- Rows of our tables whose parent row is missing after the copy.
SELECT "table" AS table_name, rowid, parent FROM pragma_foreign_key_check
WHERE "table" IN ('agent_runs', 'react_traces', 'tool_calls', 'token_usage', 'llm_interactions', 'run_events', 'run_inbox')
LIMIT 50;

-- name: adopt_drop_react_traces
-- 0.4.1's react_traces, now copied.
DROP TABLE adopt_upstream_react_traces;

-- name: adopt_drop_tool_calls
-- 0.4.1's tool_calls, now copied.
DROP TABLE adopt_upstream_tool_calls;

-- name: adopt_drop_token_usage
-- 0.4.1's token_usage, now copied.
DROP TABLE adopt_upstream_token_usage;

-- name: adopt_drop_llm_interactions
-- 0.4.1's llm_interactions, now copied.
DROP TABLE adopt_upstream_llm_interactions;

-- name: adopt_drop_run_events
-- 0.4.1's run_events, now copied.
DROP TABLE adopt_upstream_run_events;

-- name: adopt_drop_run_inbox
-- 0.4.1's run_inbox, now copied.
DROP TABLE adopt_upstream_run_inbox;

-- name: adopt_drop_agent_runs
-- 0.4.1's agent_runs, now copied.
DROP TABLE adopt_upstream_agent_runs;

-- name: adopt_finish
-- Back to SQLite's default ALTER TABLE behaviour.
PRAGMA legacy_alter_table = OFF;
