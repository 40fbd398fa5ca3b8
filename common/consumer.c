/* consumer.c — the consumer loop (see consumer.h). A worker runs one or more lanes, each a
 * consumer of the group with its own thread and PostgreSQL session; a lane does everything
 * in order: poll → decode → BEGIN → dedupe → apply → record → offsets → dead letters out →
 * COMMIT. The lanes share only their metrics; the process's thread watches them for
 * /healthz.
 * Rebalance callbacks run inside rd_kafka_consumer_poll, between batches or while one is
 * being collected; a revoked partition's collected messages are dropped (its new owner
 * starts from the offset stored in PostgreSQL). */
#include "consumer.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "copy_rows.h"
#include "deadletter.h"
#include "health.h"
#include "kafka_conf.h"
#include "log.h"
#include "metrics.h"
#include "rebalance.h"

#define MAX_HEADERS 32

/* What the lanes of one process share: their metrics, created once, and a count. */
typedef struct consumer_metrics {
    of_metric *consumed, *applied, *rejected, *invalid, *duplicates, *batches, *retries;
    of_metric *batch_seconds, *e2e_seconds, *db_up, *kafka_up, *assigned;
    pthread_mutex_t lag_mu;
    of_metric *lag[64];             /* per partition, created when first seen (under lag_mu) */
    atomic_int unsynced;            /* lanes the group has not given a first assignment yet */
    atomic_int db_down, kafka_down; /* lanes that cannot reach PostgreSQL, Kafka */
} consumer_metrics;

/* One lane: a Kafka consumer of the group with its own PostgreSQL session, run by a thread
 * of its own. Partitions are spread over the lanes (of this and other processes) by the
 * group's assignor; a lane applies only what it was assigned. */
typedef struct consumer {
    const of_config *cfg;
    const of_consumer_spec *spec;
    volatile sig_atomic_t *stop;
    int lane;
    char group[160];
    rd_kafka_t *rk;
    of_deadletter *dl;
    of_db *db;
    of_validator *validator;
    of_batch batch; /* the batch being applied */
    size_t cap;
    of_batch next; /* the one collected meanwhile, decoded on a second thread */
    size_t next_cap;
    of_batch done; /* the one applied before, freed on that thread too */
    size_t done_cap;
    atomic_bool db_up, kafka_up; /* this lane's view; the gauges are the lanes' together */
    atomic_llong kafka_checked_ms;
    atomic_llong beat_ms;           /* when the lane's loop last turned (of_mono_ms) */
    bool synced;                    /* the group has given this lane an assignment (maybe empty) */
    of_rebalance_protocol protocol; /* the group's, as last seen (see rebalance.h) */
    size_t fenced;                  /* items of the batch another owner had handled */
    int probe_left;                 /* batches still to apply with dedupe_in_db (see apply_once) */
    of_rows sql_a, sql_b;           /* statement arguments, reused from batch to batch */
    /* per partition (< 64): the offset it was assigned at, from PostgreSQL; -1 when not
     * assigned. Until a message of it is taken, that is its position to commit to Kafka. */
    int64_t assigned_at[64];
    /* per partition (< 64): the next offset after what this lane applied, to commit to Kafka
     * (-1: nothing applied since it was assigned), and when the lane last committed */
    int64_t applied_next[64];
    int64_t kafka_commit_ms;
    consumer_metrics *m;
    atomic_int rc; /* the lane's result (read by the process's thread), and err when it failed */
    of_error err;
} consumer;

static void lane_beat(consumer *c)
{
    atomic_store(&c->beat_ms, of_mono_ms());
}

/* A lane's view of PostgreSQL or Kafka: the process's gauge is 1 only while every lane
 * reaches it (a lane whose session is down holds its partitions back). */
static void lane_reaches(atomic_bool *mine, atomic_int *down, of_metric *gauge, bool up)
{
    if (atomic_exchange(mine, up) != up)
        atomic_fetch_add(down, up ? -1 : 1);
    of_metric_set(gauge, atomic_load(down) == 0);
}

static void set_db_up(consumer *c, bool up)
{
    lane_reaches(&c->db_up, &c->m->db_down, c->m->db_up, up);
}

static void set_kafka_up(consumer *c, bool up)
{
    lane_reaches(&c->kafka_up, &c->m->kafka_down, c->m->kafka_up, up);
}

void of_item_reject(of_item *it, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->reason, sizeof it->reason, fmt, ap);
    va_end(ap);
    of_utf8_repair(it->reason);
    it->state = OF_ITEM_REJECTED;
}

int of_item_under_savepoint(of_db *db, of_item *it, of_item_fn fn, void *ctx, of_error *err)
{
    if (of_db_run(db, "SAVEPOINT event", 0, NULL, err) || fn(ctx, db, it, err))
        return -1;
    return of_db_run(db,
                     it->state == OF_ITEM_REJECTED ? "ROLLBACK TO SAVEPOINT event"
                                                   : "RELEASE SAVEPOINT event",
                     0, NULL, err);
}

static void metrics_setup(consumer_metrics *m, const of_consumer_spec *spec)
{
    char l[128];
    snprintf(l, sizeof l, "topic=\"%s\"", spec->topic);
    pthread_mutex_init(&m->lag_mu, NULL);
    m->consumed = of_counter("orderflow_events_consumed_total", "Messages taken from Kafka", l);
    m->applied = of_counter("orderflow_events_applied_total", "Events applied to PostgreSQL", l);
    m->rejected = of_counter("orderflow_events_rejected_total",
                             "Valid events refused by a rule (dead-lettered)", l);
    m->invalid = of_counter("orderflow_events_invalid_total",
                            "Messages that are not valid events (dead-lettered)", l);
    m->duplicates = of_counter("orderflow_events_duplicate_total",
                               "Events skipped because (source, id) was applied before", l);
    m->batches = of_counter("orderflow_batches_total", "Batches committed", l);
    m->retries = of_counter("orderflow_batch_retries_total",
                            "Batches rolled back and retried (database or Kafka trouble)", l);
    m->batch_seconds =
        of_histogram("orderflow_batch_duration_seconds", "Time to apply and commit a batch", l,
                     of_latency_buckets, of_latency_bucket_count);
    static const double e2e_buckets[] = {0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15,
                                         0.2,   0.25, 0.3,  0.5,  1,    2.5,   5,   10};
    m->e2e_seconds = of_histogram("orderflow_event_latency_seconds",
                                  "Publish (Kafka timestamp) to committed in PostgreSQL", l,
                                  e2e_buckets, sizeof e2e_buckets / sizeof e2e_buckets[0]);
    m->db_up = of_gauge("orderflow_db_up", "1 when every lane reaches PostgreSQL", NULL);
    m->kafka_up = of_gauge("orderflow_kafka_up", "1 when every lane reaches a Kafka broker", NULL);
    m->assigned = of_gauge("orderflow_partitions_assigned", "Partitions this process owns", l);
}

/* ---- batch items --------------------------------------------------------------------- */

static void item_release(of_item *it)
{
    of_event_clear(&it->ev);
    if (it->msg)
        rd_kafka_message_destroy(it->msg);
    it->msg = NULL;
    free(it->raw);
    it->raw = NULL;
}

/* The message's key, value and headers in one allocation (of_raw_message); NULL when out of
 * memory. */
static of_raw_message *raw_copy(const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *kh = NULL;
    if (rd_kafka_message_headers(m, &kh) != RD_KAFKA_RESP_ERR_NO_ERROR)
        kh = NULL;
    size_t nh = 0, bytes = m->key_len + m->len;
    const char *name;
    const void *val;
    size_t size;
    while (kh &&
           rd_kafka_header_get_all(kh, nh, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        bytes += strlen(name) + 1 + size;
        nh++;
    }
    of_raw_message *r = malloc(sizeof *r + nh * sizeof(of_header) + bytes);
    if (!r)
        return NULL;
    r->headers = (of_header *)(r + 1);
    r->nheaders = nh;
    char *p = (char *)(r->headers + nh);
    r->key = m->key ? memcpy(p, m->key, m->key_len) : NULL;
    r->key_len = m->key ? m->key_len : 0;
    p += r->key_len;
    r->len = m->payload ? m->len : 0;
    r->value = r->len ? memcpy(p, m->payload, r->len) : "";
    p += r->len;
    for (size_t i = 0; i < nh; i++) {
        rd_kafka_header_get_all(kh, i, &name, &val, &size);
        size_t nl = strlen(name) + 1;
        r->headers[i].name = memcpy(p, name, nl);
        p += nl;
        r->headers[i].value = val ? memcpy(p, val, size) : NULL;
        r->headers[i].size = val ? size : 0;
        p += val ? size : 0;
    }
    return r;
}

static void batch_clear(of_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        item_release(&b->items[i]);
    b->n = 0;
}

/* Drops collected messages of partitions that were just revoked. */
static void batch_drop_partitions(of_batch *b, const rd_kafka_topic_partition_list_t *parts)
{
    size_t keep = 0;
    for (size_t i = 0; i < b->n; i++) {
        of_item *it = &b->items[i];
        int revoked = 0;
        for (int k = 0; k < parts->cnt; k++)
            if (parts->elems[k].partition == it->partition &&
                strcmp(parts->elems[k].topic, it->topic) == 0)
                revoked = 1;
        if (revoked)
            item_release(it);
        else
            b->items[keep++] = *it;
    }
    b->n = keep;
}

static void decode_item(consumer *c, of_item *it)
{
    const rd_kafka_message_t *m = it->msg;
    of_header hdrs[MAX_HEADERS];
    size_t nh = 0;
    rd_kafka_headers_t *kh = NULL;
    if (rd_kafka_message_headers(m, &kh) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name;
        const void *val;
        size_t size;
        while (nh < MAX_HEADERS &&
               rd_kafka_header_get_all(kh, nh, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            hdrs[nh].name = name;
            hdrs[nh].value = val;
            hdrs[nh].size = size;
            nh++;
        }
    }
    of_message_in in = {.topic = it->topic,
                        .key = m->key ? m->key : "",
                        .key_len = m->key ? m->key_len : 0,
                        .value = m->payload ? m->payload : "",
                        .len = m->len,
                        .headers = hdrs,
                        .nheaders = nh,
                        .max_bytes = c->cfg->max_event_bytes};
    of_error err;
    if (of_event_decode(c->validator, &in, &it->ev, &err)) {
        it->state = OF_ITEM_INVALID;
        snprintf(it->reason, sizeof it->reason, "%s", err.msg);
        of_utf8_repair(it->reason);
    } else {
        it->state = OF_ITEM_PENDING;
    }
    /* librdkafka keeps a fetched message set (decompressed: megabytes) while any message of
     * it lives; the copy lets it go now rather than when the batch is applied */
    it->raw = raw_copy(m);
    if (!it->raw)
        of_warn("out of memory: %s[%d]@%lld would be dead-lettered without its bytes", it->topic,
                (int)it->partition, (long long)it->offset);
    rd_kafka_message_destroy(it->msg);
    it->msg = NULL;
}

/* ---- rebalancing ----------------------------------------------------------------------- */

/* Sets each partition's offset to the one stored in PostgreSQL (beginning when none). */
static int load_offsets(consumer *c, rd_kafka_topic_partition_list_t *parts, of_error *err)
{
    if (of_db_ensure(c->db, err))
        return -1;
    const char *params[] = {c->group, c->spec->topic};
    PGresult *r = of_db_exec(c->db,
                             "SELECT partition, next_offset FROM consumer_offsets "
                             "WHERE group_id = $1 AND topic = $2",
                             2, params, err);
    if (!r)
        return -1;
    for (int k = 0; k < parts->cnt; k++) {
        parts->elems[k].offset = RD_KAFKA_OFFSET_BEGINNING;
        for (int row = 0; row < PQntuples(r); row++)
            if (atoi(PQgetvalue(r, row, 0)) == parts->elems[k].partition)
                parts->elems[k].offset = atoll(PQgetvalue(r, row, 1));
    }
    PQclear(r);
    return 0;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    consumer *c = opaque;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (!c->synced) {
            of_info("lane %d: joined the group", c->lane);
            atomic_fetch_sub(&c->m->unsynced, 1);
        }
        c->synced = true;
        of_error err;
        for (int attempt = 0; load_offsets(c, parts, &err); attempt++) {
            of_warn("cannot read stored offsets, retrying: %s", err.msg);
            if (*c->stop)
                break;
            of_backoff_sleep(attempt);
            lane_beat(c);
        }
        for (int k = 0; k < parts->cnt; k++) {
            of_info("lane %d: assigned %s[%d] from offset %lld", c->lane, parts->elems[k].topic,
                    parts->elems[k].partition, (long long)parts->elems[k].offset);
            if (parts->elems[k].partition >= 0 && parts->elems[k].partition < 64)
                c->assigned_at[parts->elems[k].partition] = parts->elems[k].offset;
        }
        of_rebalance_assign(rk, parts, &c->protocol);
        of_metric_add(c->m->assigned, parts->cnt);
    } else {
        of_info("lane %d: %d partition(s) revoked%s", c->lane, parts->cnt,
                e == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS ? "" : " (lost)");
        batch_drop_partitions(&c->batch, parts);
        batch_drop_partitions(&c->next, parts);
        /* the lag of a partition is its owner's to report: summed over replicas, a gauge
         * left at its last value here would count that lag twice */
        for (int k = 0; k < parts->cnt; k++) {
            int32_t p = parts->elems[k].partition;
            if (p >= 0 && p < 64) {
                c->assigned_at[p] = -1;
                c->applied_next[p] = -1;
                pthread_mutex_lock(&c->m->lag_mu);
                if (c->m->lag[p])
                    of_metric_set(c->m->lag[p], 0);
                pthread_mutex_unlock(&c->m->lag_mu);
            }
        }
        /* a lane's increment, or its all (eager): other lanes keep theirs either way */
        of_rebalance_revoke(rk, parts, &c->protocol);
        of_metric_add(c->m->assigned, -parts->cnt);
    }
}

static void error_cb(rd_kafka_t *rk, int e, const char *reason, void *opaque)
{
    (void)rk;
    consumer *c = opaque;
    if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        set_kafka_up(c, false);
    of_warn("kafka: %s", reason);
}

static bool ready_cb(void *ctx, char *reason, size_t sz)
{
    consumer *c = ctx;
    int64_t t = of_mono_ms();
    if (t - atomic_load(&c->kafka_checked_ms) > 2000) {
        const struct rd_kafka_metadata *md = NULL;
        bool up = rd_kafka_metadata(c->rk, 0, NULL, &md, 1000) == RD_KAFKA_RESP_ERR_NO_ERROR;
        if (md)
            rd_kafka_metadata_destroy(md);
        set_kafka_up(c, up);
        atomic_store(&c->kafka_checked_ms, t);
    }
    bool db = of_db_reachable(c->db), kafka = atomic_load(&c->kafka_up);
    if (!db)
        snprintf(reason, sz, "PostgreSQL unreachable");
    else if (!kafka)
        snprintf(reason, sz, "Kafka unreachable");
    return db && kafka;
}

/* ---- one batch ------------------------------------------------------------------------- */

typedef struct id_ref {
    const char *source, *id;
    size_t index;
} id_ref;

static int cmp_ids(const void *a, const void *b)
{
    const id_ref *p = a, *q = b;
    int r = strcmp(p->source, q->source);
    if (!r)
        r = strcmp(p->id, q->id);
    if (!r)
        r = p->index < q->index ? -1 : (p->index > q->index);
    return r;
}

/* Marks later copies of the same (source, id) within the batch as duplicates. */
static void dedupe_in_batch(of_batch *b)
{
    size_t n = 0;
    id_ref *refs = malloc(b->n * sizeof *refs);
    if (!refs)
        return; /* the unique key of applied_events still refuses a second copy */
    for (size_t i = 0; i < b->n; i++)
        if (b->items[i].state == OF_ITEM_PENDING)
            refs[n++] = (id_ref){b->items[i].ev.source, b->items[i].ev.id, i};
    qsort(refs, n, sizeof *refs, cmp_ids);
    for (size_t k = 1; k < n; k++)
        if (strcmp(refs[k - 1].source, refs[k].source) == 0 &&
            strcmp(refs[k - 1].id, refs[k].id) == 0)
            b->items[refs[k].index].state = OF_ITEM_DUPLICATE;
    free(refs);
}

/* The distinct partitions of the batch, ascending, in a malloc'd array (NULL when out of
 * memory); *n receives how many. */
static int32_t *batch_partitions(const of_batch *b, size_t *n)
{
    int32_t *out = malloc((b->n ? b->n : 1) * sizeof *out);
    *n = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < b->n; i++) {
        int32_t p = b->items[i].partition;
        size_t k = 0;
        while (k < *n && out[k] != p)
            k++;
        if (k < *n)
            continue;
        k = (*n)++;
        while (k > 0 && out[k - 1] > p) { /* insertion: rows are locked in one order */
            out[k] = out[k - 1];
            k--;
        }
        out[k] = p;
    }
    return out;
}

/* Fences this batch against a stale owner of its partitions (a worker that stalled past
 * its session and is still inside a transaction): the group's offset rows of the batch's
 * partitions are locked first, so a batch waits for the other's commit, then everything
 * below the stored next offset is skipped as already handled. */
static int fence_partitions(consumer *c, of_rows *arr, of_error *err)
{
    size_t np;
    int32_t *parts = batch_partitions(&c->batch, &np);
    if (!parts)
        return of_error_set(err, "out of memory");
    of_rows_reset(arr);
    of_rows_array_begin(arr);
    for (size_t k = 0; k < np; k++)
        of_rows_array_int(arr, parts[k]);
    of_rows_array_end(arr);
    free(parts);
    if (!of_rows_ok(arr))
        return of_error_set(err, "out of memory");
    const char *params[] = {c->group, c->spec->topic, arr->buf};
    PGresult *r = NULL;
    if (of_db_run(c->db,
                  "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset) "
                  "SELECT $1, $2, p, 0 FROM unnest($3::int[]) AS p "
                  "ON CONFLICT DO NOTHING",
                  3, params, err) == 0)
        r = of_db_exec(c->db,
                       "SELECT partition, next_offset FROM consumer_offsets WHERE group_id = $1 "
                       "AND topic = $2 AND partition = ANY ($3::int[]) ORDER BY partition "
                       "FOR UPDATE",
                       3, params, err);
    if (!r)
        return -1;
    for (int row = 0; row < PQntuples(r); row++) {
        int32_t part = (int32_t)atoi(PQgetvalue(r, row, 0));
        int64_t next = atoll(PQgetvalue(r, row, 1));
        for (size_t i = 0; i < c->batch.n; i++) {
            of_item *it = &c->batch.items[i];
            if (it->partition == part && it->offset < next) {
                it->state = OF_ITEM_DUPLICATE; /* handled by another owner meanwhile */
                c->fenced++;
            }
        }
    }
    PQclear(r);
    return 0;
}

/* Fills src and ids with two SQL arrays holding the batch's (source, id) pairs, the n-th
 * element of each from item n, NULL for the items not in `state` (NULL matches no row).
 * Returns how many items are in `state`; -1 when out of memory. */
static long key_arrays(const of_batch *b, of_item_state state, of_rows *src, of_rows *ids)
{
    long n = 0;
    of_rows_reset(src);
    of_rows_reset(ids);
    of_rows_array_begin(src);
    of_rows_array_begin(ids);
    for (size_t i = 0; i < b->n; i++) {
        const of_item *it = &b->items[i];
        int in = it->state == state;
        of_rows_array_text(src, in ? it->ev.source : NULL);
        of_rows_array_text(ids, in ? it->ev.id : NULL);
        n += in;
    }
    of_rows_array_end(src);
    of_rows_array_end(ids);
    return of_rows_ok(src) && of_rows_ok(ids) ? n : -1;
}

/* Marks items whose (source, id) is already in applied_events as duplicates: one query
 * with the batch's sources and ids as two arrays (the n-th element of each is item n). One
 * index probe per item (the LATERAL ... LIMIT 1): a plain join is planned as a hash join
 * over the whole table while it is young (under ~200,000 rows), a scan per batch. */
static int dedupe_in_db(consumer *c, of_item_state state, of_rows *src, of_rows *ids, of_error *err)
{
    long n = key_arrays(&c->batch, state, src, ids);
    if (n < 0)
        return of_error_set(err, "out of memory");
    if (!n)
        return 0;
    const char *params[] = {src->buf, ids->buf};
    PGresult *r = of_db_exec(c->db,
                             "SELECT u.n - 1 FROM unnest($1::text[], $2::text[]) WITH ORDINALITY "
                             "AS u(s, i, n) CROSS JOIN LATERAL (SELECT 1 FROM applied_events a "
                             "WHERE a.source = u.s AND a.id = u.i LIMIT 1) AS hit",
                             2, params, err);
    if (!r)
        return -1;
    for (int row = 0; row < PQntuples(r); row++) {
        size_t i = (size_t)atol(PQgetvalue(r, row, 0));
        if (i < c->batch.n)
            c->batch.items[i].state = OF_ITEM_DUPLICATE;
    }
    PQclear(r);
    return 0;
}

static const char record_sql[] = "COPY applied_events (source, id, type, subject, topic, "
                                 "partition, \"offset\", event_time) FROM STDIN";

/* The applied_events rows of the items in state `state`, in batch order (so seq follows the
 * batch). */
static void applied_rows(const of_batch *b, of_item_state state, of_rows *rows)
{
    of_rows_reset(rows);
    for (size_t i = 0; i < b->n; i++) {
        const of_item *it = &b->items[i];
        if (it->state != state)
            continue;
        of_rows_text(rows, it->ev.source);
        of_rows_text(rows, it->ev.id);
        of_rows_text(rows, it->ev.type);
        of_rows_text(rows, it->ev.subject);
        of_rows_text(rows, it->topic);
        of_rows_int(rows, it->partition);
        of_rows_int(rows, it->offset);
        of_rows_text(rows, it->ev.time);
        of_rows_end(rows);
    }
}

int of_batch_record_start(of_db *db, of_batch *batch, of_error *err)
{
    of_rows rows;
    of_rows_init(&rows);
    applied_rows(batch, OF_ITEM_PENDING, &rows);
    int rc = of_rows_ok(&rows) ? 0 : of_error_set(err, "out of memory");
    if (rc == 0 && rows.rows)
        rc = of_db_copy_start(db, record_sql, rows.buf, rows.len, err);
    of_rows_free(&rows);
    if (rc == 0)
        batch->recorded = true;
    return rc;
}

/* Takes the rejected items out of applied_events, where of_batch_record_start put them. */
static int unrecord_rejected(consumer *c, of_rows *src, of_rows *ids, of_error *err)
{
    long rejected = key_arrays(&c->batch, OF_ITEM_REJECTED, src, ids);
    if (rejected < 0)
        return of_error_set(err, "out of memory");
    if (!rejected)
        return 0;
    const char *params[] = {src->buf, ids->buf};
    return of_db_run(c->db,
                     "DELETE FROM applied_events a USING unnest($1::text[], $2::text[]) "
                     "AS u(s, i) WHERE a.id = u.i AND a.source = u.s",
                     2, params, err);
}

/* Records the applied events (unless the worker started that: then takes the rejected ones
 * out). Before anything leaves PostgreSQL (dead letters), so a batch that turns out to hold
 * an event applied before fails here and is applied again with nothing sent twice. */
static int record_applied(consumer *c, of_error *err)
{
    if (c->batch.recorded)
        return unrecord_rejected(c, &c->sql_a, &c->sql_b, err);
    of_rows *rows = &c->sql_a;
    applied_rows(&c->batch, OF_ITEM_APPLIED, rows);
    if (!of_rows_ok(rows))
        return of_error_set(err, "out of memory");
    return rows->rows ? of_db_copy(c->db, record_sql, rows->buf, rows->len, err) : 0;
}

/* Records the next offset of every partition in the batch. */
static int record_offsets(consumer *c, of_error *err)
{
    /* the next offset of each partition: one past its last item */
    size_t np;
    int32_t *parts = batch_partitions(&c->batch, &np);
    if (!parts)
        return of_error_set(err, "out of memory");
    of_rows pa, oa;
    of_rows_init(&pa);
    of_rows_init(&oa);
    of_rows_array_begin(&pa);
    of_rows_array_begin(&oa);
    for (size_t k = 0; k < np; k++) {
        int64_t next = -1;
        for (size_t i = 0; i < c->batch.n; i++)
            if (c->batch.items[i].partition == parts[k] && c->batch.items[i].offset + 1 > next)
                next = c->batch.items[i].offset + 1;
        of_rows_array_int(&pa, parts[k]);
        of_rows_array_int(&oa, next);
    }
    of_rows_array_end(&pa);
    of_rows_array_end(&oa);
    free(parts);
    int rc = -1;
    if (!of_rows_ok(&pa) || !of_rows_ok(&oa)) {
        of_error_set(err, "out of memory");
    } else {
        const char *params[] = {pa.buf, oa.buf, c->group, c->spec->topic};
        rc = of_db_run(
            c->db,
            "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset) "
            "SELECT $3, $4, p, o FROM unnest($1::int[], $2::bigint[]) AS u(p, o) "
            "ON CONFLICT (group_id, topic, partition) DO UPDATE SET next_offset = "
            "GREATEST(consumer_offsets.next_offset, EXCLUDED.next_offset), updated_at = now()",
            4, params, err);
    }
    of_rows_free(&pa);
    of_rows_free(&oa);
    return rc;
}

/* Whether the batch failed on the key of applied_events: an event of it was applied by an
 * earlier batch (a shop sent it again), which only the probe of dedupe_in_db finds. */
static bool hit_applied_key(const of_db *db)
{
    return strcmp(of_db_last_sqlstate(db), "23505") == 0 &&
           strcmp(of_db_last_constraint(db), "applied_events_pkey") == 0;
}

/* One transaction for the batch; probe: look for events applied by earlier batches first.
 * *again is set when it failed for want of that probe. */
static int apply_attempt(consumer *c, bool probe, bool *again, of_error *err)
{
    of_batch *b = &c->batch;
    b->recorded = false;
    *again = false;
    for (size_t i = 0; i < b->n; i++) {
        of_item *it = &b->items[i];
        if (it->state != OF_ITEM_INVALID) {
            it->state = OF_ITEM_PENDING;
            it->reason[0] = '\0';
        }
    }
    if (of_db_ensure(c->db, err))
        return -1;
    if (of_db_run(c->db, "BEGIN", 0, NULL, err))
        return -1;
    c->fenced = 0;
    if (fence_partitions(c, &c->sql_a, err))
        goto rollback;
    dedupe_in_batch(b);
    if ((probe && dedupe_in_db(c, OF_ITEM_PENDING, &c->sql_a, &c->sql_b, err)) ||
        c->spec->apply(c->spec->ctx, c->db, b, err))
        goto rollback;
    for (size_t i = 0; i < b->n; i++)
        if (b->items[i].state == OF_ITEM_PENDING)
            b->items[i].state = OF_ITEM_APPLIED;
    /* without the probe, an event sent again that the rules refused would reach no key:
     * the refused (few, and without effects) are looked up now, unless the worker recorded
     * them already (then the key refused any sent again) */
    if (!probe && !b->recorded && dedupe_in_db(c, OF_ITEM_REJECTED, &c->sql_a, &c->sql_b, err))
        goto rollback;
    if (record_applied(c, err))
        goto rollback;
    int dead = 0;
    for (size_t i = 0; i < b->n; i++) {
        of_item *it = &b->items[i];
        if (it->state == OF_ITEM_INVALID || it->state == OF_ITEM_REJECTED) {
            int stored = of_deadletter_store(c->db, it, err);
            if (stored < 0)
                goto rollback;
            /* a redelivered message already has its row and its copy on the topic */
            if (stored && c->dl && of_deadletter_publish(c->dl, it, err))
                goto rollback;
            dead += stored;
        }
    }
    if (record_offsets(c, err))
        goto rollback;
    if (dead && c->dl && of_deadletter_flush(c->dl, 10000, err))
        goto rollback;
    if (of_db_run(c->db, "COMMIT", 0, NULL, err))
        return -1;
    return 0;
rollback:;
    *again = !probe && hit_applied_key(c->db);
    of_error ignored;
    if (of_db_copy_finish(c->db, &ignored)) { /* its error, if any, is already in err */
        of_info("the batch's COPY failed too: %s", ignored.msg);
        *again = *again || (!probe && hit_applied_key(c->db));
    }
    if (of_db_conn(c->db))
        if (of_db_run(c->db, "ROLLBACK", 0, NULL, &ignored))
            of_db_reset(c->db);
    return -1;
}

/* Batches applied with the probe for earlier events after one was met: a shop that sends
 * events again tends to send several. */
#define PROBE_BATCHES 100

/* Applies the batch in one transaction. Nearly every event is new, so the batch is first
 * applied without looking for events applied by earlier batches: the key of applied_events
 * refuses such an event at the end (nothing of the batch stays), and the batch is applied
 * again with the probe, as are the next PROBE_BATCHES. */
static int apply_once(consumer *c, of_error *err)
{
    bool probe = c->probe_left > 0, again;
    int rc = apply_attempt(c, probe, &again, err);
    if (rc && again) {
        of_info("an event of the batch was applied before (sent again): applying the batch "
                "and the next %d with a look-up of earlier events",
                PROBE_BATCHES);
        c->probe_left = PROBE_BATCHES + 1;
        rc = apply_attempt(c, true, &again, err);
    }
    if (rc == 0 && c->probe_left > 0)
        c->probe_left--;
    return rc;
}

int of_batch_commit(of_db *db, const char *group, const char *topic, of_apply_fn apply, void *ctx,
                    of_batch *batch, of_error *err)
{
    of_consumer_spec spec = {.service = "bench", .topic = topic, .apply = apply, .ctx = ctx};
    consumer c = {.spec = &spec, .db = db, .batch = *batch};
    snprintf(c.group, sizeof c.group, "%s", group);
    int rc = apply_once(&c, err);
    *batch = c.batch;
    of_rows_free(&c.sql_a);
    of_rows_free(&c.sql_b);
    return rc;
}

/* How often a busy lane tells Kafka where it stands. Kafka's copy of the offsets is for
 * tools (lag for KEDA, kafka-consumer-groups.sh); PostgreSQL's is the truth. Once a batch,
 * as before, meant hundreds of OffsetCommit requests a second for the broker, and in a
 * rebalance as many refusals, each a warning ("Specified group generation id is not
 * valid": 156 in 2 s in one worker's log of test_g3's moving partitions; 2 to 6 now). */
#define KAFKA_COMMIT_MS 1000

/* Notes the batch just committed in PostgreSQL as applied, partition by partition. */
static void note_applied(consumer *c)
{
    for (size_t i = 0; i < c->batch.n; i++) {
        const of_item *it = &c->batch.items[i];
        if (it->partition >= 0 && it->partition < 64 &&
            it->offset + 1 > c->applied_next[it->partition])
            c->applied_next[it->partition] = it->offset + 1;
    }
}

/* Commits where each assigned partition stands to Kafka (asynchronously): after what the
 * lane applied, or, with nothing applied since the assignment (its previous owner applied
 * it all, say, and that owner's commit was refused in the rebalance), the offset it was
 * assigned at, from PostgreSQL. */
static void commit_to_kafka(consumer *c)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (int32_t p = 0; p < 64; p++) {
        int64_t at = c->applied_next[p] >= 0 ? c->applied_next[p] : c->assigned_at[p];
        if (at >= 0)
            rd_kafka_topic_partition_list_add(l, c->spec->topic, p)->offset = at;
    }
    if (l->cnt)
        rd_kafka_commit(c->rk, l, 1);
    rd_kafka_topic_partition_list_destroy(l);
    c->kafka_commit_ms = of_mono_ms();
}

/* orderflow_consumer_lag{partition}: the partition's high watermark (as last fetched, no
 * broker round trip) minus the next offset to apply. */
static void update_lag(consumer *c)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(c->rk, &parts) || !parts)
        return;
    if (rd_kafka_position(c->rk, parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < parts->cnt; i++) {
            const rd_kafka_topic_partition_t *tp = &parts->elems[i];
            int64_t lo, hi;
            if (tp->partition < 0 || tp->partition >= 64 || tp->offset < 0 ||
                rd_kafka_get_watermark_offsets(c->rk, tp->topic, tp->partition, &lo, &hi) || hi < 0)
                continue;
            pthread_mutex_lock(&c->m->lag_mu);
            of_metric *lag = c->m->lag[tp->partition];
            if (!lag) {
                char l[128];
                snprintf(l, sizeof l, "topic=\"%s\",partition=\"%d\"", tp->topic,
                         (int)tp->partition);
                lag = c->m->lag[tp->partition] = of_gauge(
                    "orderflow_consumer_lag",
                    "Messages of the partition not yet taken (high watermark - position)", l);
            }
            pthread_mutex_unlock(&c->m->lag_mu);
            of_metric_set(lag, (double)(hi > tp->offset ? hi - tp->offset : 0));
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

/* Applies the collected batch, retrying until it commits. Returns -1 only when a stop was
 * requested while the batch still could not be committed. */
static int process_batch(consumer *c)
{
    int64_t t0 = of_mono_ms();
    of_error err;
    for (int attempt = 0; apply_once(c, &err); attempt++) {
        of_metric_add(c->m->retries, 1);
        set_db_up(c, of_db_reachable(c->db));
        of_warn("batch of %zu event(s) not committed, will retry: %s", c->batch.n, err.msg);
        if (*c->stop && attempt >= 5) {
            of_err("stopping with %zu event(s) not committed; they will be consumed again",
                   c->batch.n);
            return -1;
        }
        of_backoff_sleep(attempt);
        lane_beat(c);
    }
    set_db_up(c, true);
    int64_t done = of_wall_ms();
    double applied = 0, rejected = 0, invalid = 0, dup = 0;
    for (size_t i = 0; i < c->batch.n; i++) {
        const of_item *it = &c->batch.items[i];
        switch (it->state) {
        case OF_ITEM_APPLIED:
            applied++;
            break;
        case OF_ITEM_REJECTED:
            rejected++;
            of_info("rejected %s %s/%s at %s[%d]@%lld: %s", it->ev.type, it->ev.source, it->ev.id,
                    it->topic, (int)it->partition, (long long)it->offset, it->reason);
            break;
        case OF_ITEM_INVALID:
            invalid++;
            of_info("dead-lettered %s[%d]@%lld: %s", it->topic, (int)it->partition,
                    (long long)it->offset, it->reason);
            break;
        case OF_ITEM_DUPLICATE:
            dup++;
            break;
        case OF_ITEM_PENDING:
            break;
        }
        if (it->published_ms > 0)
            of_metric_observe(c->m->e2e_seconds, (double)(done - it->published_ms) / 1000.0);
    }
    of_metric_add(c->m->consumed, (double)c->batch.n);
    of_metric_add(c->m->applied, applied);
    of_metric_add(c->m->rejected, rejected);
    of_metric_add(c->m->invalid, invalid);
    of_metric_add(c->m->duplicates, dup);
    of_metric_add(c->m->batches, 1);
    of_metric_observe(c->m->batch_seconds, (double)(of_mono_ms() - t0) / 1000.0);
    update_lag(c);
    if (c->fenced)
        of_warn("%zu event(s) were already handled by a previous owner of their partition: "
                "skipped",
                c->fenced);
    note_applied(c);
    if (of_mono_ms() - c->kafka_commit_ms >= KAFKA_COMMIT_MS)
        commit_to_kafka(c);
    return 0;
}

/* ---- the loop -------------------------------------------------------------------------- */

static int batch_push(of_batch *b, size_t *cap, const char *topic, rd_kafka_message_t *m)
{
    if (b->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 256;
        of_item *items = realloc(b->items, ncap * sizeof *items);
        if (!items)
            return -1;
        b->items = items;
        *cap = ncap;
    }
    of_item *it = &b->items[b->n++];
    memset(it, 0, sizeof *it);
    it->msg = m;
    it->topic = topic; /* the one topic subscribed (the message's own name goes with it) */
    it->partition = m->partition;
    it->offset = m->offset;
    rd_kafka_timestamp_type_t tst;
    it->published_ms = rd_kafka_message_timestamp(m, &tst);
    return 0;
}

/* Collects up to batch_max messages into b, waiting at most batch_linger_ms after the
 * first; with wait == 0 it takes only what has already arrived. */
static void collect(consumer *c, of_batch *b, size_t *cap, int wait)
{
    int64_t deadline = 0;
    while (b->n < (size_t)c->cfg->batch_max) {
        int timeout = wait ? 100 : 0;
        if (b->n) {
            int64_t left = deadline - of_mono_ms();
            timeout = left <= 0 || *c->stop || !wait ? 0 : (int)left;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, timeout);
        if (!m) {
            if (b->n || *c->stop || timeout == 100 || !wait)
                return;
            continue;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                of_warn("kafka: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            if (b->n && of_mono_ms() >= deadline)
                return;
            continue;
        }
        if (!atomic_load(&c->kafka_up))
            set_kafka_up(c, true);
        if (batch_push(b, cap, c->spec->topic, m)) {
            rd_kafka_message_destroy(m);
            return;
        }
        if (b->n == 1)
            deadline = of_mono_ms() + c->cfg->batch_linger_ms;
    }
}

typedef struct decode_job {
    consumer *c;
    of_batch *b;
    of_batch *done; /* NULL, or an applied batch whose items are to be freed first */
} decode_job;

static void *decode_all(void *arg)
{
    decode_job *job = arg;
    if (job->done)
        batch_clear(job->done);
    for (size_t i = 0; i < job->b->n; i++)
        decode_item(job->c, &job->b->items[i]);
    return NULL;
}

static int consumer_start(consumer *c, int lanes, of_error *err)
{
    if (c->cfg->group_id[0])
        snprintf(c->group, sizeof c->group, "%s", c->cfg->group_id);
    else
        snprintf(c->group, sizeof c->group, "orderflow-%s", c->spec->service);
    c->validator = of_validator_new(err);
    if (!c->validator)
        return -1;
    c->db = of_db_new(c->cfg->database_url, c->cfg->db_statement_timeout_ms, c->spec->service);
    if (!c->db)
        return of_error_set(err, "out of memory");
    of_db_prepare_statements(c->db); /* the same statements, batch after batch */
    c->dl = of_deadletter_new(c->cfg, err);
    if (!c->dl)
        return -1;
    /* the prefetch limits below are the process's: each lane has its share */
    char client_id[200], queue_kb[16], queue_min[16];
    snprintf(client_id, sizeof client_id, "%s-%d", c->group, c->lane);
    snprintf(queue_kb, sizeof queue_kb, "%d", 4096 / lanes);
    snprintf(queue_min, sizeof queue_min, "%d", 10000 / lanes);
    const char *const defaults[] = {
        "group.id", c->group, "enable.auto.commit", "false", "enable.auto.offset.store", "false",
        "auto.offset.reset", "earliest", "enable.partition.eof", "false", "session.timeout.ms",
        "10000", "heartbeat.interval.ms", "2000",
        /* Prefetch, per process (each lane has its share). librdkafka 2.0 (Debian 12) counts
         * these limits over a consumer's queue as a whole: once it holds 10,000 messages or
         * 4 MiB it stops fetching, and its broker thread decides again only when something
         * wakes it, else after a second, by which time the queue had long run dry (the
         * worker idled ~8 % of the time, tests/bench/run). A metadata request every 100 ms
         * wakes it: the queue is topped up while messages are left.
         * Fetches are small: 256 KiB (64 KiB per partition; a larger message still comes,
         * alone). A fetched message set stays in memory, decompressed, until its last
         * message is decoded; with 1 MiB fetches those sets were two thirds of the worker's
         * peak RSS (71 MiB with two lanes, 50 MiB with 256 KiB: tests/bench/run).
         * message.max.bytes only has to fit under fetch.max.bytes here (a consumer sends
         * nothing); the dead-letter producer keeps its own. */
        "queued.max.messages.kbytes", queue_kb, "queued.min.messages", queue_min, "fetch.max.bytes",
        "262144", "message.max.bytes", "262144", "max.partition.fetch.bytes", "65536",
        "topic.metadata.refresh.interval.ms", "100", "partition.assignment.strategy",
        "cooperative-sticky", "client.id", client_id, NULL};
    rd_kafka_conf_t *conf = of_kafka_conf_new(c->cfg, defaults, err);
    if (!conf)
        return -1;
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    char errstr[512];
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!c->rk) {
        rd_kafka_conf_destroy(conf);
        return of_error_set(err, "cannot create the Kafka consumer: %s", errstr);
    }
    conf = NULL; /* now owned by c->rk */
    rd_kafka_poll_set_consumer(c->rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, c->spec->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e)
        return of_error_set(err, "cannot subscribe to %s: %s", c->spec->topic, rd_kafka_err2str(e));
    of_info("lane %d consuming %s as group %s", c->lane, c->spec->topic, c->group);
    return 0;
}

static void consumer_free(consumer *c)
{
    batch_clear(&c->batch);
    batch_clear(&c->next);
    batch_clear(&c->done);
    free(c->batch.items);
    free(c->next.items);
    free(c->done.items);
    if (c->rk) {
        rd_kafka_consumer_close(c->rk); /* leaves the group */
        /* librdkafka 2.0 (Debian 12) aborts destroying a cooperative-sticky consumer whose
         * group never completed an assignment (its issue #4312, fixed in 2.3): a lane
         * stopped while the group was still forming. Its handle is left to the exit. */
        if (c->synced)
            rd_kafka_destroy(c->rk);
    }
    of_deadletter_free(c->dl);
    of_db_free(c->db);
    of_rows_free(&c->sql_a);
    of_rows_free(&c->sql_b);
    of_validator_free(c->validator);
}

/* Before the lanes leave the group. librdkafka 2.0 (Debian 12) can crash closing a
 * cooperative-sticky consumer that the group has not given its first assignment yet (its
 * issue #4312, fixed in 2.3): a worker stopped while a lane's first join was in flight
 * died of a segfault in librdkafka's own thread (once in about 450 stops of a loop that
 * stops a worker while its second lane joins; none in 600 with the wait below). So a
 * stopping lane serves the group until every lane of the process has had its first
 * assignment; all must poll, since the group waits for each member's rejoin. At most 15 s;
 * then they close anyway. What is polled meanwhile is dropped unapplied: the partitions'
 * next owner starts from PostgreSQL's offsets. */
static void lane_await_first_assignments(consumer *c)
{
    int64_t deadline = of_mono_ms() + 15000;
    while (atomic_load(&c->m->unsynced) > 0 && of_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 100);
        if (m)
            rd_kafka_message_destroy(m);
        lane_beat(c);
    }
    if (!c->synced)
        of_warn("lane %d: leaving the group before it gave the lane an assignment", c->lane);
}

/* The lane's thread: collect, decode, apply and commit until a stop is requested. */
static void *lane_run(void *arg)
{
    consumer *c = arg;
    /* connected now, not at its first batch: /readyz asks every lane, and a lane the group
     * has given nothing yet must not hold the worker back */
    of_error e;
    if (of_db_ensure(c->db, &e))
        of_warn("lane %d: %s", c->lane, e.msg);
    set_db_up(c, of_db_reachable(c->db));
    int64_t last_ping = of_mono_ms();
    while (c->rc == 0 && !*c->stop) {
        lane_beat(c);
        if (!c->batch.n) { /* nothing in hand: wait for messages */
            batch_clear(&c->done);
            collect(c, &c->batch, &c->cap, 1);
            decode_job job = {c, &c->batch, NULL};
            decode_all(&job);
        }
        if (c->batch.n) {
            /* Pipelining: what has arrived meanwhile is decoded (JSON, schemas) on a second
             * thread while this batch waits on PostgreSQL, after that thread has freed the
             * batch applied before. Rebalances happen only inside collect(), never while the
             * decoder runs. */
            collect(c, &c->next, &c->next_cap, 0);
            decode_job job = {c, &c->next, &c->done};
            pthread_t decoder;
            int work = c->next.n || c->done.n;
            int threaded = work && pthread_create(&decoder, NULL, decode_all, &job) == 0;
            if (work && !threaded)
                decode_all(&job);
            if (process_batch(c))
                c->rc = of_error_set(&c->err, "stopped before the last batch could be committed");
            if (threaded)
                pthread_join(decoder, NULL);
            /* applied -> done (freed next time), next -> applied, done (empty) -> next */
            of_batch t = c->done;
            size_t tc = c->done_cap;
            c->done = c->batch;
            c->done_cap = c->cap;
            c->batch = c->next;
            c->cap = c->next_cap;
            c->next = t;
            c->next_cap = tc;
            last_ping = of_mono_ms();
        } else if (of_mono_ms() - last_ping > 2000) {
            /* idle: tell Kafka again (a commit made during a rebalance may have been
             * refused, and lag-based autoscaling reads Kafka's offsets) */
            commit_to_kafka(c);
            update_lag(c);
            /* and keep the readiness flag true to PostgreSQL's state */
            if (of_db_ensure(c->db, &e) || of_db_run(c->db, "SELECT 1", 0, NULL, &e))
                of_warn("%s", e.msg);
            set_db_up(c, of_db_reachable(c->db));
            last_ping = of_mono_ms();
        }
    }
    commit_to_kafka(c);
    lane_await_first_assignments(c);
    return NULL;
}

typedef struct lanes {
    consumer *lane;
    int n;
} lanes;

/* Ready when every lane is: the first that is not gives the reason. */
static bool lanes_ready(void *ctx, char *reason, size_t sz)
{
    const lanes *l = ctx;
    for (int i = 0; i < l->n; i++)
        if (!ready_cb(&l->lane[i], reason, sz))
            return false;
    return true;
}

int of_consumer_run(const of_config *cfg, const of_consumer_spec *spec, volatile sig_atomic_t *stop,
                    of_error *err)
{
    int n = cfg->consumer_lanes ? cfg->consumer_lanes : spec->lanes > 0 ? spec->lanes : 1;
    consumer_metrics m = {0};
    metrics_setup(&m, spec);
    atomic_store(&m.unsynced, n);
    lanes l = {calloc((size_t)n, sizeof(consumer)), 0};
    if (!l.lane)
        return of_error_set(err, "out of memory");
    int rc = 0;
    for (; rc == 0 && l.n < n; l.n++) {
        consumer *c = &l.lane[l.n];
        *c = (consumer){.cfg = cfg, .spec = spec, .stop = stop, .lane = l.n, .m = &m};
        for (int p = 0; p < 64; p++)
            c->assigned_at[p] = c->applied_next[p] = -1;
        atomic_store(&c->beat_ms, of_mono_ms());
        atomic_store(&c->db_up, true); /* until the lane finds otherwise */
        atomic_store(&c->kafka_up, true);
        rc = consumer_start(c, n, err);
    }
    of_health *health = NULL;
    if (rc == 0) {
        health = of_health_start(cfg->http_port, lanes_ready, &l, err);
        if (!health && cfg->http_port)
            rc = -1;
    }
    pthread_t threads[64];
    int started = 0;
    while (rc == 0 && started < l.n) {
        if (pthread_create(&threads[started], NULL, lane_run, &l.lane[started]))
            rc = of_error_set(err, "cannot start lane %d", started);
        else
            started++;
    }
    if (rc) {
        atomic_store(&m.unsynced, 0); /* no lane waits for one that never ran */
        *stop = 1;                    /* the lanes already running end their batch and return */
    }
    /* /healthz stays green while every lane's loop turns (a lane waiting on PostgreSQL
     * beats from its retry loop); a lane that failed stops the others */
    while (started && !*stop) {
        int64_t oldest = of_mono_ms();
        for (int i = 0; i < started; i++) {
            int64_t b = atomic_load(&l.lane[i].beat_ms);
            oldest = b < oldest ? b : oldest;
            if (l.lane[i].rc)
                *stop = 1;
        }
        if (of_mono_ms() - oldest < 50000)
            of_health_beat();
        of_sleep_ms(200);
    }
    for (int i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
        if (l.lane[i].rc && rc == 0) {
            *err = l.lane[i].err;
            rc = -1;
        }
    }
    if (*stop && rc == 0)
        of_info("stopping: last batch committed, leaving the group");
    of_health_stop(health);
    for (int i = 0; i < l.n; i++)
        consumer_free(&l.lane[i]);
    free(l.lane);
    pthread_mutex_destroy(&m.lag_mu);
    return rc;
}
