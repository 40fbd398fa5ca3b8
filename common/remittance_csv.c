/* remittance_csv.c — the daily remittance record as CSV (see remittance_csv.h). */
#include "remittance_csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing buffer; a failed allocation sets oom and drops the rest. */
typedef struct buf {
    char *p;
    size_t len, cap;
    int oom;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. */
static void field(buf *b, const char *s, int last)
{
    if (strpbrk(s, ",\"\r\n")) {
        put(b, "\"", 1);
        for (; *s; s++) {
            if (*s == '"')
                put(b, "\"", 1);
            put(b, s, 1);
        }
        put(b, "\"", 1);
    } else {
        put(b, s, strlen(s));
    }
    put(b, last ? "\r\n" : ",", last ? 2 : 1);
}

char *of_remittance_csv(PGconn *conn, const char *day, const char *tz, size_t *len, of_error *err)
{
    const char *p[] = {day, tz};
    PGresult *r = PQexecParams(
        conn,
        "SELECT day::text, remit_id, buyer_id, CASE WHEN placed_on_shop THEN '已拍下' ELSE "
        "'未拍下' END, (SELECT string_agg((i->>'sku') || coalesce(' ' || (i->>'size'), '') || "
        "' x' || (i->>'qty'), '; ') FROM jsonb_array_elements(items) i), address, staff, "
        "coalesce(amount::text, ''), state, "
        "coalesce(to_char(notified_at AT TIME ZONE $2, 'YYYY-MM-DD HH24:MI'), ''), "
        "coalesce(to_char(verified_at AT TIME ZONE $2, 'YYYY-MM-DD HH24:MI'), ''), "
        "coalesce(to_char(shipped_at AT TIME ZONE $2, 'YYYY-MM-DD HH24:MI'), ''), "
        "coalesce(waybill_no, ''), coalesce(reviewed_by, '') "
        "FROM remittance_daily_v WHERE day = $1::date ORDER BY remit_id",
        2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        of_error_set(err, "remittance record of %.32s: %s", day, PQerrorMessage(conn));
        PQclear(r);
        return NULL;
    }
    static const char *const header[] = {"日期",     "匯款單號", "買家",   "是否拍下", "商品",
                                         "收貨地址", "客服",     "金額",   "狀態",     "通知時間",
                                         "核實時間", "發貨時間", "運單號", "審核主管"};
    enum { NCOL = sizeof header / sizeof header[0] };
    buf b = {0};
    for (int c = 0; c < NCOL; c++)
        field(&b, header[c], c == NCOL - 1);
    for (int row = 0; row < PQntuples(r); row++)
        for (int c = 0; c < NCOL; c++)
            field(&b, PQgetvalue(r, row, c), c == NCOL - 1);
    PQclear(r);
    if (b.oom) {
        free(b.p);
        of_error_set(err, "out of memory");
        return NULL;
    }
    *len = b.len;
    return b.p;
}
