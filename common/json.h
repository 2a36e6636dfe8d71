/*
 * json.h - helpers around json-c used by every API module.
 */
#ifndef ORC_JSON_H
#define ORC_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/* Writes S as a JSON string literal (with quotes) into BUF; truncates safely. */
size_t orc_json_escape(char *buf, size_t size, const char *s);

void orc_json_add_str(json_object *o, const char *key, const char *value);
void orc_json_add_int(json_object *o, const char *key, int64_t value);
void orc_json_add_double(json_object *o, const char *key, double value);
void orc_json_add_bool(json_object *o, const char *key, int value);

#endif
