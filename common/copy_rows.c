/* copy_rows.c — COPY text rows and array literals (see copy_rows.h). */
#include "copy_rows.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void of_rows_init(of_rows *r)
{
    memset(r, 0, sizeof *r);
}

void of_rows_free(of_rows *r)
{
    free(r->buf);
    of_rows_init(r);
}

void of_rows_reset(of_rows *r)
{
    r->len = 0;
    r->rows = 0;
    r->mid_row = false;
    r->failed = false;
}

bool of_rows_ok(const of_rows *r)
{
    return !r->failed;
}

/* Makes room for n more bytes plus a NUL. */
static bool reserve(of_rows *r, size_t n)
{
    if (r->failed)
        return false;
    if (r->len + n + 1 <= r->cap)
        return true;
    size_t cap = r->cap ? r->cap : 4096;
    while (cap < r->len + n + 1)
        cap *= 2;
    char *b = realloc(r->buf, cap);
    if (!b) {
        r->failed = true;
        return false;
    }
    r->buf = b;
    r->cap = cap;
    return true;
}

static void put(of_rows *r, const char *s, size_t n)
{
    if (!reserve(r, n))
        return;
    memcpy(r->buf + r->len, s, n);
    r->len += n;
    r->buf[r->len] = '\0';
}

static void sep(of_rows *r)
{
    if (r->mid_row)
        put(r, "\t", 1);
    r->mid_row = true;
}

/* Appends s escaped for COPY's text format. */
static void escape_append(of_rows *r, const char *s, size_t n)
{
    /* worst case every byte becomes two */
    if (!reserve(r, 2 * n))
        return;
    char *o = r->buf + r->len;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        switch (c) {
        case '\\':
            *o++ = '\\';
            *o++ = '\\';
            break;
        case '\t':
            *o++ = '\\';
            *o++ = 't';
            break;
        case '\n':
            *o++ = '\\';
            *o++ = 'n';
            break;
        case '\r':
            *o++ = '\\';
            *o++ = 'r';
            break;
        default:
            *o++ = c;
        }
    }
    r->len = (size_t)(o - r->buf);
    r->buf[r->len] = '\0';
}

void of_rows_textn(of_rows *r, const char *s, size_t n)
{
    sep(r);
    escape_append(r, s, n);
}

void of_rows_text(of_rows *r, const char *s)
{
    if (!s)
        of_rows_null(r);
    else
        of_rows_textn(r, s, strlen(s));
}

void of_rows_null(of_rows *r)
{
    sep(r);
    put(r, "\\N", 2);
}

/* v in decimal, ending at end (no NUL); returns where it starts (snprintf costs more than
 * the rest of a row) */
static char *format_int(char *end, int64_t v)
{
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    char *p = end;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return p;
}

void of_rows_int(of_rows *r, int64_t v)
{
    char b[24], *start = format_int(b + sizeof b, v);
    sep(r);
    put(r, start, (size_t)(b + sizeof b - start));
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    of_rows *r = data;
    escape_append(r, buf, size);
    return r->failed ? -1 : 0;
}

/* A JSON string (JSON escapes as jansson writes them, then the COPY escaping). The runs
 * between escapes hold no backslash or control character: nothing for COPY to escape. */
static void json_string_out(of_rows *r, const char *s, size_t n)
{
    static const char from[] = "\"\\\b\f\n\r\t", to[] = "\"\\bfnrt";
    put(r, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(r, s + run, i - run);
        run = i + 1;
        const char *hit = memchr(from, c, sizeof from - 1);
        char esc[8];
        if (hit)
            snprintf(esc, sizeof esc, "\\%c", to[hit - from]);
        else
            snprintf(esc, sizeof esc, "\\u%04X", c);
        escape_append(r, esc, strlen(esc));
    }
    put(r, s + run, n - run);
    put(r, "\"", 1);
}

/* v as compact JSON text, COPY-escaped (what json_dumps(JSON_COMPACT) writes, without its
 * callback per token and its printf per integer). Reals go through jansson. */
static void json_out(of_rows *r, const json_t *v, int depth)
{
    char b[24], *start;
    if (depth > 2048) { /* deeper than jansson itself nests: never from a parsed event */
        r->failed = true;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        put(r, "{", 1);
        json_t *o = (json_t *)v;
        int first = 1;
        for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it), first = 0) {
            if (!first)
                put(r, ",", 1);
            json_string_out(r, json_object_iter_key(it), json_object_iter_key_len(it));
            put(r, ":", 1);
            json_out(r, json_object_iter_value(it), depth + 1);
        }
        put(r, "}", 1);
        break;
    }
    case JSON_ARRAY:
        put(r, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                put(r, ",", 1);
            json_out(r, json_array_get(v, i), depth + 1);
        }
        put(r, "]", 1);
        break;
    case JSON_STRING:
        json_string_out(r, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        start = format_int(b + sizeof b, (int64_t)json_integer_value(v));
        put(r, start, (size_t)(b + sizeof b - start));
        break;
    case JSON_TRUE:
        put(r, "true", 4);
        break;
    case JSON_FALSE:
        put(r, "false", 5);
        break;
    case JSON_NULL:
        put(r, "null", 4);
        break;
    default:
        if (json_dump_callback(v, dump_cb, r, JSON_COMPACT | JSON_ENCODE_ANY))
            r->failed = true;
    }
}

void of_rows_json(of_rows *r, const json_t *v)
{
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_STRING:
        of_rows_textn(r, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        of_rows_int(r, (int64_t)json_integer_value(v));
        break;
    case JSON_TRUE:
        sep(r);
        put(r, "t", 1);
        break;
    case JSON_FALSE:
        sep(r);
        put(r, "f", 1);
        break;
    case JSON_NULL:
        of_rows_null(r);
        break;
    default: /* object, array, real: JSON text, escaped */
        sep(r);
        json_out(r, v, 0);
        break;
    }
}

void of_rows_end(of_rows *r)
{
    put(r, "\n", 1);
    r->mid_row = false;
    r->rows++;
}

void of_rows_array_begin(of_rows *r)
{
    put(r, "{", 1);
    r->mid_row = false;
}

/* Appends n bytes of s as a quoted array element, '"' and '\\' escaped. */
static void array_quoted(of_rows *r, const char *s, size_t n)
{
    if (!reserve(r, 2 * n + 2))
        return;
    char *o = r->buf + r->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            *o++ = '\\';
        *o++ = s[i];
    }
    *o++ = '"';
    r->len = (size_t)(o - r->buf);
    r->buf[r->len] = '\0';
}

static void array_sep(of_rows *r)
{
    if (r->mid_row)
        put(r, ",", 1);
    r->mid_row = true;
    r->rows++;
}

void of_rows_array_text(of_rows *r, const char *s)
{
    array_sep(r);
    if (!s)
        put(r, "NULL", 4);
    else
        array_quoted(r, s, strlen(s));
}

void of_rows_array_json(of_rows *r, const json_t *v)
{
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_STRING:
        array_sep(r);
        array_quoted(r, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        of_rows_array_int(r, (int64_t)json_integer_value(v));
        break;
    case JSON_TRUE:
        array_sep(r);
        put(r, "t", 1);
        break;
    case JSON_FALSE:
        array_sep(r);
        put(r, "f", 1);
        break;
    case JSON_NULL:
        array_sep(r);
        put(r, "NULL", 4);
        break;
    default: { /* object, array, real: JSON text */
        char *js = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        array_sep(r);
        if (!js) {
            r->failed = true;
            break;
        }
        array_quoted(r, js, strlen(js));
        free(js);
        break;
    }
    }
}

void of_rows_array_int(of_rows *r, int64_t v)
{
    char b[24], *start = format_int(b + sizeof b, v);
    array_sep(r);
    put(r, start, (size_t)(b + sizeof b - start));
}

void of_rows_array_end(of_rows *r)
{
    put(r, "}", 1);
    r->mid_row = false;
}
