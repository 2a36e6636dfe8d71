/*
 * keys_api.c - the admin routes of client keys, team budgets and spend:
 *
 *   POST   /api/admin/keys                a new key: 201 with the key, shown this once
 *   GET    /api/admin/keys                ?limit=&offset=&team=&include_revoked=
 *   GET    /api/admin/keys/{id}           one key
 *   PATCH  /api/admin/keys/{id}           change settings
 *   POST   /api/admin/keys/{id}/revoke    revoke (idempotent); DELETE /api/admin/keys/{id} too
 *   POST   /api/admin/keys/{id}/rotate    a new secret for the same id and settings
 *   GET    /api/admin/keys/{id}/spend     current period and all-time totals
 *   GET    /api/admin/teams               teams with their budgets and current spend
 *   PUT    /api/admin/teams/{team}        a team's budget
 *   GET    /api/admin/spend               ?group_by=key|team|model|provider|day&from=&to=&limit=
 *
 * The bodies are checked by common/keyspec (the rules `orchesity keys`
 * follows too) and each route runs one of its statements.  Records carry
 * the id and the prefix, never the hash; the key itself never reaches the
 * database or a log.  Path ids that are not key ids are answered 404
 * before any SQL.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/apikey.h"
#include "common/json.h"
#include "common/keyspec.h"
#include "common/orc.h"
#include "worker/api/api.h"
#include "worker/api/dbreq.h"

#define KEYS_LIST_DEFAULT 100
#define KEYS_LIST_MAX 1000
#define KEYS_OFFSET_MAX 100000000
#define SPEND_GROUPS_DEFAULT 100
#define SPEND_GROUPS_MAX 1000

/* ---- steps shared by the routes ------------------------------------------------ */

/* The key id of the route, or NULL after answering 404. */
static const char *route_id(orc_req_t *rq)
{
    const char *id = rq->match.params[0];
    if (orc_apikey_id_valid(id))
        return id;
    orc_http_error(rq, 404, "KEY_NOT_FOUND", "no such key");
    return NULL;
}

/* The record in the first row of RES; no row: the id names no key. */
static void on_record(orc_dbreq_t *d, const PGresult *res)
{
    if (PQntuples(res) == 0) {
        orc_dbreq_error(d, 404, "KEY_NOT_FOUND", "no such key");
        return;
    }
    orc_dbreq_reply_value(d, 200, res);
}

static void on_document(orc_dbreq_t *d, const PGresult *res)
{
    orc_dbreq_reply_value(d, 200, res);
}

/* Runs SQL with the route's id as $1 and answers the record. */
static void record_of_id(orc_req_t *rq, const char *sql)
{
    const char *id = route_id(rq);
    orc_dbreq_t *d = id != NULL ? orc_dbreq_new(rq, 0) : NULL;
    if (d != NULL)
        orc_dbreq_query(d, sql, 1, &id, on_record);
}

/* The body as a spec for USE with its statement parameters; ORC_ERR after
 * answering 400.  *BODY is the caller's to put, also on failure. */
static int read_spec(orc_req_t *rq, orc_ks_use_t use, json_object **body, orc_keyspec_t *spec,
                     orc_keyspec_params_t *p)
{
    char err[ORC_KEYSPEC_ERR_SIZE];
    *body = NULL;
    if (orc_http_read_json(rq, body) != ORC_OK)
        return ORC_ERR;
    if (orc_keyspec_from_json(spec, *body, use, err, sizeof(err)) == ORC_OK &&
        orc_keyspec_params(spec, use, time(NULL), p, err, sizeof(err)) == ORC_OK)
        return ORC_OK;
    orc_http_error(rq, 400, "INVALID_PARAMETER", "%s", err);
    return ORC_ERR;
}

/* ---- a new secret: create and rotate --------------------------------------------- */

typedef struct {
    char key[ORC_APIKEY_SIZE]; /* shown once in the reply, then wiped */
    char hash[ORC_APIKEY_HASH_SIZE];
    char prefix[ORC_APIKEY_PREFIX_SIZE];
} secret_t;

/* A request context holding a new secret; NULL after answering 503. */
static orc_dbreq_t *new_secret(orc_req_t *rq)
{
    char key[ORC_APIKEY_SIZE];
    if (orc_apikey_generate(key) != ORC_OK) {
        orc_http_error(rq, 503, "NO_RANDOMNESS", "the kernel gave no random bytes");
        return NULL;
    }
    orc_dbreq_t *d = orc_dbreq_new(rq, sizeof(secret_t));
    if (d != NULL) {
        secret_t *s = d->data;
        memcpy(s->key, key, sizeof(key));
        orc_apikey_hash(key, s->hash);
        orc_apikey_prefix(key, s->prefix);
    }
    explicit_bzero(key, sizeof(key));
    return d;
}

/* Answers STATUS with {"key": KEY, ...the record}; the secret is wiped. */
static void reply_with_key(orc_dbreq_t *d, int status, const char *record)
{
    secret_t *s = d->data;
    json_object *doc = json_tokener_parse(record), *o = json_object_new_object();
    orc_json_add_str(o, "key", s->key);
    explicit_bzero(s->key, sizeof(s->key));
    if (doc != NULL) {
        json_object_object_foreach(doc, name, v) json_object_object_add(o, name, json_object_get(v));
    }
    size_t len = 0;
    const char *text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
    orc_dbreq_reply(d, status, text, len);
    json_object_put(o);
    json_object_put(doc);
}

static void on_created(orc_dbreq_t *d, const PGresult *res)
{
    if (orc_dbreq_keep_value(d, res) == ORC_OK)
        reply_with_key(d, 201, d->doc);
}

void orc_api_keys_create(orc_req_t *rq)
{
    orc_keyspec_t spec;
    orc_keyspec_params_t p;
    json_object *body;
    char id[ORC_APIKEY_ID_SIZE];
    orc_dbreq_t *d = NULL;
    if (read_spec(rq, ORC_KEYSPEC_CREATE, &body, &spec, &p) == ORC_OK) {
        if (orc_apikey_id_new(id) != ORC_OK)
            orc_http_error(rq, 503, "NO_RANDOMNESS", "the kernel gave no random bytes");
        else
            d = new_secret(rq);
    }
    if (d != NULL) {
        secret_t *s = d->data;
        p.values[0] = id;
        p.values[1] = s->hash;
        p.values[2] = s->prefix;
        orc_dbreq_query(d, ORC_KEYSPEC_SQL_INSERT, p.n, p.values, on_created); /* copies the values */
    }
    json_object_put(body);
}

/* (record or NULL, whether the id exists): NULL for an existing id is a revoked key. */
static void on_rotated(orc_dbreq_t *d, const PGresult *res)
{
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        reply_with_key(d, 200, PQgetvalue(res, 0, 0));
        return;
    }
    if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 1), "t") == 0)
        orc_dbreq_error(d, 409, "KEY_REVOKED", "the key is revoked: create a new one");
    else
        orc_dbreq_error(d, 404, "KEY_NOT_FOUND", "no such key");
}

void orc_api_keys_rotate(orc_req_t *rq)
{
    const char *id = route_id(rq);
    orc_dbreq_t *d = id != NULL ? new_secret(rq) : NULL;
    if (d == NULL)
        return;
    secret_t *s = d->data;
    const char *values[] = {id, s->hash, s->prefix};
    orc_dbreq_query(d, ORC_KEYSPEC_SQL_ROTATE, 3, values, on_rotated);
}

/* ---- one key ---------------------------------------------------------------------- */

void orc_api_keys_get(orc_req_t *rq)
{
    record_of_id(rq, ORC_KEYSPEC_SQL_GET);
}

void orc_api_keys_revoke(orc_req_t *rq)
{
    record_of_id(rq, ORC_KEYSPEC_SQL_REVOKE);
}

void orc_api_keys_spend(orc_req_t *rq)
{
    record_of_id(rq, ORC_KEYSPEC_SQL_SPEND);
}

void orc_api_keys_update(orc_req_t *rq)
{
    orc_keyspec_t spec;
    orc_keyspec_params_t p;
    json_object *body = NULL;
    const char *id = route_id(rq);
    if (id != NULL && read_spec(rq, ORC_KEYSPEC_UPDATE, &body, &spec, &p) == ORC_OK) {
        orc_dbreq_t *d = orc_dbreq_new(rq, 0);
        p.values[0] = id;
        if (d != NULL)
            orc_dbreq_query(d, ORC_KEYSPEC_SQL_UPDATE, p.n, p.values, on_record);
    }
    json_object_put(body);
}

/* ---- lists ------------------------------------------------------------------------ */

/* Query parameter KEY into BUF: NULL when absent or empty; ORC_ERR (400
 * answered) when longer than BUF can hold. */
static int param_text(orc_req_t *rq, const char *key, char *buf, size_t size, const char **out)
{
    *out = orc_http_query_get(rq, key, buf, size);
    if (*out != NULL && strlen(*out) >= size - 1) {
        orc_http_error(rq, 400, "INVALID_PARAMETER", "%s is too long", key);
        return ORC_ERR;
    }
    if (*out != NULL && (*out)[0] == '\0')
        *out = NULL;
    return ORC_OK;
}

void orc_api_keys_list(orc_req_t *rq)
{
    orc_dbreq_page_t page;
    bool revoked;
    char buf[ORC_APIKEY_NAME_MAX + 2];
    const char *team;
    if (orc_dbreq_param_page(rq, KEYS_LIST_DEFAULT, KEYS_LIST_MAX, KEYS_OFFSET_MAX, &page) != ORC_OK ||
        orc_dbreq_param_bool(rq, "include_revoked", false, &revoked) != ORC_OK ||
        param_text(rq, "team", buf, sizeof(buf), &team) != ORC_OK)
        return;
    if (team != NULL && !orc_apikey_name_valid(team)) {
        orc_http_error(rq, 400, "INVALID_PARAMETER", "team must be 1 to %d printable ASCII characters",
                       ORC_APIKEY_NAME_MAX);
        return;
    }
    orc_dbreq_t *d = orc_dbreq_new(rq, 0);
    if (d == NULL)
        return;
    const char *values[] = {page.limit, page.offset, team, revoked ? "true" : "false"};
    orc_dbreq_query(d, ORC_KEYSPEC_SQL_LIST, 4, values, on_document);
}

void orc_api_teams_list(orc_req_t *rq)
{
    orc_dbreq_page_t page;
    if (orc_dbreq_param_page(rq, KEYS_LIST_DEFAULT, KEYS_LIST_MAX, KEYS_OFFSET_MAX, &page) != ORC_OK)
        return;
    orc_dbreq_t *d = orc_dbreq_new(rq, 0);
    if (d == NULL)
        return;
    const char *values[] = {page.limit, page.offset};
    orc_dbreq_query(d, ORC_KEYSPEC_SQL_TEAMS, 2, values, on_document);
}

/* The budget in the body for the team of the route; ORC_ERR after answering 400. */
static int read_team_budget(orc_req_t *rq, json_object **body, orc_keyspec_t *spec, orc_keyspec_params_t *p)
{
    char err[ORC_KEYSPEC_ERR_SIZE];
    *body = NULL;
    if (orc_http_read_json(rq, body) != ORC_OK)
        return ORC_ERR;
    if (orc_keyspec_from_json(spec, *body, ORC_KEYSPEC_TEAM_BUDGET, err, sizeof(err)) == ORC_OK) {
        spec->text[ORC_KS_TEAM] = rq->match.params[0];
        if (orc_keyspec_params(spec, ORC_KEYSPEC_TEAM_BUDGET, time(NULL), p, err, sizeof(err)) == ORC_OK)
            return ORC_OK;
    }
    orc_http_error(rq, 400, "INVALID_PARAMETER", "%s", err);
    return ORC_ERR;
}

void orc_api_teams_put(orc_req_t *rq)
{
    orc_keyspec_t spec;
    orc_keyspec_params_t p;
    json_object *body;
    if (read_team_budget(rq, &body, &spec, &p) == ORC_OK) {
        orc_dbreq_t *d = orc_dbreq_new(rq, 0);
        if (d != NULL)
            orc_dbreq_query(d, ORC_KEYSPEC_SQL_TEAM_SET, p.n, p.values, on_document);
    }
    json_object_put(body);
}

/* ---- spend report ------------------------------------------------------------------ */

/* ?NAME= as a point in time, normalised into OUT (*VALUE NULL when absent);
 * ORC_ERR after answering 400. */
static int param_time(orc_req_t *rq, const char *name, char out[ORC_KEYSPEC_TIME_SIZE], const char **value,
                      time_t *t)
{
    char buf[64];
    if (param_text(rq, name, buf, sizeof(buf), value) != ORC_OK)
        return ORC_ERR;
    if (*value == NULL)
        return ORC_OK;
    if (orc_keyspec_time(*value, 0, false, t) != ORC_OK) {
        orc_http_error(rq, 400, "INVALID_PARAMETER",
                       "%s must be a time: 2026-06-01, 2026-06-01T12:00:00Z or 2026-06-01T12:00:00+02:00",
                       name);
        return ORC_ERR;
    }
    orc_keyspec_time_format(*t, out);
    *value = out;
    return ORC_OK;
}

void orc_api_spend(orc_req_t *rq)
{
    char group_buf[16], from_buf[ORC_KEYSPEC_TIME_SIZE], to_buf[ORC_KEYSPEC_TIME_SIZE], limit[24];
    const char *group, *from, *to;
    time_t since = 0, until = 0;
    long n;
    if (param_text(rq, "group_by", group_buf, sizeof(group_buf), &group) != ORC_OK ||
        param_time(rq, "from", from_buf, &from, &since) != ORC_OK ||
        param_time(rq, "to", to_buf, &to, &until) != ORC_OK ||
        orc_dbreq_param_int(rq, "limit", SPEND_GROUPS_DEFAULT, 1, SPEND_GROUPS_MAX, &n) != ORC_OK)
        return;
    if (group != NULL && !orc_keyspec_group_valid(group)) {
        orc_http_error(rq, 400, "INVALID_PARAMETER", "group_by must be key, team, model, provider or day");
        return;
    }
    if (from != NULL && to != NULL && since >= until) {
        orc_http_error(rq, 400, "INVALID_PARAMETER", "from must be before to");
        return;
    }
    orc_dbreq_t *d = orc_dbreq_new(rq, 0);
    if (d == NULL)
        return;
    snprintf(limit, sizeof(limit), "%ld", n);
    const char *values[] = {group != NULL ? group : "key", from, to, limit};
    orc_dbreq_query(d, ORC_KEYSPEC_SQL_SPEND_REPORT, 4, values, on_document);
}
