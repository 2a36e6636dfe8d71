/*
 * helpers.h - small helpers shared by the unit tests: fixture files,
 * temporary files and directories, and reading values out of JSON by a
 * dotted path ("choices.0.delta.content").
 */
#ifndef ORC_TEST_HELPERS_H
#define ORC_TEST_HELPERS_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

char *test_slurp(const char *path, size_t *len); /* whole file, NUL-terminated; fails the test if absent */
json_object *test_at(json_object *o, const char *path);
const char *test_at_str(json_object *o, const char *path);
int64_t test_at_int(json_object *o, const char *path);
const char *test_plain(json_object *o); /* compact JSON text, owned by O */

/* A new empty directory, or a new empty file (its open descriptor is
 * returned), named orc-NAME-<unique suffix> in $TMPDIR (/tmp without it);
 * its path goes to PATH (SIZE bytes).  The test fails when it cannot. */
void test_temp_dir(char *path, size_t size, const char *name);
int test_temp_file(char *path, size_t size, const char *name);

#endif
