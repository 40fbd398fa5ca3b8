/* rows.c — PostgreSQL results as JSON (dash_rows): one object per row, each value typed by
 * its column's type, so amounts stay exact strings and timestamps have one form everywhere
 * ("YYYY-MM-DDTHH:MM:SS.ffffffZ"). Type OIDs are the built-in ones (pg_type.dat). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "server.h"

enum {
    OID_BOOL = 16,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_OID = 26,
    OID_JSON = 114,
    OID_TEXT_ARRAY = 1009,
    OID_VARCHAR_ARRAY = 1015,
    OID_TIMESTAMP = 1114,
    OID_TIMESTAMPTZ = 1184,
    OID_NUMERIC = 1700,
    OID_JSONB = 3802,
};

/* n decimal digits at s; -1 when any is not a digit */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int dash_ts_iso(const char *pg, char *out, size_t outsz)
{
    /* YYYY-MM-DD HH:MM:SS[.f…][±HH[:MM[:SS]]] */
    if (!pg || strlen(pg) < 19 || pg[4] != '-' || pg[7] != '-' ||
        (pg[10] != ' ' && pg[10] != 'T') || pg[13] != ':' || pg[16] != ':')
        return -1;
    int year = digits(pg, 4), mon = digits(pg + 5, 2), day = digits(pg + 8, 2);
    int hour = digits(pg + 11, 2), min = digits(pg + 14, 2), sec = digits(pg + 17, 2);
    if (year < 1 || mon < 1 || mon > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 ||
        min < 0 || min > 59 || sec < 0 || sec > 60)
        return -1;
    const char *p = pg + 19;
    long usec = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n < 6)
                usec = usec * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0)
            return -1;
        for (; n < 6; n++)
            usec *= 10;
    }
    long offset = 0;
    if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        p++;
        int oh = digits(p, 2);
        if (oh < 0)
            return -1;
        p += 2;
        int om = 0, os = 0;
        if (*p == ':') {
            if ((om = digits(p + 1, 2)) < 0)
                return -1;
            p += 3;
            if (*p == ':') {
                if ((os = digits(p + 1, 2)) < 0)
                    return -1;
                p += 3;
            }
        }
        offset = sign * (oh * 3600L + om * 60L + os);
    } else if (*p == 'Z') {
        p++;
    }
    if (*p) /* " BC" or anything else */
        return -1;
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = mon - 1,
                    .tm_mday = day,
                    .tm_hour = hour,
                    .tm_min = min,
                    .tm_sec = sec};
    time_t t = timegm(&tm) - offset;
    struct tm u;
    if (!gmtime_r(&t, &u) || u.tm_year + 1900 > 9999 || u.tm_year + 1900 < 1)
        return -1;
    int n = snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", u.tm_year + 1900,
                     u.tm_mon + 1, u.tm_mday, u.tm_hour, u.tm_min, u.tm_sec, usec);
    return n > 0 && (size_t)n < outsz ? 0 : -1;
}

/* A one-dimensional text[] literal ({a,"b c",NULL}) as a JSON array; NULL when it is not. */
static json_t *text_array(const char *s)
{
    if (*s != '{')
        return NULL;
    json_t *arr = json_array();
    const char *p = s + 1;
    if (*p == '}' && !p[1])
        return arr;
    size_t cap = strlen(s) + 1;
    char *el = malloc(cap);
    if (!el) {
        json_decref(arr);
        return NULL;
    }
    for (;;) {
        size_t n = 0;
        json_t *v;
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                el[n++] = *p++;
            }
            if (*p != '"')
                goto bad;
            p++;
            el[n] = '\0';
            v = json_string(el);
        } else {
            while (*p && *p != ',' && *p != '}') {
                if (*p == '{' || *p == '"')
                    goto bad; /* nested arrays are not handled here */
                el[n++] = *p++;
            }
            el[n] = '\0';
            if (n == 0)
                goto bad;
            v = strcmp(el, "NULL") == 0 ? json_null() : json_string(el);
        }
        json_array_append_new(arr, v ? v : json_null());
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '}' && !p[1])
            break;
        goto bad;
    }
    free(el);
    return arr;
bad:
    free(el);
    json_decref(arr);
    return NULL;
}

json_t *dash_value(const char *text, Oid type)
{
    json_t *v = NULL;
    switch (type) {
    case OID_BOOL:
        return json_boolean(text[0] == 't');
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID: {
        char *end;
        long long n = strtoll(text, &end, 10);
        if (*text && !*end)
            return json_integer(n);
        break;
    }
    case OID_JSON:
    case OID_JSONB:
        v = json_loads(text, JSON_DECODE_ANY, NULL);
        break;
    case OID_TIMESTAMP:
    case OID_TIMESTAMPTZ: {
        char iso[40];
        if (dash_ts_iso(text, iso, sizeof iso) == 0)
            return json_string(iso);
        break;
    }
    case OID_TEXT_ARRAY:
    case OID_VARCHAR_ARRAY:
        v = text_array(text);
        break;
    case OID_NUMERIC:
    default:
        break;
    }
    if (!v)
        v = json_string(text);
    if (!v) /* not valid UTF-8 (a SQL_ASCII database): a string of what is valid */
    {
        char *copy = strdup(text);
        if (copy) {
            of_utf8_repair(copy);
            v = json_string(copy);
            free(copy);
        }
    }
    return v ? v : json_null();
}

json_t *dash_rows(const PGresult *r)
{
    json_t *rows = json_array();
    int nrows = PQntuples(r), ncols = PQnfields(r);
    for (int i = 0; i < nrows; i++) {
        json_t *row = json_object();
        for (int c = 0; c < ncols; c++) {
            json_t *v =
                PQgetisnull(r, i, c) ? json_null() : dash_value(PQgetvalue(r, i, c), PQftype(r, c));
            json_object_set_new(row, PQfname(r, c), v);
        }
        json_array_append_new(rows, row);
    }
    return rows;
}
