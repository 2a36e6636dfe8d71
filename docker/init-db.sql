-- init-db.sql - run once by the postgres image when its data volume is
-- empty (mounted into /docker-entrypoint-initdb.d by the compose files,
-- with etc/migrations beside it as /docker-entrypoint-initdb.d/migrations),
-- as POSTGRES_USER in the POSTGRES_DB database.
--
-- It creates the gateway's schema - the tables and indexes of the original
-- Orchesity and the request log's - from the same versioned migrations the
-- gateway applies at start-up, and records them in schema_migrations, so the
-- gateway (or `orchesity migrate`) finds the database up to date and every
-- later migration has one history to follow.  A test checks that this file
-- names every file of etc/migrations.

\set ON_ERROR_STOP on

BEGIN;
\ir migrations/001_initial.sql
\ir migrations/002_request_log.sql
\ir migrations/003_api_keys.sql
CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now());
INSERT INTO schema_migrations (version, name)
    VALUES (1, '001_initial'), (2, '002_request_log'), (3, '003_api_keys') ON CONFLICT (version) DO NOTHING;
COMMIT;

-- Query statistics for "Monitor slow queries" in docs/DOCKER.md (the
-- library is preloaded by the compose files' postgres command).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;

-- Timestamps are stored as timestamptz; show them in UTC (in whichever
-- database POSTGRES_DB names).
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET timezone TO %L', current_database(), 'UTC');
END
$$;
