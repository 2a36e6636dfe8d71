/*
 * keyspec_sql.c - the statements on client keys, team budgets and spend
 * (declared in keyspec.h).  Each is parameterised ($1..$n, text values)
 * and builds its JSON document in PostgreSQL.
 *
 * Spend comes from the request log: orchestration_requests (cost_usd,
 * tokens_used, key_id, team, model, created_at); a request's provider is
 * that of its first successful attempt in orchestration_results.  Budget
 * periods are calendar days and months in UTC; "total" is all time.
 */
#include "common/keyspec.h"

/* A timestamptz as "2026-11-26T10:30:45.123Z" (the format of the /api/db routes). */
#define ISO(col) "to_char((" col ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* The start of the current budget period P (a column or parameter), NULL for total. */
#define PERIOD_START(p)                                                                                      \
    "(CASE " p " WHEN 'day' THEN date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"             \
    " WHEN 'month' THEN date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' END)"

/* What is left of BUDGET after SPENT, never below 0; NULL without a budget
 * (greatest() alone would turn NULL into 0). */
#define REMAINING(budget, spent)                                                                             \
    "CASE WHEN " budget " IS NOT NULL THEN greatest(" budget " - " spent ", 0) END"

#define KEY_STATUS                                                                                           \
    "CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked'"                                                      \
    " WHEN k.expires_at <= now() THEN 'expired' ELSE 'active' END"

/* The record of key row "k": never the hash. */
#define KEY_DOC                                                                                              \
    "json_build_object('id', k.id, 'prefix', k.key_prefix, 'name', k.name, 'team', k.team,"                  \
    " 'models', k.models, 'providers', k.providers, 'scopes', k.scopes,"                                     \
    " 'rpm', k.rpm, 'tpm', k.tpm, 'max_parallel', k.max_parallel,"                                           \
    " 'budget_usd', k.budget_usd, 'budget_period', k.budget_period,"                                         \
    " 'expires_at', " ISO("k.expires_at") ", 'revoked_at', " ISO(                                            \
        "k.revoked_at") ","                                                                                  \
                        " 'status', " KEY_STATUS ", 'metadata', k.metadata,"                                 \
                        " 'created_at', " ISO("k.created_at") ", 'updated_at', " ISO("k.updated_at") ")"

const char ORC_KEYSPEC_SQL_INSERT[] =
    "INSERT INTO api_keys AS k (id, key_hash, key_prefix, name, team, models, providers, scopes, rpm, tpm,"
    " max_parallel, budget_usd, budget_period, expires_at, metadata, created_at, updated_at)"
    " VALUES ($1, $2, $3, $4, $5, string_to_array($6, ','), string_to_array($7, ','),"
    " string_to_array($8, ','), $9::int, $10::int, $11::int, $12::float8, $13, $14::timestamptz, $15::jsonb,"
    " clock_timestamp(), clock_timestamp())"
    " RETURNING " KEY_DOC "::text";

/* Column COL takes EXPR when bit BIT of $14 (the given fields) is set. */
#define SET_IF(col, bit, expr)                                                                               \
    " " col " = CASE WHEN $14::int & " bit " <> 0 THEN " expr " ELSE k." col " END,"

const char ORC_KEYSPEC_SQL_UPDATE[] =
    "UPDATE api_keys AS k SET" SET_IF("name", "1", "$2") SET_IF("team", "2", "$3")
        SET_IF("models", "4", "string_to_array($4, ',')") SET_IF("providers", "8", "string_to_array($5, ',')")
            SET_IF("scopes", "16", "string_to_array($6, ',')") SET_IF("rpm", "32", "$7::int")
                SET_IF("tpm", "64", "$8::int") SET_IF("max_parallel", "128", "$9::int")
                    SET_IF("budget_usd", "256", "$10::float8") SET_IF("budget_period", "512", "$11")
                        SET_IF("expires_at", "1024", "$12::timestamptz")
                            SET_IF("metadata", "2048", "$13::jsonb") " updated_at = clock_timestamp()"
                                                                     " WHERE k.id = $1 RETURNING " KEY_DOC
                                                                     "::text";

const char ORC_KEYSPEC_SQL_GET[] = "SELECT " KEY_DOC "::text FROM api_keys k WHERE k.id = $1";

/* A second revocation keeps the first time and leaves updated_at alone. */
const char ORC_KEYSPEC_SQL_REVOKE[] =
    "UPDATE api_keys AS k SET revoked_at = COALESCE(k.revoked_at, clock_timestamp()),"
    " updated_at = CASE WHEN k.revoked_at IS NULL THEN clock_timestamp() ELSE k.updated_at END"
    " WHERE k.id = $1 RETURNING " KEY_DOC "::text";

const char ORC_KEYSPEC_SQL_ROTATE[] =
    "WITH k AS (UPDATE api_keys SET key_hash = $2, key_prefix = $3, updated_at = clock_timestamp()"
    "           WHERE id = $1 AND revoked_at IS NULL RETURNING *)"
    " SELECT (SELECT " KEY_DOC "::text FROM k), EXISTS (SELECT 1 FROM api_keys WHERE id = $1)";

#define LIST_FILTER "($3::text IS NULL OR team = $3::text) AND ($4::boolean OR revoked_at IS NULL)"

/* Requests, tokens and cost of the logged requests of key K since START (NULL: all). */
#define KEY_SPENT(start)                                                                                     \
    "(SELECT count(*) AS requests, COALESCE(sum(r.tokens_used), 0)::bigint AS tokens,"                       \
    " COALESCE(sum(r.cost_usd), 0)::float8 AS cost FROM orchestration_requests r"                            \
    " WHERE r.key_id = k.id AND r.created_at >= COALESCE(" start ", '-infinity'::timestamptz))"

/* Each key with its usage in its current budget period (from the log). */
#define KEY_DOC_WITH_USAGE                                                                                   \
    "(" KEY_DOC ")::jsonb || jsonb_build_object('usage', jsonb_build_object('period_start', " ISO(           \
        "u.start") ", 'requests', u.requests, 'tokens', u.tokens, 'cost_usd', u.cost))"

const char ORC_KEYSPEC_SQL_LIST[] =
    "SELECT json_build_object("
    " 'keys', COALESCE((SELECT json_agg(" KEY_DOC_WITH_USAGE " ORDER BY k.created_at DESC, k.id)"
    "   FROM (SELECT * FROM api_keys WHERE " LIST_FILTER
    "         ORDER BY created_at DESC, id LIMIT $1::int OFFSET $2::int) k"
    "   CROSS JOIN LATERAL (SELECT " PERIOD_START(
        "k.budget_period") " AS start) ps"
                           "   CROSS JOIN LATERAL (SELECT ps.start, x.* FROM " KEY_SPENT(
                               "ps.start") " x) u), '[]'::json),"
                                           " 'total', (SELECT count(*) FROM api_keys WHERE " LIST_FILTER "),"
                                           " 'limit', $1::int, 'offset', $2::int)::text";

const char ORC_KEYSPEC_SQL_SPEND[] =
    "SELECT json_build_object('key_id', k.id, 'name', k.name, 'team', k.team, 'status', " KEY_STATUS ","
    " 'budget_usd', k.budget_usd, 'budget_period', k.budget_period,"
    " 'period', json_build_object('start', " ISO(
        "ps.start") ", 'requests', p.requests, 'tokens', p.tokens,"
                    "   'cost_usd', p.cost, 'remaining_usd', " REMAINING(
                        "k.budget_usd",
                        "p.cost") "),"
                                  " 'total', json_build_object('requests', a.requests, 'tokens', "
                                  "a.tokens, 'cost_usd', a.cost))::text"
                                  " FROM api_keys k CROSS JOIN LATERAL (SELECT " PERIOD_START(
                                      "k.budget_period") " AS start) ps"
                                                         " CROSS JOIN LATERAL " KEY_SPENT(
                                                             "ps.start") " p CROSS JOIN "
                                                                         "LATERAL " KEY_SPENT("NULL") " a"
                                                                                                      " W"
                                                                                                      "HE"
                                                                                                      "RE"
                                                                                                      " k"
                                                                                                      ".i"
                                                                                                      "d "
                                                                                                      "= "
                                                                                                      "$"
                                                                                                      "1";

/* The document of team row "t" (team, budget_usd, budget_period, updated_at) with
 * the spend of its current period, in one pass over the log per statement. */
#define TEAM_DOC                                                                                             \
    "json_build_object('team', t.team, 'budget_usd', t.budget_usd, 'budget_period', t.budget_period,"        \
    " 'period_start', " ISO(PERIOD_START(                                                                    \
        "t.budget_period")) ","                                                                              \
                            " 'spent_usd', COALESCE(s.cost, 0), 'remaining_usd', " REMAINING(                \
                                "t.budget_usd",                                                              \
                                "COALESCE(s.cost, 0)") ","                                                   \
                                                       " 'keys', (SELECT count(*) FROM api_keys k WHERE "    \
                                                       "k.team = t.team AND k.revoked_at IS NULL),"          \
                                                       " 'updated_at', " ISO("t.updated_at") ")"

#define TEAM_SPENT(teams)                                                                                    \
    "(SELECT r.team, sum(r.cost_usd)::float8 AS cost FROM orchestration_requests r JOIN " teams " x"         \
    " ON x.team = r.team WHERE r.created_at >= COALESCE(" PERIOD_START(                                      \
        "x.budget_period") ", '-infinity'::timestamptz)"                                                     \
                           " GROUP BY r.team)"

const char ORC_KEYSPEC_SQL_TEAM_SET[] =
    "WITH t AS (INSERT INTO api_teams AS a (team, budget_usd, budget_period, updated_at)"
    "           VALUES ($1, $2::float8, $3, clock_timestamp())"
    "           ON CONFLICT (team) DO UPDATE SET budget_usd = EXCLUDED.budget_usd,"
    "           budget_period = EXCLUDED.budget_period, updated_at = clock_timestamp() RETURNING a.*),"
    /* the team's keys carry its budget: gateways refresh them as changed keys */
    " k AS (UPDATE api_keys SET updated_at = clock_timestamp() WHERE team = $1)"
    " SELECT " TEAM_DOC "::text FROM t LEFT JOIN " TEAM_SPENT("t") " s ON s.team = t.team";

/* Every team that has a budget or a key; a team without a budget row has none. */
#define TEAMS                                                                                                \
    "(SELECT n.team, b.budget_usd, COALESCE(b.budget_period, 'month') AS budget_period, b.updated_at"        \
    " FROM (SELECT team FROM api_teams UNION SELECT team FROM api_keys WHERE team IS NOT NULL) n"            \
    " LEFT JOIN api_teams b ON b.team = n.team)"

const char ORC_KEYSPEC_SQL_TEAMS[] =
    "WITH page AS (SELECT * FROM " TEAMS " all_teams ORDER BY team LIMIT $1::int OFFSET $2::int)"
    " SELECT json_build_object("
    " 'teams', COALESCE((SELECT json_agg(" TEAM_DOC " ORDER BY t.team)"
    "   FROM page t LEFT JOIN " TEAM_SPENT("page") " s ON s.team = t.team), '[]'::json),"
                                                   " 'total', (SELECT count(*) FROM " TEAMS " all_teams),"
                                                   " 'limit', $1::int, 'offset', $2::int)::text";

/* The group of request row "r" for grouping $1. */
#define SPEND_GROUP                                                                                          \
    "CASE $1::text WHEN 'key' THEN r.key_id WHEN 'team' THEN r.team WHEN 'model' THEN r.model"               \
    " WHEN 'provider' THEN (SELECT x.provider FROM orchestration_results x"                                  \
    "   WHERE x.request_id = r.request_id AND x.status = 'success' ORDER BY x.attempt LIMIT 1)::text"        \
    " ELSE to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') END"

const char ORC_KEYSPEC_SQL_SPEND_REPORT[] =
    "WITH w AS (SELECT COALESCE($2::timestamptz, now() - interval '30 days') AS since,"
    "                  COALESCE($3::timestamptz, now()) AS until),"
    " r AS (SELECT " SPEND_GROUP " AS g, r.tokens_used, r.cost_usd FROM orchestration_requests r, w"
    "       WHERE r.created_at >= w.since AND r.created_at < w.until),"
    " g AS (SELECT r.g, count(*) AS requests, COALESCE(sum(r.tokens_used), 0)::bigint AS tokens,"
    "       COALESCE(sum(r.cost_usd), 0)::float8 AS cost FROM r GROUP BY r.g),"
    " top AS (SELECT * FROM g ORDER BY CASE WHEN $1::text = 'day' THEN g.g END, g.cost DESC, g.g NULLS LAST"
    "         LIMIT $4::int)"
    " SELECT json_build_object('group_by', $1::text, 'from', " ISO("w.since") ", 'to', " ISO(
        "w.until") ","
                   " 'groups', COALESCE((SELECT json_agg(json_build_object('group', top.g,"
                   "     'name', CASE WHEN $1::text = 'key' THEN (SELECT k.name FROM api_keys k WHERE k.id = "
                   "top.g) END,"
                   "     'requests', top.requests, 'tokens', top.tokens, 'cost_usd', top.cost)"
                   "   ORDER BY CASE WHEN $1::text = 'day' THEN top.g END, top.cost DESC, top.g NULLS LAST) "
                   "FROM top),"
                   "   '[]'::json),"
                   " 'groups_total', (SELECT count(*) FROM g), 'truncated', (SELECT count(*) FROM g) > "
                   "$4::int,"
                   " 'total', (SELECT json_build_object('requests', count(*), 'tokens', "
                   "COALESCE(sum(r.tokens_used), 0),"
                   "   'cost_usd', COALESCE(sum(r.cost_usd), 0)::float8) FROM r))::text"
                   " FROM w";
