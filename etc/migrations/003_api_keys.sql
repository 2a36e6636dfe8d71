-- 003_api_keys.sql - client keys, team budgets, and the key of each logged
-- request.
--
-- A client key ("sk-orc-" + 43 random base62 characters) is stored only as
-- the SHA-256 of the whole key (key_hash, hex); key_prefix keeps its first
-- characters for display.  NULL limits are unlimited.  models, providers and
-- scopes are lists of glob patterns / scope names; an empty models or
-- providers list allows all.  updated_at moves on every change: gateways poll
-- it to drop what they cached of a revoked or changed key.
CREATE TABLE IF NOT EXISTS api_keys (
    id             varchar(32)  PRIMARY KEY,
    key_hash       char(64)     NOT NULL UNIQUE,
    key_prefix     varchar(16)  NOT NULL,
    name           varchar(128) NOT NULL,
    team           varchar(128),
    models         text[]       NOT NULL DEFAULT '{}',
    providers      text[]       NOT NULL DEFAULT '{}',
    scopes         text[]       NOT NULL DEFAULT '{llm}',
    rpm            integer      CHECK (rpm > 0),
    tpm            integer      CHECK (tpm > 0),
    max_parallel   integer      CHECK (max_parallel > 0),
    budget_usd     double precision CHECK (budget_usd >= 0),
    budget_period  varchar(8)   NOT NULL DEFAULT 'month'
                   CHECK (budget_period IN ('day', 'month', 'total')),
    expires_at     timestamptz,
    revoked_at     timestamptz,
    metadata       jsonb        NOT NULL DEFAULT '{}',
    created_at     timestamptz  NOT NULL DEFAULT now(),
    updated_at     timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_api_keys_updated_at ON api_keys (updated_at);
CREATE INDEX IF NOT EXISTS idx_api_keys_team ON api_keys (team);

-- A team's budget, shared by every key of the team.
CREATE TABLE IF NOT EXISTS api_teams (
    team           varchar(128) PRIMARY KEY,
    budget_usd     double precision CHECK (budget_usd >= 0),
    budget_period  varchar(8)   NOT NULL DEFAULT 'month'
                   CHECK (budget_period IN ('day', 'month', 'total')),
    updated_at     timestamptz  NOT NULL DEFAULT now()
);

ALTER TABLE orchestration_requests ADD COLUMN IF NOT EXISTS key_id varchar(32);
ALTER TABLE orchestration_requests ADD COLUMN IF NOT EXISTS team varchar(128);
CREATE INDEX IF NOT EXISTS idx_orchestration_requests_key_id ON orchestration_requests (key_id, created_at);
CREATE INDEX IF NOT EXISTS idx_orchestration_requests_team ON orchestration_requests (team, created_at);
