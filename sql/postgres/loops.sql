-- Reads of the ten-hook recorder adapter (dendrux.loops).

-- name: next_run_slots
-- Where a run's record continues: max(order_index) + 1 of its traces and
-- max(sequence_index) + 1 of its events, each 0 when it has none (bigint: the INTEGER
-- maximum + 1 is an answer, not an overflow, as on SQLite).
SELECT (SELECT COALESCE(max(order_index)::bigint + 1, 0) FROM react_traces
        WHERE agent_run_id = $1) AS next_order_index,
       (SELECT COALESCE(max(sequence_index)::bigint + 1, 0) FROM run_events
        WHERE agent_run_id = $1) AS next_sequence_index;
