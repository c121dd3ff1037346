-- One-statement forms of the recorder's hooks (PostgreSQL only: SQLite has no
-- data-modifying CTEs and runs the same writes one by one inside its group commit).
-- Each takes the parameters of its writes in order, exactly as the single-row queries
-- of rows.sql and runs.sql take them (laid out by WriteUnit.joined_args, the one place),
-- and returns one row with a value per write: the id of each fail-closed insert, NULL
-- for the others. tests/test_hook_statements.py derives every statement's parameter
-- count, each write's $n range and types, and the result width from the recorder's
-- units, so a miscounted $n fails there naming the hook and the write.
-- No ON CONFLICT here: any conflict (a retry whose first attempt landed, another row in
-- a slot) fails the whole statement, and the engine then writes row by row. That is also
-- what lets the engine send many hooks' statements as one pipelined batch.
-- No pg_notify either: the engine wakes streaming readers once the statement committed
-- (wake_run_event_readers in engine.sql says why not inside it).

-- name: record_trace
-- insert_trace ($1-$7), failing on a taken id or slot.
INSERT INTO react_traces (id, agent_run_id, role, content, order_index, meta, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $7)
RETURNING id;

-- name: record_run_event
-- insert_run_event ($1-$8), failing on a taken id or slot.
INSERT INTO run_events (
    id, agent_run_id, event_type, sequence_index, iteration_index, correlation_id, data,
    created_at
) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)
RETURNING id;

-- name: record_llm_call
-- insert_llm_interaction ($1-$18), insert_usage ($19-$32), insert_run_event ($33-$40) and
-- touch_progress ($41-$42) in one round trip.
WITH interaction AS (
    INSERT INTO llm_interactions (
        id, agent_run_id, iteration_index, model, provider, semantic_request,
        semantic_response, provider_request, provider_response, input_tokens, output_tokens,
        cost_usd, duration_ms, cache_read_input_tokens, cache_creation_input_tokens,
        reasoning_tokens, guardrail_findings, created_at
    ) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9::jsonb, $10, $11, $12,
              $13, $14, $15, $16, $17::jsonb, $18)
), usage AS (
    INSERT INTO token_usage (
        id, agent_run_id, iteration_index, model, provider, input_tokens, output_tokens,
        cost_usd, duration_ms, cache_read_input_tokens, cache_creation_input_tokens,
        reasoning_tokens, meta, created_at
    ) VALUES ($19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31::jsonb, $32)
), event AS (
    INSERT INTO run_events (
        id, agent_run_id, event_type, sequence_index, iteration_index, correlation_id, data,
        created_at
    ) VALUES ($33, $34, $35, $36, $37, $38, $39::jsonb, $40)
    RETURNING id
), progress AS (
    UPDATE agent_runs SET last_progress_at = $42 WHERE id = $41
)
SELECT NULL::text, NULL::text, id, NULL::text FROM event;

-- name: record_tool_call
-- insert_tool_call ($1-$14), insert_run_event ($15-$22) and touch_progress ($23-$24) in one
-- round trip: the tool call and its event land together or not at all.
WITH call AS (
    INSERT INTO tool_calls (
        id, agent_run_id, tool_call_id, provider_tool_call_id, tool_name, target, params,
        result, success, duration_ms, iteration_index, error_message, meta, created_at,
        updated_at
    ) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11, $12, $13::jsonb, $14,
              $14)
    RETURNING id
), event AS (
    INSERT INTO run_events (
        id, agent_run_id, event_type, sequence_index, iteration_index, correlation_id, data,
        created_at
    ) VALUES ($15, $16, $17, $18, $19, $20, $21::jsonb, $22)
    RETURNING id
), progress AS (
    UPDATE agent_runs SET last_progress_at = $24 WHERE id = $23
)
SELECT (SELECT id FROM call), event.id, NULL::text FROM event;
