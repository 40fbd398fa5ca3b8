/* event.c — decoding and validating one message into an of_event (see event.h). The checks
 * run cheapest first; the first failure is the reason a shop reads in the dead letter. */
#include "event.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json_fast.h"
#include "json_schema.h"
#include "schemas_embedded.h"

struct of_validator {
    of_schema_registry *reg;
    const json_t *envelope;
    const json_t *schemas[64]; /* indexed like of_event_types */
};

of_validator *of_validator_new(of_error *err)
{
    of_validator *v = calloc(1, sizeof *v);
    if (!v) {
        of_error_set(err, "out of memory");
        return NULL;
    }
    v->reg = of_schema_registry_new();
    if (!v->reg)
        goto oom;
    for (size_t i = 0; i < of_embedded_schemas_count; i++) {
        json_error_t jerr;
        json_t *doc = json_loads(of_embedded_schemas[i].text, 0, &jerr);
        if (!doc) {
            of_error_set(err, "schema %s is not valid JSON: %s (line %d)",
                         of_embedded_schemas[i].name, jerr.text, jerr.line);
            goto fail;
        }
        int rc = of_schema_registry_add(v->reg, doc, err);
        json_decref(doc);
        if (rc) {
            of_error_prefix(err, "schema %s", of_embedded_schemas[i].name);
            goto fail;
        }
    }
    v->envelope = of_schema_registry_find(v->reg, "cloudevent.json");
    if (!v->envelope) {
        of_error_set(err, "schema cloudevent.json is missing from schemas/events");
        goto fail;
    }
    for (size_t i = 0; i < of_event_type_count && i < 64; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s.json", of_event_types[i].type);
        v->schemas[i] = of_schema_registry_find(v->reg, name);
        if (!v->schemas[i]) {
            of_error_set(err, "schema %s is missing from schemas/events", name);
            goto fail;
        }
    }
    return v;
oom:
    of_error_set(err, "out of memory");
fail:
    of_validator_free(v);
    return NULL;
}

void of_validator_free(of_validator *v)
{
    if (!v)
        return;
    of_schema_registry_free(v->reg);
    free(v);
}

void of_event_clear(of_event *ev)
{
    if (!ev)
        return;
    json_decref(ev->root);
    memset(ev, 0, sizeof *ev);
}

long of_utf8_invalid_at(const void *s, size_t len)
{
    const unsigned char *p = s;
    size_t i = 0;
    while (i < len) {
        uint64_t w;
        if (i + 8 <= len && (memcpy(&w, p + i, 8), (w & 0x8080808080808080ULL) == 0)) {
            i += 8; /* eight ASCII bytes at once: most of an event */
            continue;
        }
        unsigned char c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return (long)i;
        }
        for (size_t k = 1; k <= n; k++) {
            if (i + k >= len || (p[i + k] & 0xC0) != 0x80)
                return (long)i;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return (long)i;
        i += n + 1;
    }
    return -1;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

int of_parse_rfc3339(const char *s, int64_t *out_us)
{
    int Y, M, D, h, mi, se;
    size_t len = strlen(s);
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return -1;
    if (digits(s, 4, &Y) || digits(s + 5, 2, &M) || digits(s + 8, 2, &D) || digits(s + 11, 2, &h) ||
        digits(s + 14, 2, &mi) || digits(s + 17, 2, &se))
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > days_in_month(Y, M) || h > 23 || mi > 59 || se > 60)
        return -1;
    if (se == 60)
        se = 59; /* a leap second counts as the second before it */
    const char *p = s + 19;
    int64_t us = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 6)
                us = us * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0 || nd > 9)
            return -1;
        for (int i = nd; i < 6; i++)
            us *= 10;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (strlen(p) != 6 || p[3] != ':' || digits(p + 1, 2, &oh) || digits(p + 4, 2, &om) ||
            oh > 23 || om > 59)
            return -1;
        offset_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    int64_t secs = days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + se - offset_min * 60;
    *out_us = secs * 1000000 + us;
    return 0;
}

static const of_header *header_find(const of_message_in *m, const char *name)
{
    for (size_t i = 0; i < m->nheaders; i++)
        if (strcasecmp(m->headers[i].name, name) == 0)
            return &m->headers[i];
    return NULL;
}

/* what: "payload" or "data" */
static json_t *parse_json(const void *buf, size_t len, const char *what, size_t flags,
                          of_error *err)
{
    if (len == 0) {
        of_error_set(err, "%s is empty: expected a JSON %s", what,
                     strcmp(what, "payload") == 0 ? "CloudEvents event" : "object");
        return NULL;
    }
    long bad = of_utf8_invalid_at(buf, len);
    if (bad >= 0) {
        of_error_set(err, "%s is not valid UTF-8: byte 0x%02x at offset %ld", what,
                     ((const unsigned char *)buf)[bad], bad);
        return NULL;
    }
    json_t *j = of_json_fast_object(buf, len); /* NULL: not the common shape, or not valid */
    if (j)
        return j;
    json_error_t jerr;
    j = json_loadb(buf, len, JSON_REJECT_DUPLICATES | flags, &jerr);
    if (!j)
        of_error_set(err, "%s is not valid JSON: %s (line %d, column %d)", what, jerr.text,
                     jerr.line, jerr.column);
    return j;
}

/* Binary mode: the attributes come from ce_* headers, the value is the data. */
static json_t *from_binary(const of_message_in *m, const of_header *ct, of_error *err)
{
    json_t *root = json_object();
    if (!root) {
        of_error_set(err, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < m->nheaders; i++) {
        const of_header *h = &m->headers[i];
        if (strncasecmp(h->name, "ce_", 3) != 0 || !h->name[3])
            continue;
        if (!h->value || of_utf8_invalid_at(h->value, h->size) >= 0 ||
            memchr(h->value, 0, h->size)) {
            of_error_set(err, "header %s: must be a UTF-8 string", h->name);
            json_decref(root);
            return NULL;
        }
        char attr[64]; /* CloudEvents attribute names are lower-case */
        size_t k = 0;
        for (const char *c = h->name + 3; *c && k + 1 < sizeof attr; c++)
            attr[k++] = (*c >= 'A' && *c <= 'Z') ? (char)(*c - 'A' + 'a') : *c;
        attr[k] = '\0';
        json_object_set_new(root, attr, json_stringn_nocheck(h->value, h->size));
    }
    if (ct && ct->value) {
        if (of_utf8_invalid_at(ct->value, ct->size) >= 0 || memchr(ct->value, 0, ct->size)) {
            of_error_set(err, "header content-type: must be a UTF-8 string");
            json_decref(root);
            return NULL;
        }
        /* "application/json; charset=utf-8" is application/json */
        size_t n = ct->size;
        const char *semi = memchr(ct->value, ';', n);
        if (semi)
            n = (size_t)(semi - (const char *)ct->value);
        while (n && ((const char *)ct->value)[n - 1] == ' ')
            n--;
        json_object_set_new(root, "datacontenttype", json_stringn(ct->value, n));
    }
    json_t *data = parse_json(m->value, m->len, "data", JSON_DECODE_ANY, err);
    if (!data) {
        json_decref(root);
        return NULL;
    }
    json_object_set_new(root, "data", data);
    return root;
}

int of_event_decode(const of_validator *v, const of_message_in *m, of_event *out, of_error *err)
{
    memset(out, 0, sizeof *out);
    if (m->len > m->max_bytes)
        return of_error_set(err, "event is %zu bytes, over the %zu-byte limit (MAX_EVENT_BYTES)",
                            m->len, m->max_bytes);
    const of_header *ct = header_find(m, "content-type");
    int structured = 1;
    if (ct && ct->value && ct->size >= 23 &&
        strncasecmp(ct->value, "application/cloudevents", 23) == 0)
        structured = 1;
    else if (header_find(m, "ce_specversion"))
        structured = 0;

    json_t *root;
    if (structured) {
        root = parse_json(m->value, m->len, "payload", 0, err);
        if (!root)
            return -1;
        if (!json_is_object(root)) {
            json_decref(root);
            return of_error_set(err, "(event): must be a JSON object (a CloudEvents 1.0 event)");
        }
    } else {
        root = from_binary(m, ct, err);
        if (!root)
            return -1;
    }
    out->root = root;

    if (!of_schema_validate(v->reg, v->envelope, root, err)) {
        of_error_prefix(err, "not a valid CloudEvents 1.0 event");
        goto fail;
    }
    out->type = json_string_value(json_object_get(root, "type"));
    out->etype = of_event_type_find(out->type);
    if (!out->etype) {
        of_error_set(err, "type: unknown event type \"%.60s\"", out->type);
        goto fail;
    }
    if (m->topic && strcmp(m->topic, out->etype->topic) != 0) {
        of_error_set(err, "type: %s events belong on topic %s, not %s", out->type,
                     out->etype->topic, m->topic);
        goto fail;
    }
    /* the type's schema includes the envelope's, passed just above */
    if (!of_schema_validate_given(v->reg, v->schemas[out->etype - of_event_types], root,
                                  v->envelope, err))
        goto fail;

    out->id = json_string_value(json_object_get(root, "id"));
    out->source = json_string_value(json_object_get(root, "source"));
    out->subject = json_string_value(json_object_get(root, "subject"));
    out->time = json_string_value(json_object_get(root, "time"));
    out->data = json_object_get(root, "data");
    out->shop_id = strncmp(out->source, "shop/", 5) == 0 ? out->source + 5 : out->source;
    if (of_parse_rfc3339(out->time, &out->time_us)) {
        of_error_set(err, "time: \"%.40s\" is not a real date and time", out->time);
        goto fail;
    }
    const char *want = json_string_value(json_object_get(out->data, out->etype->subject_field));
    if (want && strcmp(want, out->subject) != 0) {
        of_error_set(err, "subject: \"%.64s\" must equal data.%s \"%.64s\"", out->subject,
                     out->etype->subject_field, want);
        goto fail;
    }
    if (m->key &&
        (m->key_len != strlen(out->subject) || memcmp(m->key, out->subject, m->key_len) != 0)) {
        of_error_set(err,
                     "key: the message key must be the subject \"%.64s\" (the %s) so "
                     "its events stay in order",
                     out->subject, out->etype->subject_field);
        goto fail;
    }
    return 0;
fail:
    of_event_clear(out);
    return -1;
}
