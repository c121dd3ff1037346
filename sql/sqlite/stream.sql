-- Following runs live: the writers of the hole rule, and the firehose's reads.

-- name: stream_writers
-- SQLite has no transaction ids to list: NULL, and a follower holding back a missing
-- index re-reads it inside a write transaction instead (no other writer is mid-way then).
SELECT NULL AS writers;

-- name: stream_writers_running
-- Never asked on SQLite (stream_writers gives NULL); the same parameter as PostgreSQL's.
SELECT CASE WHEN ?1 IS NULL THEN 0 ELSE 0 END AS running;

-- name: firehose_runs
-- Runs with events created after ?1 (a time), each with its lowest and highest such index
-- and the earliest such time, oldest first; ?2 scopes to a tenant when ?3 is true (?2
-- NULL: untenanted runs only). Found through the primary key: event ids are ULIDs minted
-- by the writer at write time, so ?5 (the lowest id of ?1's millisecond) bounds an
-- index range; created_at then decides exactly. No index of its own: writes pay nothing.
SELECT e.agent_run_id, min(e.sequence_index) AS first_index, max(e.sequence_index) AS last_index,
       min(e.created_at) AS first_at
FROM run_events e
JOIN agent_runs r ON r.id = e.agent_run_id
WHERE e.id >= ?5 AND e.created_at > ?1
  AND (NOT ?3 OR r.tenant_id IS ?2)
GROUP BY e.agent_run_id
ORDER BY first_at, e.agent_run_id
LIMIT ?4;
