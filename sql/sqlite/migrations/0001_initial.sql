-- dendrux schema v1 for SQLite: the six tables of the audit store.
-- Timestamps are ISO-8601 UTC text with microseconds (fixed width, so text
-- order is time order). JSON columns hold JSON text. Ids are TEXT (<= 26).

CREATE TABLE agent_runs (
    id                          TEXT PRIMARY KEY NOT NULL,
    tenant_id                   TEXT,
    agent_name                  TEXT NOT NULL,
    status                      TEXT NOT NULL,
    input_data                  TEXT,
    output_data                 TEXT,
    iteration_count             INTEGER NOT NULL DEFAULT 0,
    model                       TEXT,
    strategy                    TEXT,
    parent_run_id               TEXT REFERENCES agent_runs (id) ON DELETE SET NULL,
    delegation_level            INTEGER NOT NULL DEFAULT 0,
    retry_of_run_id             TEXT REFERENCES agent_runs (id) ON DELETE SET NULL,
    total_input_tokens          INTEGER NOT NULL DEFAULT 0,
    total_output_tokens         INTEGER NOT NULL DEFAULT 0,
    total_cost_usd              REAL,
    total_cache_read_tokens     INTEGER NOT NULL DEFAULT 0,
    total_cache_creation_tokens INTEGER NOT NULL DEFAULT 0,
    total_reasoning_tokens      INTEGER NOT NULL DEFAULT 0,
    meta                        TEXT,
    pause_data                  TEXT,
    pii_mapping                 TEXT,
    error                       TEXT,
    last_progress_at            TEXT,
    failure_reason              TEXT,
    idempotency_key             TEXT UNIQUE,
    idempotency_fingerprint     TEXT,
    cancel_requested            INTEGER NOT NULL DEFAULT 0,
    created_at                  TEXT NOT NULL,
    updated_at                  TEXT NOT NULL
);

-- Newest-first listing, alone and under each equality filter; ties by id.
CREATE INDEX ix_agent_runs_created ON agent_runs (created_at DESC, id DESC);
CREATE INDEX ix_agent_runs_status_created ON agent_runs (status, created_at DESC, id DESC);
CREATE INDEX ix_agent_runs_agent_created ON agent_runs (agent_name, created_at DESC, id DESC);
CREATE INDEX ix_agent_runs_tenant_created ON agent_runs (tenant_id, created_at DESC, id DESC);
CREATE INDEX ix_agent_runs_parent_created ON agent_runs (parent_run_id, created_at DESC, id DESC);
CREATE INDEX ix_agent_runs_retry_of ON agent_runs (retry_of_run_id);
-- Sweeps: stale running runs by progress, abandoned waiting runs by update.
CREATE INDEX ix_agent_runs_status_progress ON agent_runs (status, last_progress_at);
CREATE INDEX ix_agent_runs_status_updated ON agent_runs (status, updated_at);

CREATE TABLE react_traces (
    id           TEXT PRIMARY KEY NOT NULL,
    agent_run_id TEXT NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
    role         TEXT NOT NULL,
    content      TEXT NOT NULL,
    order_index  INTEGER NOT NULL,
    meta         TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    CONSTRAINT uq_react_traces_run_order UNIQUE (agent_run_id, order_index)
);

CREATE TABLE tool_calls (
    id                    TEXT PRIMARY KEY NOT NULL,
    agent_run_id          TEXT NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
    tool_call_id          TEXT NOT NULL,
    provider_tool_call_id TEXT,
    tool_name             TEXT NOT NULL,
    target                TEXT NOT NULL DEFAULT 'server',
    params                TEXT,
    result                TEXT,
    success               INTEGER NOT NULL,
    duration_ms           INTEGER,
    iteration_index       INTEGER,
    error_message         TEXT,
    meta                  TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    CONSTRAINT uq_tool_calls_run_call UNIQUE (agent_run_id, tool_call_id)
);
CREATE INDEX ix_tool_calls_run_iteration ON tool_calls (agent_run_id, iteration_index, created_at, id);

CREATE TABLE token_usage (
    id                          TEXT PRIMARY KEY NOT NULL,
    agent_run_id                TEXT NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
    iteration_index             INTEGER NOT NULL,
    model                       TEXT,
    provider                    TEXT,
    input_tokens                INTEGER NOT NULL DEFAULT 0,
    output_tokens               INTEGER NOT NULL DEFAULT 0,
    cost_usd                    REAL,
    duration_ms                 INTEGER,
    cache_read_input_tokens     INTEGER,
    cache_creation_input_tokens INTEGER,
    reasoning_tokens            INTEGER,
    meta                        TEXT,
    created_at                  TEXT NOT NULL
);
CREATE INDEX ix_token_usage_run_iteration ON token_usage (agent_run_id, iteration_index, created_at, id);

CREATE TABLE llm_interactions (
    id                          TEXT PRIMARY KEY NOT NULL,
    agent_run_id                TEXT NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
    iteration_index             INTEGER NOT NULL,
    model                       TEXT,
    provider                    TEXT,
    semantic_request            TEXT,
    semantic_response           TEXT,
    provider_request            TEXT,
    provider_response           TEXT,
    input_tokens                INTEGER NOT NULL DEFAULT 0,
    output_tokens               INTEGER NOT NULL DEFAULT 0,
    cost_usd                    REAL,
    duration_ms                 INTEGER,
    cache_read_input_tokens     INTEGER,
    cache_creation_input_tokens INTEGER,
    reasoning_tokens            INTEGER,
    guardrail_findings          TEXT,
    created_at                  TEXT NOT NULL
);
CREATE INDEX ix_llm_interactions_run_iteration ON llm_interactions (agent_run_id, iteration_index, created_at, id);

CREATE TABLE run_events (
    id              TEXT PRIMARY KEY NOT NULL,
    agent_run_id    TEXT NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
    event_type      TEXT NOT NULL,
    sequence_index  INTEGER NOT NULL,
    iteration_index INTEGER NOT NULL DEFAULT 0,
    correlation_id  TEXT,
    data            TEXT,
    created_at      TEXT NOT NULL,
    CONSTRAINT uq_run_events_run_sequence UNIQUE (agent_run_id, sequence_index)
);
