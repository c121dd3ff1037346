-- dendrux schema v1 for PostgreSQL: the six tables of the audit store.
-- Unqualified names: the engine pins search_path to the configured schema.

CREATE TABLE agent_runs (
    id                          VARCHAR(26) PRIMARY KEY,
    tenant_id                   TEXT,
    agent_name                  TEXT NOT NULL,
    status                      TEXT NOT NULL,
    input_data                  JSONB,
    output_data                 JSONB,
    iteration_count             INTEGER NOT NULL DEFAULT 0,
    model                       TEXT,
    strategy                    TEXT,
    parent_run_id               VARCHAR(26) REFERENCES agent_runs (id) ON DELETE SET NULL,
    delegation_level            INTEGER NOT NULL DEFAULT 0,
    retry_of_run_id             VARCHAR(26) REFERENCES agent_runs (id) ON DELETE SET NULL,
    total_input_tokens          BIGINT NOT NULL DEFAULT 0,
    total_output_tokens         BIGINT NOT NULL DEFAULT 0,
    total_cost_usd              DOUBLE PRECISION,
    total_cache_read_tokens     BIGINT NOT NULL DEFAULT 0,
    total_cache_creation_tokens BIGINT NOT NULL DEFAULT 0,
    total_reasoning_tokens      BIGINT NOT NULL DEFAULT 0,
    meta                        JSONB,
    pause_data                  JSONB,
    pii_mapping                 JSONB,
    error                       TEXT,
    last_progress_at            TIMESTAMPTZ,
    failure_reason              TEXT,
    idempotency_key             TEXT UNIQUE,
    idempotency_fingerprint     TEXT,
    cancel_requested            BOOLEAN NOT NULL DEFAULT FALSE,
    created_at                  TIMESTAMPTZ NOT NULL,
    updated_at                  TIMESTAMPTZ NOT NULL
);

-- Newest-first listing, alone and under each equality filter; ties by id.
CREATE INDEX ix_agent_runs_created ON agent_runs (created_at DESC, id DESC);
CREATE INDEX ix_agent_runs_status_created ON agent_runs (status, created_at DESC, id DESC);
CREATE INDEX ix_agent_runs_agent_created ON agent_runs (agent_name, created_at DESC, id DESC);
CREATE INDEX ix_agent_runs_tenant_created ON agent_runs (tenant_id, created_at DESC, id DESC);
CREATE INDEX ix_agent_runs_parent_created ON agent_runs (parent_run_id, created_at DESC, id DESC);
CREATE INDEX ix_agent_runs_retry_of ON agent_runs (retry_of_run_id);
-- metadata_filter: meta @> $1::jsonb
CREATE INDEX ix_agent_runs_meta ON agent_runs USING GIN (meta jsonb_path_ops);
-- Sweeps: stale running runs by progress, abandoned waiting runs by update.
CREATE INDEX ix_agent_runs_status_progress ON agent_runs (status, last_progress_at);
CREATE INDEX ix_agent_runs_status_updated ON agent_runs (status, updated_at);

CREATE TABLE react_traces (
    id           VARCHAR(26) PRIMARY KEY,
    agent_run_id VARCHAR(26) NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
    role         TEXT NOT NULL,
    content      TEXT NOT NULL,
    order_index  INTEGER NOT NULL,
    meta         JSONB,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT uq_react_traces_run_order UNIQUE (agent_run_id, order_index)
);

CREATE TABLE tool_calls (
    id                    VARCHAR(26) PRIMARY KEY,
    agent_run_id          VARCHAR(26) NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
    tool_call_id          VARCHAR(26) NOT NULL,
    provider_tool_call_id TEXT,
    tool_name             TEXT NOT NULL,
    target                TEXT NOT NULL DEFAULT 'server',
    params                JSONB,
    result                JSONB,
    success               BOOLEAN NOT NULL,
    duration_ms           INTEGER,
    iteration_index       INTEGER,
    error_message         TEXT,
    meta                  JSONB,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL,
    CONSTRAINT uq_tool_calls_run_call UNIQUE (agent_run_id, tool_call_id)
);
CREATE INDEX ix_tool_calls_run_iteration ON tool_calls (agent_run_id, iteration_index, created_at, id);

CREATE TABLE token_usage (
    id                          VARCHAR(26) PRIMARY KEY,
    agent_run_id                VARCHAR(26) NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
    iteration_index             INTEGER NOT NULL,
    model                       TEXT,
    provider                    TEXT,
    input_tokens                BIGINT NOT NULL DEFAULT 0,
    output_tokens               BIGINT NOT NULL DEFAULT 0,
    cost_usd                    DOUBLE PRECISION,
    duration_ms                 INTEGER,
    cache_read_input_tokens     BIGINT,
    cache_creation_input_tokens BIGINT,
    reasoning_tokens            BIGINT,
    meta                        JSONB,
    created_at                  TIMESTAMPTZ NOT NULL
);
CREATE INDEX ix_token_usage_run_iteration ON token_usage (agent_run_id, iteration_index, created_at, id);

CREATE TABLE llm_interactions (
    id                          VARCHAR(26) PRIMARY KEY,
    agent_run_id                VARCHAR(26) NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
    iteration_index             INTEGER NOT NULL,
    model                       TEXT,
    provider                    TEXT,
    semantic_request            JSONB,
    semantic_response           JSONB,
    provider_request            JSONB,
    provider_response           JSONB,
    input_tokens                BIGINT NOT NULL DEFAULT 0,
    output_tokens               BIGINT NOT NULL DEFAULT 0,
    cost_usd                    DOUBLE PRECISION,
    duration_ms                 INTEGER,
    cache_read_input_tokens     BIGINT,
    cache_creation_input_tokens BIGINT,
    reasoning_tokens            BIGINT,
    guardrail_findings          JSONB,
    created_at                  TIMESTAMPTZ NOT NULL
);
CREATE INDEX ix_llm_interactions_run_iteration ON llm_interactions (agent_run_id, iteration_index, created_at, id);

CREATE TABLE run_events (
    id              VARCHAR(26) PRIMARY KEY,
    agent_run_id    VARCHAR(26) NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
    event_type      TEXT NOT NULL,
    sequence_index  INTEGER NOT NULL,
    iteration_index INTEGER NOT NULL DEFAULT 0,
    correlation_id  TEXT,
    data            JSONB,
    created_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT uq_run_events_run_sequence UNIQUE (agent_run_id, sequence_index)
);
