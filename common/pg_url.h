/*
 * pg_url.h - parsing DATABASE_URL into libpq connection parameters.
 */
#ifndef ORC_PG_URL_H
#define ORC_PG_URL_H

#include <stddef.h>

#define ORC_PG_DEFAULT_PORT 5432

typedef struct {
    char host[256]; /* name or address, without IPv6 brackets */
    int port;
    char user[128];
    char password[256];
    char dbname[128];
    char sslmode[16]; /* "" : libpq's default (prefer) */
} orc_pg_url_t;

/* Accepts postgresql://, postgres:// and the SQLAlchemy forms
 * postgresql+DRIVER:// (e.g. postgresql+asyncpg://): user, password,
 * host (name, IPv4, [IPv6]), port, database, ?sslmode=.  Percent-escapes
 * are decoded.  ERR never contains the password. */
int orc_pg_parse_url(const char *url, orc_pg_url_t *out, char *err, size_t errlen);

#endif
