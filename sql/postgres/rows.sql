-- Per-run rows: traces, tool calls, token usage, LLM interactions, events.
-- Inserts never overwrite: a taken id or slot returns no row, and the caller
-- decides whether that is its own earlier write (a retry) or a real conflict.

-- name: insert_trace
-- One message of the conversation.
INSERT INTO react_traces (id, agent_run_id, role, content, order_index, meta, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $7)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: trace_exists
-- 1 when a trace row with this id exists.
SELECT count(*) FROM react_traces WHERE id = $1;

-- name: insert_tool_call
-- Proof of one tool execution.
INSERT INTO tool_calls (
    id, agent_run_id, tool_call_id, provider_tool_call_id, tool_name, target, params, result,
    success, duration_ms, iteration_index, error_message, meta, created_at, updated_at
) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11, $12, $13::jsonb, $14, $14)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: tool_call_exists
-- 1 when a tool call row with this id exists.
SELECT count(*) FROM tool_calls WHERE id = $1;

-- name: insert_usage
-- Token and cost figures of one LLM call.
INSERT INTO token_usage (
    id, agent_run_id, iteration_index, model, provider, input_tokens, output_tokens, cost_usd,
    duration_ms, cache_read_input_tokens, cache_creation_input_tokens, reasoning_tokens, meta,
    created_at
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14)
ON CONFLICT (id) DO NOTHING;

-- name: insert_llm_interaction
-- Full forensics of one LLM call.
INSERT INTO llm_interactions (
    id, agent_run_id, iteration_index, model, provider, semantic_request, semantic_response,
    provider_request, provider_response, input_tokens, output_tokens, cost_usd, duration_ms,
    cache_read_input_tokens, cache_creation_input_tokens, reasoning_tokens, guardrail_findings,
    created_at
) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9::jsonb, $10, $11, $12, $13,
          $14, $15, $16, $17::jsonb, $18)
ON CONFLICT (id) DO NOTHING;

-- name: insert_run_event
-- One timeline event at a sequence index chosen by the caller. Streaming readers are woken
-- by the engine once it committed (wake_run_event_readers in engine.sql).
INSERT INTO run_events (
    id, agent_run_id, event_type, sequence_index, iteration_index, correlation_id, data,
    created_at
) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: run_event_exists
-- 1 when an event row with this id exists.
SELECT count(*) FROM run_events WHERE id = $1;

-- name: append_run_event
-- One timeline event at the run's next sequence index (used by sweeps); returns that index,
-- or no row (nothing inserted) when the run's indexes already reach the INTEGER maximum.
INSERT INTO run_events (
    id, agent_run_id, event_type, sequence_index, iteration_index, correlation_id, data,
    created_at
)
SELECT $1, $2::varchar, $3, next.n, $4, NULL, $5::jsonb, $6
FROM (
    SELECT COALESCE(max(sequence_index)::bigint + 1, 0) AS n
    FROM run_events WHERE agent_run_id = $2::varchar
) AS next
WHERE next.n <= 2147483647
RETURNING sequence_index;

-- name: next_event_sequence
-- max(sequence_index) + 1 of a run, 0 when it has no events (bigint: the INTEGER maximum + 1
-- is an answer, not an overflow, as on SQLite).
SELECT COALESCE(max(sequence_index)::bigint + 1, 0) FROM run_events WHERE agent_run_id = $1;

-- name: get_traces
-- A run's conversation in order; phase is meta's "phase" (0.4.1's TraceEntry.phase).
-- Columns by position: TraceEntry's fields first (as dendrux.read.records declares).
SELECT role, content, order_index, meta, created_at, meta ->> 'phase' AS phase, id
FROM react_traces WHERE agent_run_id = $1
ORDER BY order_index
LIMIT $2 OFFSET $3;

-- name: get_tool_calls
-- A run's tool executions, by iteration then time; $2 optionally picks one iteration.
-- Columns by position: ToolInvocation's fields first (as dendrux.read.records declares).
SELECT iteration_index, tool_name, tool_call_id, provider_tool_call_id, target, params, result,
       success, error_message, duration_ms, created_at, id
FROM tool_calls
WHERE agent_run_id = $1 AND ($2::integer IS NULL OR iteration_index = $2::integer)
ORDER BY iteration_index, created_at, id
LIMIT $3 OFFSET $4;

-- name: get_tool_invocations
-- get_tool_calls as RunStore reads it: a NULL iteration reads as 0 (as 0.4.1 reads it).
-- Columns by position: ToolInvocation's fields first (as dendrux.read.records declares).
SELECT COALESCE(iteration_index, 0) AS iteration_index, tool_name, tool_call_id,
       provider_tool_call_id, target, params, result, success, error_message, duration_ms, created_at, id
FROM tool_calls
WHERE agent_run_id = $1 AND ($2::integer IS NULL OR tool_calls.iteration_index = $2::integer)
ORDER BY tool_calls.iteration_index, created_at, id
LIMIT $3 OFFSET $4;

-- name: get_llm_interactions
-- A run's LLM calls, by iteration then time; $2 optionally picks one iteration.
SELECT id, iteration_index, model, provider, semantic_request, semantic_response,
       provider_request, provider_response, input_tokens, output_tokens, cost_usd, duration_ms,
       cache_read_input_tokens, cache_creation_input_tokens, reasoning_tokens, created_at
FROM llm_interactions
WHERE agent_run_id = $1 AND ($2::integer IS NULL OR iteration_index = $2::integer)
ORDER BY iteration_index, created_at, id
LIMIT $3 OFFSET $4;

-- name: get_run_events
-- A run's events after a strict cursor, optionally only the types in the array $3.
-- (Indexes start at 0, so no cursor is -1: the cursor stays an index bound in generic plans.)
-- Columns by position: StoredEvent's fields first (as dendrux.read.records declares).
SELECT sequence_index, iteration_index, event_type, correlation_id, data, created_at, id
FROM run_events
WHERE agent_run_id = $1
  AND sequence_index > COALESCE($2::integer, -1)
  AND ($3::text[] IS NULL OR event_type = ANY($3::text[]))
ORDER BY sequence_index
LIMIT $4;

-- name: get_run_events_before
-- get_run_events, only events created before the aware time $5 (0.4.1's `before`).
-- (Indexes start at 0, so no cursor is -1: the cursor stays an index bound in generic plans.)
-- Columns by position: StoredEvent's fields first (as dendrux.read.records declares).
SELECT sequence_index, iteration_index, event_type, correlation_id, data, created_at, id
FROM run_events
WHERE agent_run_id = $1
  AND sequence_index > COALESCE($2::integer, -1)
  AND ($3::text[] IS NULL OR event_type = ANY($3::text[]))
  AND created_at < $5::timestamptz
ORDER BY sequence_index
LIMIT $4;

-- name: get_llm_calls
-- A run's LLM calls for readers (no semantic payloads: only the response's reasoning
-- text, extracted here), by iteration then time.
-- Columns by position: LLMCall's fields, in order (as dendrux.read.records declares).
SELECT iteration_index, provider, model, COALESCE(input_tokens, 0) AS input_tokens,
       COALESCE(output_tokens, 0) AS output_tokens,
       COALESCE(input_tokens, 0) + COALESCE(output_tokens, 0) AS total_tokens,
       cache_read_input_tokens, cache_creation_input_tokens, cost_usd::float8 AS cost_usd, duration_ms,
       provider_request, provider_response, created_at, id, reasoning_tokens,
       semantic_response ->> 'reasoning' AS reasoning
FROM llm_interactions
WHERE agent_run_id = $1 AND ($2::integer IS NULL OR iteration_index = $2::integer)
ORDER BY iteration_index, created_at, id
LIMIT $3 OFFSET $4;

-- name: get_tool_calls_before
-- get_tool_calls, only rows created strictly before the aware time $5 (0.4.1's `before`):
-- its own statement, so the common read keeps its plan.
-- Columns by position: ToolInvocation's fields first (as dendrux.read.records declares).
SELECT iteration_index, tool_name, tool_call_id, provider_tool_call_id, target, params, result,
       success, error_message, duration_ms, created_at, id
FROM tool_calls
WHERE agent_run_id = $1 AND ($2::integer IS NULL OR iteration_index = $2::integer)
  AND created_at < $5::timestamptz
ORDER BY iteration_index, created_at, id
LIMIT $3 OFFSET $4;

-- name: get_tool_invocations_before
-- get_tool_invocations, only rows created strictly before the aware time $5 (0.4.1's `before`):
-- its own statement, so the common read keeps its plan.
-- Columns by position: ToolInvocation's fields first (as dendrux.read.records declares).
SELECT COALESCE(iteration_index, 0) AS iteration_index, tool_name, tool_call_id,
       provider_tool_call_id, target, params, result, success, error_message, duration_ms, created_at, id
FROM tool_calls
WHERE agent_run_id = $1 AND ($2::integer IS NULL OR tool_calls.iteration_index = $2::integer)
  AND created_at < $5::timestamptz
ORDER BY tool_calls.iteration_index, created_at, id
LIMIT $3 OFFSET $4;

-- name: get_llm_interactions_before
-- get_llm_interactions, only rows created strictly before the aware time $5 (0.4.1's `before`):
-- its own statement, so the common read keeps its plan.
SELECT id, iteration_index, model, provider, semantic_request, semantic_response,
       provider_request, provider_response, input_tokens, output_tokens, cost_usd, duration_ms,
       cache_read_input_tokens, cache_creation_input_tokens, reasoning_tokens, created_at
FROM llm_interactions
WHERE agent_run_id = $1 AND ($2::integer IS NULL OR iteration_index = $2::integer)
  AND created_at < $5::timestamptz
ORDER BY iteration_index, created_at, id
LIMIT $3 OFFSET $4;

-- name: get_llm_calls_before
-- get_llm_calls, only rows created strictly before the aware time $5 (0.4.1's `before`):
-- its own statement, so the common read keeps its plan.
-- Columns by position: LLMCall's fields, in order (as dendrux.read.records declares).
SELECT iteration_index, provider, model, COALESCE(input_tokens, 0) AS input_tokens,
       COALESCE(output_tokens, 0) AS output_tokens,
       COALESCE(input_tokens, 0) + COALESCE(output_tokens, 0) AS total_tokens,
       cache_read_input_tokens, cache_creation_input_tokens, cost_usd::float8 AS cost_usd, duration_ms,
       provider_request, provider_response, created_at, id, reasoning_tokens,
       semantic_response ->> 'reasoning' AS reasoning
FROM llm_interactions
WHERE agent_run_id = $1 AND ($2::integer IS NULL OR iteration_index = $2::integer)
  AND created_at < $5::timestamptz
ORDER BY iteration_index, created_at, id
LIMIT $3 OFFSET $4;
