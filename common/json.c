/*
 * json.c - JSON string escaping and json-c shorthands.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"

/* Each character is written only when it and the closing quote and NUL
 * still fit, so the result is always a complete JSON string. */
size_t orc_json_escape(char *buf, size_t size, const char *s)
{
    size_t n = 0;
    if (size < 3) {
        if (size > 0)
            buf[0] = '\0';
        return 0;
    }
    buf[n++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        bool esc = c == '"' || c == '\\', ctl = c < 0x20 || c == 0x7f;
        size_t need = esc ? 2 : ctl ? 6 : 1;
        if (n + need + 2 > size)
            break;
        if (esc) {
            buf[n++] = '\\';
            buf[n++] = (char)c;
        } else if (ctl) {
            n += (size_t)snprintf(buf + n, size - n, "\\u%04x", c);
        } else {
            buf[n++] = (char)c;
        }
    }
    buf[n++] = '"';
    buf[n] = '\0';
    return n;
}

void orc_json_add_str(json_object *o, const char *key, const char *value)
{
    json_object_object_add(o, key, value ? json_object_new_string(value) : NULL);
}

void orc_json_add_int(json_object *o, const char *key, int64_t value)
{
    json_object_object_add(o, key, json_object_new_int64(value));
}

/* Three decimals are enough for seconds and percentages, and read well. */
void orc_json_add_double(json_object *o, const char *key, double value)
{
    char text[64];
    snprintf(text, sizeof(text), "%.3f", value);
    json_object_object_add(o, key, json_object_new_double_s(value, text));
}

void orc_json_add_bool(json_object *o, const char *key, int value)
{
    json_object_object_add(o, key, json_object_new_boolean(value != 0));
}
