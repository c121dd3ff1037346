-- dendrux export / import (dendrux.transfer): every column of a run's rows, read a page
-- at a time in the order the export file lists them, and written back unchanged.
-- Column lists follow dendrux.transfer.format's tables, in order (tests/test_transfer.py
-- checks them). Ids order byte-wise (COLLATE "C"), so a file's row order is the same from
-- either dialect. The inserts have no ON CONFLICT: a row already present fails the
-- import, which runs in one transaction.

-- name: transfer_run_tree
-- Run $1 and its descendants, parents before children (depth, then time, then id);
-- parent links are walked from the root (never back into it) at most $2 levels down.
WITH RECURSIVE down (id, depth) AS (
    SELECT id, 0 FROM agent_runs WHERE id = $1
    UNION ALL
    SELECT r.id, down.depth + 1
    FROM down JOIN agent_runs r ON r.parent_run_id = down.id
    WHERE r.id <> $1 AND down.depth < $2::integer
)
SELECT r.id, down.depth FROM down JOIN agent_runs r ON r.id = down.id
ORDER BY down.depth, r.created_at, r.id COLLATE "C";

-- name: transfer_run
-- Every column of one run (pause_data and pii_mapping included).
SELECT id, tenant_id, agent_name, status, input_data, output_data, iteration_count, model,
       strategy, parent_run_id, delegation_level, retry_of_run_id, total_input_tokens,
       total_output_tokens, total_cost_usd, total_cache_read_tokens,
       total_cache_creation_tokens, total_reasoning_tokens, meta, pause_data, pii_mapping,
       error, last_progress_at, failure_reason, idempotency_key, idempotency_fingerprint,
       cancel_requested, pause_requested, created_at, updated_at
FROM agent_runs WHERE id = $1;

-- name: transfer_insert_run
-- One agent_runs row exactly as the file holds it.
INSERT INTO agent_runs (
    id, tenant_id, agent_name, status, input_data, output_data, iteration_count, model,
    strategy, parent_run_id, delegation_level, retry_of_run_id, total_input_tokens,
    total_output_tokens, total_cost_usd, total_cache_read_tokens,
    total_cache_creation_tokens, total_reasoning_tokens, meta, pause_data, pii_mapping,
    error, last_progress_at, failure_reason, idempotency_key, idempotency_fingerprint,
    cancel_requested, pause_requested, created_at, updated_at
) VALUES (
    $1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
    $17, $18, $19::jsonb, $20::jsonb, $21::jsonb, $22, $23, $24, $25, $26, $27, $28, $29,
    $30
);

-- name: transfer_traces
-- A page of run $1's react_traces rows: order_index above $2, at most $3.
SELECT id, agent_run_id, role, content, order_index, meta, created_at, updated_at
FROM react_traces WHERE agent_run_id = $1 AND order_index > $2::bigint
ORDER BY order_index LIMIT $3::integer;

-- name: transfer_insert_trace
-- One react_traces row exactly as the file holds it.
INSERT INTO react_traces (
    id, agent_run_id, role, content, order_index, meta, created_at, updated_at
) VALUES (
    $1, $2, $3, $4, $5, $6::jsonb, $7, $8
);

-- name: transfer_tool_calls
-- A page of run $1's tool_calls rows after the ($2 created_at, $3 id) cursor
-- ($2 NULL: from the start), at most $4.
SELECT id, agent_run_id, tool_call_id, provider_tool_call_id, tool_name, target, params,
       result, success, duration_ms, iteration_index, error_message, meta, created_at,
       updated_at
FROM tool_calls
WHERE agent_run_id = $1
  AND ($2::timestamptz IS NULL OR created_at > $2
       OR (created_at = $2 AND id COLLATE "C" > $3::text))
ORDER BY created_at, id COLLATE "C" LIMIT $4::integer;

-- name: transfer_insert_tool_call
-- One tool_calls row exactly as the file holds it.
INSERT INTO tool_calls (
    id, agent_run_id, tool_call_id, provider_tool_call_id, tool_name, target, params,
    result, success, duration_ms, iteration_index, error_message, meta, created_at,
    updated_at
) VALUES (
    $1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11, $12, $13::jsonb, $14, $15
);

-- name: transfer_token_usage
-- A page of run $1's token_usage rows after the ($2 created_at, $3 id) cursor
-- ($2 NULL: from the start), at most $4.
SELECT id, agent_run_id, iteration_index, model, provider, input_tokens, output_tokens,
       cost_usd, duration_ms, cache_read_input_tokens, cache_creation_input_tokens,
       reasoning_tokens, meta, created_at
FROM token_usage
WHERE agent_run_id = $1
  AND ($2::timestamptz IS NULL OR created_at > $2
       OR (created_at = $2 AND id COLLATE "C" > $3::text))
ORDER BY created_at, id COLLATE "C" LIMIT $4::integer;

-- name: transfer_insert_usage
-- One token_usage row exactly as the file holds it.
INSERT INTO token_usage (
    id, agent_run_id, iteration_index, model, provider, input_tokens, output_tokens,
    cost_usd, duration_ms, cache_read_input_tokens, cache_creation_input_tokens,
    reasoning_tokens, meta, created_at
) VALUES (
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14
);

-- name: transfer_llm_interactions
-- A page of run $1's llm_interactions rows after the ($2 created_at, $3 id) cursor
-- ($2 NULL: from the start), at most $4.
SELECT id, agent_run_id, iteration_index, model, provider, semantic_request,
       semantic_response, provider_request, provider_response, input_tokens, output_tokens,
       cost_usd, duration_ms, cache_read_input_tokens, cache_creation_input_tokens,
       reasoning_tokens, guardrail_findings, created_at
FROM llm_interactions
WHERE agent_run_id = $1
  AND ($2::timestamptz IS NULL OR created_at > $2
       OR (created_at = $2 AND id COLLATE "C" > $3::text))
ORDER BY created_at, id COLLATE "C" LIMIT $4::integer;

-- name: transfer_insert_llm_interaction
-- One llm_interactions row exactly as the file holds it.
INSERT INTO llm_interactions (
    id, agent_run_id, iteration_index, model, provider, semantic_request, semantic_response,
    provider_request, provider_response, input_tokens, output_tokens, cost_usd, duration_ms,
    cache_read_input_tokens, cache_creation_input_tokens, reasoning_tokens,
    guardrail_findings, created_at
) VALUES (
    $1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9::jsonb, $10, $11, $12, $13, $14,
    $15, $16, $17::jsonb, $18
);

-- name: transfer_events
-- A page of run $1's run_events rows: sequence_index above $2, at most $3.
SELECT id, agent_run_id, event_type, sequence_index, iteration_index, correlation_id, data,
       created_at
FROM run_events WHERE agent_run_id = $1 AND sequence_index > $2::bigint
ORDER BY sequence_index LIMIT $3::integer;

-- name: transfer_insert_event
-- One run_events row exactly as the file holds it.
INSERT INTO run_events (
    id, agent_run_id, event_type, sequence_index, iteration_index, correlation_id, data,
    created_at
) VALUES (
    $1, $2, $3, $4, $5, $6, $7::jsonb, $8
);

-- name: transfer_notes
-- A page of run $1's run_inbox rows after the ($2 created_at, $3 id) cursor
-- ($2 NULL: from the start), at most $4.
SELECT id, run_id, text, metadata, created_at, delivered_at, delivered_iteration
FROM run_inbox
WHERE run_id = $1
  AND ($2::timestamptz IS NULL OR created_at > $2
       OR (created_at = $2 AND id COLLATE "C" > $3::text))
ORDER BY created_at, id COLLATE "C" LIMIT $4::integer;

-- name: transfer_insert_note
-- One run_inbox row exactly as the file holds it.
INSERT INTO run_inbox (
    id, run_id, text, metadata, created_at, delivered_at, delivered_iteration
) VALUES (
    $1, $2, $3, $4::jsonb, $5, $6, $7
);
