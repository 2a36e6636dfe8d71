/*
 * keyspec.h - a client key's settings as an operator gives them, their
 * rules, and the SQL statements that store them.
 *
 * The command line (`orchesity keys`) and the admin API
 * (/api/admin/keys) both fill an orc_keyspec_t with texts, one per field,
 * and hand it to orc_keyspec_params, which checks every rule and gives the
 * text parameters of the statements below: the same rules and the same SQL
 * everywhere.  A field's text is NULL when it was not given, "" when it was
 * given as "none" (no team, no limit, all models, never expires, empty
 * metadata), otherwise the value as text: lists comma-separated, numbers
 * in decimal, metadata as JSON.
 *
 * Every statement that changes a row sets updated_at = clock_timestamp():
 * running gateways poll updated_at to drop what they cached of a key.
 * The statements answer JSON documents built in PostgreSQL; none of them
 * ever returns key_hash, and the key itself never reaches the database.
 */
#ifndef ORC_KEYSPEC_H
#define ORC_KEYSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <json-c/json.h>

#include "common/apikey.h"

/* The fields, in the order of their statement parameters. */
typedef enum {
    ORC_KS_NAME,
    ORC_KS_TEAM,
    ORC_KS_MODELS,
    ORC_KS_PROVIDERS,
    ORC_KS_SCOPES,
    ORC_KS_RPM,
    ORC_KS_TPM,
    ORC_KS_MAX_PARALLEL,
    ORC_KS_BUDGET,
    ORC_KS_BUDGET_PERIOD,
    ORC_KS_EXPIRES,
    ORC_KS_METADATA,
    ORC_KS_NFIELDS
} orc_ks_field_t;

#define ORC_KEYSPEC_LIMIT_MAX 2147483647L  /* rpm, tpm, max_parallel: 1 .. 2^31-1 */
#define ORC_KEYSPEC_BUDGET_MAX 1e9         /* USD */
#define ORC_KEYSPEC_METADATA_MAX 16384     /* bytes of JSON text */
#define ORC_KEYSPEC_METADATA_DEPTH 32      /* nesting of the metadata object */
#define ORC_KEYSPEC_EXPIRES_MAX_DAYS 36500 /* expiry at most 100 years ahead */
#define ORC_KEYSPEC_ERR_SIZE 256
#define ORC_KEYSPEC_TIME_SIZE 21 /* "2026-12-31T23:59:59Z" */
/* Joined list texts made from JSON arrays, and numbers made from JSON numbers. */
#define ORC_KEYSPEC_TEXT_SIZE (3 * ORC_APIKEY_PATTERNS_MAX * (ORC_APIKEY_PATTERN_MAX + 1) + 8 * 32)

/* What a spec is checked for. */
typedef enum {
    ORC_KEYSPEC_CREATE,      /* a new key: name required, absent fields take their defaults */
    ORC_KEYSPEC_UPDATE,      /* a change: at least one field; absent fields stay as they are */
    ORC_KEYSPEC_TEAM_BUDGET, /* a team's budget: team and budget_usd required, budget_period optional */
} orc_ks_use_t;

typedef struct {
    const char *text[ORC_KS_NFIELDS]; /* NULL: not given; "": none; borrowed */
    bool cli;                         /* errors name --options instead of JSON fields */
    /* storage for the texts orc_keyspec_from_json makes (lists, numbers) */
    char buf[ORC_KEYSPEC_TEXT_SIZE];
    size_t used;
} orc_keyspec_t;

/* The text parameters of a statement, filled by orc_keyspec_params. */
#define ORC_KEYSPEC_PARAMS_MAX 16
typedef struct {
    const char *values[ORC_KEYSPEC_PARAMS_MAX]; /* NULL: SQL NULL; point into the spec or below */
    int n;                                      /* parameters of the statement */
    char budget[32], expires[ORC_KEYSPEC_TIME_SIZE], scopes[40], mask[16];
} orc_keyspec_params_t;

/* The field's name in JSON documents ("budget_usd") or on the command line ("--budget"). */
const char *orc_keyspec_field_name(orc_ks_field_t f, bool cli);
/* The field named NAME (JSON or CLI form, as CLI says), or -1. */
int orc_keyspec_field_of(const char *name, bool cli);

/* Checks every rule of S for USE at time NOW.  ORC_OK, or ORC_ERR with a
 * message naming the field and its limits in ERR. */
int orc_keyspec_validate(const orc_keyspec_t *s, orc_ks_use_t use, time_t now, char *err, size_t errlen);

/* Validates S, then fills P with the parameters of USE's statement:
 *   CREATE  ORC_KEYSPEC_SQL_INSERT: values[0..2] (id, key hash, prefix) are the caller's
 *   UPDATE  ORC_KEYSPEC_SQL_UPDATE: values[0] (id) is the caller's
 *   TEAM_BUDGET  ORC_KEYSPEC_SQL_TEAM_SET: all three filled
 * P's values point into S and P: both must outlive the query. */
int orc_keyspec_params(const orc_keyspec_t *s, orc_ks_use_t use, time_t now, orc_keyspec_params_t *p,
                       char *err, size_t errlen);

/* Fills S (zeroed first) from the JSON object BODY, whose fields keep the
 * JSON names: strings, numbers, arrays of strings, metadata an object,
 * null for "none".  Unknown fields and wrong types are refused; so are the
 * fields USE does not take.  BODY must outlive S. */
int orc_keyspec_from_json(orc_keyspec_t *s, json_object *body, orc_ks_use_t use, char *err, size_t errlen);

/* A point in time: "2026-12-31", "2026-12-31T23:59[:59[.fff]][Z|+HH:MM|-HH:MM]"
 * (a space may replace the T; no zone is UTC) or, when RELATIVE, a
 * duration from NOW: "<N>h", "<N>d", "<N>w".  ORC_OK with *OUT. */
int orc_keyspec_time(const char *text, time_t now, bool relative, time_t *out);
/* T as "2026-12-31T23:59:59Z". */
void orc_keyspec_time_format(time_t t, char buf[ORC_KEYSPEC_TIME_SIZE]);

/* ---- statements (keyspec_sql.c) -------------------------------------------------
 * Each answers one row whose first column is a JSON document (text). */

/* $1 id, $2 key hash, $3 prefix, $4.. the fields in orc_ks_field_t order -> the record */
extern const char ORC_KEYSPEC_SQL_INSERT[];
/* $1 id, $2.. the fields, $14 mask of the given fields (bit i: field i) -> the record; no row: unknown */
extern const char ORC_KEYSPEC_SQL_UPDATE[];
/* $1 id -> the record; no row: unknown */
extern const char ORC_KEYSPEC_SQL_GET[];
/* $1 id -> the record, revoked (the first revocation time is kept); no row: unknown */
extern const char ORC_KEYSPEC_SQL_REVOKE[];
/* $1 id, $2 new key hash, $3 new prefix -> (the record or NULL, whether the id exists);
 * NULL for an existing id: the key is revoked and keeps its secret */
extern const char ORC_KEYSPEC_SQL_ROTATE[];
/* $1 limit, $2 offset, $3 team or NULL, $4 include revoked -> {keys, total, limit, offset} */
extern const char ORC_KEYSPEC_SQL_LIST[];
/* $1 id -> {key_id, name, team, status, budget_usd, budget_period, period, total}; no row: unknown */
extern const char ORC_KEYSPEC_SQL_SPEND[];
/* $1 team, $2 budget or NULL, $3 period -> the team */
extern const char ORC_KEYSPEC_SQL_TEAM_SET[];
/* $1 limit, $2 offset -> {teams, total, limit, offset} */
extern const char ORC_KEYSPEC_SQL_TEAMS[];
/* $1 group (key, team, model, provider, day), $2 from or NULL (30 days ago), $3 to or NULL
 * (now), $4 limit -> {group_by, from, to, groups, groups_total, truncated, total} */
extern const char ORC_KEYSPEC_SQL_SPEND_REPORT[];

/* The groupings ORC_KEYSPEC_SQL_SPEND_REPORT knows. */
bool orc_keyspec_group_valid(const char *group);

#endif
