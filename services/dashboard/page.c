/* page.c — keyset pagination for the list endpoints: limit= and cursor= in, {"items",
 * "next_cursor"} out. A cursor is base64url("<sort key>|<id>") of the last row returned; it
 * is opaque to the client and validated when it comes back, so a handler gets either a
 * well-formed key and id or a 400 "cursor is not valid". */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "server.h"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64url_encode(const unsigned char *in, size_t len, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        size_t n = len - i >= 3 ? 4 : len - i + 1;
        for (size_t k = 0; k < n; k++) {
            if (o + 1 >= outsz)
                return (size_t)-1;
            out[o++] = b64url[(v >> (18 - 6 * k)) & 63];
        }
    }
    if (o >= outsz)
        return (size_t)-1;
    out[o] = '\0';
    return o;
}

/* -1 on a character outside the alphabet, a length no encoder makes, or no room */
static long b64url_decode(const char *in, unsigned char *out, size_t outsz)
{
    size_t len = strlen(in), o = 0;
    if (len % 4 == 1)
        return -1;
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        const char *pos = in[i] ? strchr(b64url, in[i]) : NULL;
        if (!pos)
            return -1;
        v = (v << 6) | (unsigned)(pos - b64url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outsz)
                return -1;
            out[o++] = (unsigned char)(v >> bits);
            v &= (1u << bits) - 1;
        }
    }
    if (v != 0) /* leftover bits must be zero in a canonical encoding */
        return -1;
    return (long)o;
}

int dash_cursor_encode(const char *key, const char *id, char *out, size_t outsz)
{
    size_t kl = strlen(key), il = strlen(id);
    if (strchr(key, '|') || kl + il + 1 > 512)
        return -1;
    unsigned char raw[512];
    memcpy(raw, key, kl);
    raw[kl] = '|';
    memcpy(raw + kl + 1, id, il);
    return b64url_encode(raw, kl + il + 1, out, outsz) == (size_t)-1 ? -1 : 0;
}

int dash_cursor_decode(const char *cursor, char *key, size_t keysz, char *id, size_t idsz)
{
    unsigned char raw[600];
    if (!cursor || strlen(cursor) > 800)
        return -1;
    long n = b64url_decode(cursor, raw, sizeof raw - 1);
    if (n <= 0)
        return -1;
    raw[n] = '\0';
    for (long i = 0; i < n; i++)
        if (raw[i] < 0x20 || raw[i] == 0x7f)
            return -1;
    char copy[600];
    memcpy(copy, raw, (size_t)n + 1);
    of_utf8_repair(copy);
    if (memcmp(copy, raw, (size_t)n + 1) != 0)
        return -1;
    char *bar = strchr((char *)raw, '|');
    if (!bar || bar == (char *)raw || !bar[1])
        return -1;
    size_t kl = (size_t)(bar - (char *)raw), il = strlen(bar + 1);
    if (kl >= keysz || il >= idsz)
        return -1;
    memcpy(key, raw, kl);
    key[kl] = '\0';
    memcpy(id, bar + 1, il + 1);
    return 0;
}

int dash_page_read(const dash_req *rq, dash_resp *rs, dash_page *pg)
{
    memset(pg, 0, sizeof *pg);
    if (dash_query_int(rq, rs, "limit", 50, 1, 200, &pg->limit))
        return -1;
    const char *c = dash_query(rq, "cursor");
    if (c && dash_cursor_decode(c, pg->after_key, sizeof pg->after_key, pg->after_id,
                                sizeof pg->after_id)) {
        pg->after_key[0] = pg->after_id[0] = '\0';
        dash_error(rs, 400, "cursor is not valid (use next_cursor of the previous page as it is)");
        return -1;
    }
    return 0;
}

json_t *dash_page_result(const PGresult *r, const dash_page *pg, const char *key_col,
                         const char *id_col)
{
    json_t *items = dash_rows(r);
    json_t *next = json_null();
    long n = PQntuples(r);
    if (n > pg->limit) {
        while ((long)json_array_size(items) > pg->limit)
            json_array_remove(items, json_array_size(items) - 1);
        int kc = PQfnumber(r, key_col), ic = PQfnumber(r, id_col);
        int last = (int)pg->limit - 1;
        if (kc < 0 || ic < 0 || PQgetisnull(r, last, kc) || PQgetisnull(r, last, ic)) {
            of_err("dash_page_result: no %s/%s value to make a cursor of", key_col, id_col);
        } else {
            char key[128], cursor[800];
            const char *kv = PQgetvalue(r, last, kc);
            Oid kt = PQftype(r, kc);
            if ((kt == 1184 || kt == 1114) && dash_ts_iso(kv, key, sizeof key) == 0)
                kv = key;
            if (dash_cursor_encode(kv, PQgetvalue(r, last, ic), cursor, sizeof cursor) == 0) {
                json_decref(next);
                next = json_string(cursor);
            } else {
                of_err("dash_page_result: the key of %s/%s cannot make a cursor", key_col, id_col);
            }
        }
    }
    return json_pack("{s:o,s:o}", "items", items, "next_cursor", next);
}
