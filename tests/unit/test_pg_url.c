/*
 * test_pg_url.c - DATABASE_URL parsing (common/pg_url.c) and the embedded
 * migrations (common/migrations.c).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "common/migrations.h"
#include "common/orc.h"
#include "common/pg_url.h"

Test(pg_url, plain_and_sqlalchemy_forms)
{
    orc_pg_url_t u;
    char err[300];
    cr_assert_eq(orc_pg_parse_url("postgresql://orchesity_user:secure_password@postgres:5432/orchesity_db",
                                  &u, err, sizeof(err)),
                 ORC_OK, "%s", err);
    cr_assert_str_eq(u.host, "postgres");
    cr_assert_eq(u.port, 5432);
    cr_assert_str_eq(u.user, "orchesity_user");
    cr_assert_str_eq(u.password, "secure_password");
    cr_assert_str_eq(u.dbname, "orchesity_db");
    cr_assert_eq(orc_pg_parse_url("postgresql+asyncpg://u:p@db.internal/app", &u, err, sizeof(err)), ORC_OK,
                 "%s", err);
    cr_assert_str_eq(u.host, "db.internal");
    cr_assert_eq(u.port, ORC_PG_DEFAULT_PORT);
    cr_assert_str_eq(u.dbname, "app");
    cr_assert_eq(orc_pg_parse_url("postgres://u@127.0.0.1:6543/x", &u, err, sizeof(err)), ORC_OK, "%s", err);
    cr_assert_eq(u.port, 6543);
    cr_assert_str_eq(u.password, "");
}

Test(pg_url, escapes_ipv6_and_sslmode)
{
    orc_pg_url_t u;
    char err[300];
    cr_assert_eq(orc_pg_parse_url("postgresql://us%40er:p%3As%2Fw%20d@[::1]:5433/my%20db?sslmode=require", &u,
                                  err, sizeof(err)),
                 ORC_OK, "%s", err);
    cr_assert_str_eq(u.user, "us@er");
    cr_assert_str_eq(u.password, "p:s/w d");
    cr_assert_str_eq(u.host, "::1");
    cr_assert_str_eq(u.dbname, "my db");
    cr_assert_str_eq(u.sslmode, "require");
}

Test(pg_url, rejects_with_reasons_and_never_the_password)
{
    static const char *bad[] = {
        "mysql://u:hunter2@h/db",
        "redis://u:hunter2@h/0",
        "postgresql://u:hunter2@/db",
        "postgresql://u:hunter2@h:0/db",
        "postgresql://u:hunter2@h:70000/db",
        "postgresql://u:hunter2@h/db?x=1",
        "postgresql://u:hunter2@h/db?sslmode=maybe",
        "hunter2",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        orc_pg_url_t u;
        char err[300] = "";
        cr_assert_eq(orc_pg_parse_url(bad[i], &u, err, sizeof(err)), ORC_ERR, "%s accepted", bad[i]);
        cr_assert_neq(err[0], '\0', "%s: no reason", bad[i]);
        cr_assert_null(strstr(err, "hunter2"), "%s: the reason shows the password: %s", bad[i], err);
        cr_assert_str_eq(u.password, "");
    }
}

Test(migrations, embedded_in_order_and_recorded)
{
    cr_assert_geq(orc_migrations_count, 1);
    cr_assert_eq(orc_migrations[0].version, 1);
    cr_assert_str_eq(orc_migrations[0].name, "001_initial");
    for (int i = 1; i < orc_migrations_count; i++)
        cr_assert_gt(orc_migrations[i].version, orc_migrations[i - 1].version);
    cr_assert_eq(orc_migrations_latest(), orc_migrations[orc_migrations_count - 1].version);
    cr_assert_not_null(strstr(orc_migrations[0].sql, "CREATE TABLE IF NOT EXISTS orchestration_requests"));
    char *s = orc_migration_script(&orc_migrations[0]);
    cr_assert_not_null(strstr(s, "INSERT INTO schema_migrations (version, name) VALUES (1, '001_initial')"));
    free(s);
}
