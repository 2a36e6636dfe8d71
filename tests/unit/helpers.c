/*
 * helpers.c - see helpers.h.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/helpers.h"

char *test_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

json_object *test_at(json_object *o, const char *path)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *tok = strtok_r(buf, ".", &save); tok != NULL && o != NULL; tok = strtok_r(NULL, ".", &save)) {
        if (json_object_is_type(o, json_type_array))
            o = json_object_array_get_idx(o, (size_t)atoi(tok));
        else if (!json_object_object_get_ex(o, tok, &o))
            return NULL;
    }
    return o;
}

const char *test_at_str(json_object *o, const char *path)
{
    json_object *v = test_at(o, path);
    return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

int64_t test_at_int(json_object *o, const char *path)
{
    return json_object_get_int64(test_at(o, path));
}

const char *test_plain(json_object *o)
{
    return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* mkstemp and mkdtemp replace the last six characters of the name with a
 * unique suffix; they must be these. */
#define UNIQUE_SUFFIX "XXXXXX"

static void temp_name(char *path, size_t size, const char *name)
{
    const char *dir = getenv("TMPDIR");
    int n = snprintf(path, size, "%s/orc-%s-" UNIQUE_SUFFIX, dir && dir[0] ? dir : "/tmp", name);
    cr_assert(n > 0 && (size_t)n < size, "the temporary path for %s does not fit in %zu bytes", name, size);
}

void test_temp_dir(char *path, size_t size, const char *name)
{
    temp_name(path, size, name);
    cr_assert_not_null(mkdtemp(path), "mkdtemp %s", path);
}

int test_temp_file(char *path, size_t size, const char *name)
{
    temp_name(path, size, name);
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0, "mkstemp %s", path);
    return fd;
}
