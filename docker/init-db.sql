-- init-db.sql - run once by the postgres image when its data volume is
-- empty (mounted into /docker-entrypoint-initdb.d by docker-compose.yml),
-- as the POSTGRES_USER in the POSTGRES_DB database.
--
-- The tables are not created here: the gateway applies its versioned
-- migrations (etc/migrations/*.sql) at start-up, under an advisory lock, so
-- that every replica and every later version agree on one schema history.
-- This file only prepares what needs the database owner once.

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
