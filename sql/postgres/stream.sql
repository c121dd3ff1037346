-- Following runs live: the writers of the hole rule, and the firehose's reads.

-- name: stream_writers
-- The transactions holding a transaction id now (each holds an exclusive lock on its own
-- id until it ends): a follower that finds a missing index keeps it held while any of
-- them still runs. (Not the snapshot's xmin/xmax: a running id at or past the snapshot's
-- xmax is in neither.) On a hot standby only its own are listed: the grace alone applies.
SELECT ARRAY(
    SELECT transactionid::text FROM pg_locks
    WHERE locktype = 'transactionid' AND mode = 'ExclusiveLock' AND granted
) AS writers;

-- name: stream_writers_running
-- How many of the transactions $1 (ids as text, from stream_writers) are still running.
SELECT count(*) AS running FROM pg_locks
WHERE locktype = 'transactionid' AND mode = 'ExclusiveLock' AND granted
  AND transactionid::text = ANY($1::text[]);

-- name: firehose_runs
-- Runs with events created after $1 (a time), each with its lowest and highest such index
-- and the earliest such time, oldest first; $2 scopes to a tenant when $3 is true ($2
-- NULL: untenanted runs only). Found through the primary key: event ids are ULIDs minted
-- by the writer at write time, so $5 (the lowest id of $1's millisecond) bounds an
-- index range; created_at then decides exactly. No index of its own: writes pay nothing.
SELECT e.agent_run_id, min(e.sequence_index) AS first_index, max(e.sequence_index) AS last_index,
       min(e.created_at) AS first_at
FROM run_events e
JOIN agent_runs r ON r.id = e.agent_run_id
WHERE e.id >= $5 AND e.created_at > $1::timestamptz
  AND (NOT $3::boolean OR r.tenant_id IS NOT DISTINCT FROM $2::text)
GROUP BY e.agent_run_id
ORDER BY first_at, e.agent_run_id
LIMIT $4;
