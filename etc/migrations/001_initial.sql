-- 001_initial.sql - the tables of the original Orchesity, plus what the
-- gateway needs to log every request without loss.
--
-- Applied once per database by the gateway (at start-up, under an advisory
-- lock, or by `orchesity migrate`), which records it in schema_migrations.
-- Every statement is idempotent (IF NOT EXISTS), so a database prepared by
-- docker/init-db.sql is accepted as it is.
--
-- Times are timestamptz; durations are in seconds (double precision), as in
-- the original; money is in US dollars.

CREATE TABLE IF NOT EXISTS user_sessions (
    session_id    varchar(64)  PRIMARY KEY,
    user_id       varchar(255) NOT NULL DEFAULT 'anonymous',
    created_at    timestamptz  NOT NULL DEFAULT now(),
    last_activity timestamptz  NOT NULL DEFAULT now(),
    preferences   jsonb        NOT NULL DEFAULT '{}',
    is_active     boolean      NOT NULL DEFAULT true
);
CREATE INDEX IF NOT EXISTS idx_user_sessions_last_activity ON user_sessions (last_activity);
CREATE INDEX IF NOT EXISTS idx_user_sessions_is_active ON user_sessions (is_active);

-- One row per request through /api/llm/* and /v1/*.  session_id is not a
-- foreign key: the log keeps a request that names an unknown session.
CREATE TABLE IF NOT EXISTS orchestration_requests (
    id                  bigserial    PRIMARY KEY,
    request_id          varchar(64)  NOT NULL UNIQUE,
    endpoint            varchar(64)  NOT NULL DEFAULT '',
    prompt              text,
    providers           jsonb        NOT NULL DEFAULT '[]',
    model               varchar(255),
    max_tokens          integer,
    temperature         double precision,
    stream              boolean      NOT NULL DEFAULT false,
    status              varchar(20)  NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    http_status         integer,
    created_at          timestamptz  NOT NULL DEFAULT now(),
    updated_at          timestamptz  NOT NULL DEFAULT now(),
    session_id          varchar(64),
    results             jsonb,
    errors              jsonb,
    total_response_time double precision,
    tokens_used         integer,
    cost_usd            double precision,
    cache_hit           boolean      NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS idx_orchestration_requests_session_id ON orchestration_requests (session_id);
CREATE INDEX IF NOT EXISTS idx_orchestration_requests_created_at ON orchestration_requests (created_at);
CREATE INDEX IF NOT EXISTS idx_orchestration_requests_status ON orchestration_requests (status);

-- One row per provider attempt of a request (retries and fallbacks
-- included); attempt numbers the attempts of one request from 1.
CREATE TABLE IF NOT EXISTS orchestration_results (
    id                  bigserial    PRIMARY KEY,
    request_id          varchar(64)  NOT NULL
                        REFERENCES orchestration_requests (request_id) ON DELETE CASCADE,
    attempt             integer      NOT NULL DEFAULT 1,
    provider            varchar(64)  NOT NULL,
    model               varchar(255),
    status              varchar(20)  NOT NULL DEFAULT 'success',
    http_status         integer,
    response            text,
    tokens_used         integer,
    prompt_tokens       integer,
    completion_tokens   integer,
    response_time       double precision,
    time_to_first_token double precision,
    cost_usd            double precision,
    error               text,
    error_class         varchar(32),
    cache_hit           boolean      NOT NULL DEFAULT false,
    session_id          varchar(64),
    created_at          timestamptz  NOT NULL DEFAULT now(),
    UNIQUE (request_id, attempt)
);
CREATE INDEX IF NOT EXISTS idx_orchestration_results_request_id ON orchestration_results (request_id);
CREATE INDEX IF NOT EXISTS idx_orchestration_results_provider ON orchestration_results (provider);

CREATE TABLE IF NOT EXISTS workflows (
    id              bigserial    PRIMARY KEY,
    workflow_id     varchar(64)  NOT NULL UNIQUE,
    name            varchar(255) NOT NULL,
    description     text,
    session_id      varchar(64),
    steps           jsonb        NOT NULL DEFAULT '[]',
    created_at      timestamptz  NOT NULL DEFAULT now(),
    updated_at      timestamptz  NOT NULL DEFAULT now(),
    is_active       boolean      NOT NULL DEFAULT true,
    execution_count integer      NOT NULL DEFAULT 0,
    last_executed   timestamptz
);
CREATE INDEX IF NOT EXISTS idx_workflows_session_id ON workflows (session_id);
CREATE INDEX IF NOT EXISTS idx_workflows_is_active ON workflows (is_active);

CREATE TABLE IF NOT EXISTS workflow_executions (
    id                bigserial    PRIMARY KEY,
    execution_id      varchar(64)  NOT NULL UNIQUE,
    workflow_id       varchar(64)  NOT NULL,
    status            varchar(20)  NOT NULL DEFAULT 'pending',
    input_data        jsonb,
    output_data       jsonb,
    error_data        jsonb,
    started_at        timestamptz  NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    total_duration    double precision,
    total_tokens_used integer,
    total_cost        double precision
);
CREATE INDEX IF NOT EXISTS idx_workflow_executions_workflow_id ON workflow_executions (workflow_id);
CREATE INDEX IF NOT EXISTS idx_workflow_executions_status ON workflow_executions (status);

CREATE TABLE IF NOT EXISTS cache_entries (
    id            bigserial    PRIMARY KEY,
    cache_key     varchar(255) NOT NULL UNIQUE,
    cache_type    varchar(50)  NOT NULL,
    created_at    timestamptz  NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    hit_count     integer      NOT NULL DEFAULT 0,
    last_accessed timestamptz,
    content_size  integer,
    content_hash  varchar(64)
);
CREATE INDEX IF NOT EXISTS idx_cache_entries_cache_type ON cache_entries (cache_type);
CREATE INDEX IF NOT EXISTS idx_cache_entries_expires_at ON cache_entries (expires_at);

-- Running totals per provider and model, kept by the request-log writer in
-- the same transaction as the rows it adds.
CREATE TABLE IF NOT EXISTS provider_metrics (
    id                    bigserial    PRIMARY KEY,
    provider              varchar(64)  NOT NULL,
    model                 varchar(255) NOT NULL DEFAULT '',
    total_requests        bigint       NOT NULL DEFAULT 0,
    successful_requests   bigint       NOT NULL DEFAULT 0,
    failed_requests       bigint       NOT NULL DEFAULT 0,
    average_response_time double precision NOT NULL DEFAULT 0,
    total_tokens_used     bigint       NOT NULL DEFAULT 0,
    estimated_cost        double precision NOT NULL DEFAULT 0,
    window_start          timestamptz  NOT NULL DEFAULT now(),
    last_updated          timestamptz  NOT NULL DEFAULT now(),
    is_healthy            boolean      NOT NULL DEFAULT true,
    last_error            text,
    consecutive_failures  integer      NOT NULL DEFAULT 0,
    UNIQUE (provider, model)
);
CREATE INDEX IF NOT EXISTS idx_provider_metrics_provider ON provider_metrics (provider);
CREATE INDEX IF NOT EXISTS idx_provider_metrics_last_updated ON provider_metrics (last_updated);
