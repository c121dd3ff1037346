-- dendrux schema v4: an index for following every run at once (RunStore.stream_all_events,
-- the HTTP firehose, `dendrux tail`): runs with new events are found by their events'
-- created_at, a range at the index's right edge (new keys append there, so writes pay
-- little for it).

CREATE INDEX ix_run_events_created_at ON run_events (created_at);
