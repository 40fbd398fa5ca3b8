/* json_fast.c — the fast path for an event's JSON (see json_fast.h). Every refusal is a
 * plain NULL: the caller falls back to jansson, so no error message is made here. */
#include "json_fast.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_DEPTH = 64, MAX_STRING = 65536 };

typedef struct cursor {
    const char *p, *end;
    char *scratch; /* unescaped strings, MAX_STRING bytes */
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

/* Whether any of the 8 bytes in w is '"', '\\' or a control character (below 0x20). */
static int special_byte(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    return (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w)) & highs ? 1 : 0;
}

/* A string at c->p (after its opening quote): its bytes in *out (the input itself when it
 * has no escapes, else the scratch buffer) and length in *n. -1: not for the fast path. */
static int read_string(cursor *c, const char **out, size_t *n)
{
    const char *s = c->p;
    uint64_t w;
    while (s + 8 <= c->end && (memcpy(&w, s, 8), !special_byte(w)))
        s += 8; /* eight plain bytes at once; the loop below finds the one that ends it */
    while (s < c->end && *s != '"' && *s != '\\' && (unsigned char)*s >= 0x20)
        s++;
    if (s >= c->end || (unsigned char)*s < 0x20)
        return -1;
    if (*s == '"') { /* the usual case: no escapes */
        *out = c->p;
        *n = (size_t)(s - c->p);
        c->p = s + 1;
        return 0;
    }
    size_t len = (size_t)(s - c->p);
    if (len >= MAX_STRING)
        return -1;
    memcpy(c->scratch, c->p, len);
    for (;;) {
        if (s >= c->end || len >= MAX_STRING)
            return -1;
        char ch = *s++;
        if (ch == '"')
            break;
        if ((unsigned char)ch < 0x20)
            return -1;
        if (ch == '\\') {
            if (s >= c->end)
                return -1;
            switch (*s++) {
            case '"':
                ch = '"';
                break;
            case '\\':
                ch = '\\';
                break;
            case '/':
                ch = '/';
                break;
            case 'b':
                ch = '\b';
                break;
            case 'f':
                ch = '\f';
                break;
            case 'n':
                ch = '\n';
                break;
            case 'r':
                ch = '\r';
                break;
            case 't':
                ch = '\t';
                break;
            default: /* \u (surrogates, NUL) and invalid escapes: jansson's business */
                return -1;
            }
        }
        c->scratch[len++] = ch;
    }
    *out = c->scratch;
    *n = len;
    c->p = s;
    return 0;
}

static json_t *read_value(cursor *c, int depth);

static json_t *read_object(cursor *c, int depth)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return o;
    }
    for (;;) {
        skip_ws(c);
        const char *key;
        size_t klen;
        if (c->p >= c->end || *c->p != '"')
            goto fail;
        c->p++;
        if (read_string(c, &key, &klen))
            goto fail;
        /* the key is in the input or the scratch buffer: copied before the value reuses it */
        char kbuf[256];
        if (klen >= sizeof kbuf || memchr(key, '\0', klen))
            goto fail;
        memcpy(kbuf, key, klen);
        kbuf[klen] = '\0';
        skip_ws(c);
        if (c->p >= c->end || *c->p != ':')
            goto fail;
        c->p++;
        json_t *v = read_value(c, depth + 1);
        size_t had = json_object_size(o);
        if (!v || json_object_setn_new_nocheck(o, kbuf, klen, v))
            goto fail;
        if (json_object_size(o) == had)
            goto fail; /* a duplicate key replaced the first: jansson reports it */
        skip_ws(c);
        if (c->p >= c->end)
            goto fail;
        if (*c->p == ',') {
            c->p++;
            continue;
        }
        if (*c->p != '}')
            goto fail;
        c->p++;
        return o;
    }
fail:
    json_decref(o);
    return NULL;
}

static json_t *read_array(cursor *c, int depth)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    skip_ws(c);
    if (c->p < c->end && *c->p == ']') {
        c->p++;
        return a;
    }
    for (;;) {
        json_t *v = read_value(c, depth + 1);
        if (!v || json_array_append_new(a, v))
            goto fail;
        skip_ws(c);
        if (c->p >= c->end)
            goto fail;
        if (*c->p == ',') {
            c->p++;
            continue;
        }
        if (*c->p != ']')
            goto fail;
        c->p++;
        return a;
    }
fail:
    json_decref(a);
    return NULL;
}

/* An integer as jansson reads one: -?(0|[1-9][0-9]*), not followed by . e E (a real). */
static json_t *read_integer(cursor *c)
{
    const char *s = c->p;
    int neg = s < c->end && *s == '-';
    s += neg;
    const char *digits = s;
    while (s < c->end && *s >= '0' && *s <= '9')
        s++;
    size_t nd = (size_t)(s - digits);
    if (nd == 0 || nd > 18 || (nd > 1 && *digits == '0'))
        return NULL; /* none, maybe out of range, or a leading zero */
    if (s < c->end && (*s == '.' || *s == 'e' || *s == 'E'))
        return NULL;
    int64_t v = 0;
    for (const char *d = digits; d < s; d++)
        v = v * 10 + (*d - '0');
    c->p = s;
    return json_integer(neg ? -v : v);
}

static int literal(cursor *c, const char *word, size_t n)
{
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return -1;
    c->p += n;
    return 0;
}

static json_t *read_value(cursor *c, int depth)
{
    if (depth > MAX_DEPTH)
        return NULL;
    skip_ws(c);
    if (c->p >= c->end)
        return NULL;
    switch (*c->p) {
    case '{':
        c->p++;
        return read_object(c, depth);
    case '[':
        c->p++;
        return read_array(c, depth);
    case '"': {
        c->p++;
        const char *s;
        size_t n;
        if (read_string(c, &s, &n) || memchr(s, '\0', n))
            return NULL;
        return json_stringn_nocheck(s, n);
    }
    case 't':
        return literal(c, "true", 4) ? NULL : json_true();
    case 'f':
        return literal(c, "false", 5) ? NULL : json_false();
    case 'n':
        return literal(c, "null", 4) ? NULL : json_null();
    default:
        return read_integer(c);
    }
}

json_t *of_json_fast_object(const char *buf, size_t len)
{
    static _Thread_local char scratch[MAX_STRING];
    cursor c = {buf, buf + len, scratch};
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '{')
        return NULL;
    json_t *o = read_value(&c, 1);
    if (!o)
        return NULL;
    skip_ws(&c);
    if (c.p != c.end) { /* trailing bytes: jansson reports them */
        json_decref(o);
        return NULL;
    }
    return o;
}
