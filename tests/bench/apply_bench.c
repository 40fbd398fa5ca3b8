/* apply_bench.c — order-worker's cost per event without Kafka, for profiling (run by
 * tests/bench/apply_profile). Reads a JSON Lines file of shop.orders events (gen_events.py),
 * decodes and validates each line as the consumer does (phase "decode"), then applies them in
 * batches of BATCH_MAX through the consumer's own batch transaction (of_batch_commit: fence,
 * dedupe, rules, applied events, offsets, COMMIT) into DATABASE_URL (phase "apply").
 * Single-threaded, so `valgrind --tool=callgrind` counts are repeatable: the inclusive cost
 * of decode_phase and apply_phase divided by the events is the worker's instructions per
 * event. Prints the PostgreSQL backend's CPU time and, when pg_stat_statements is installed,
 * the statements per batch with their rows.
 *
 *   apply_bench [--reset] [--group NAME] events.jsonl
 *   --reset  empties the order-worker's tables first (a bench stack only!) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "consumer.h"
#include "db.h"
#include "event.h"
#include "notes.h"
#include "order_apply.h"
#include "shop_time.h"

typedef struct line {
    char *text;
    size_t len;
} line;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime + stime of a process in seconds (the backend runs on this machine). */
static double proc_cpu_s(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / 100.0;
}

static line *read_lines(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 1024;
    line *out = malloc(cap * sizeof *out);
    if (!out) {
        fclose(f);
        return NULL;
    }
    char *buf = NULL;
    size_t bcap = 0;
    ssize_t len;
    *n = 0;
    while ((len = getline(&buf, &bcap, f)) > 0) {
        while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
            len--;
        if (!len)
            continue;
        if (*n == cap) {
            cap *= 2;
            line *o = realloc(out, cap * sizeof *out);
            if (!o)
                break;
            out = o;
        }
        out[*n].text = strndup(buf, (size_t)len);
        out[*n].len = (size_t)len;
        (*n)++;
    }
    free(buf);
    fclose(f);
    return out;
}

__attribute__((noinline)) static size_t decode_phase(const of_validator *v, const of_config *cfg,
                                                     const line *lines, size_t n, of_item *items)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        of_item *it = &items[i];
        memset(it, 0, sizeof *it);
        it->topic = OF_TOPIC_ORDERS;
        it->partition = 0;
        it->offset = (int64_t)i;
        of_message_in in = {.topic = OF_TOPIC_ORDERS,
                            .value = lines[i].text,
                            .len = lines[i].len,
                            .max_bytes = cfg->max_event_bytes};
        of_error err;
        if (of_event_decode(v, &in, &it->ev, &err)) {
            it->state = OF_ITEM_INVALID;
            snprintf(it->reason, sizeof it->reason, "%s", err.msg);
            bad++;
        }
    }
    return bad;
}

__attribute__((noinline)) static int apply_phase(of_db *db, const char *group, of_config *cfg,
                                                 of_item *items, size_t n, size_t counts[5])
{
    for (size_t at = 0; at < n; at += (size_t)cfg->batch_max) {
        of_batch b = {.items = items + at,
                      .n = n - at < (size_t)cfg->batch_max ? n - at : (size_t)cfg->batch_max};
        of_error err;
        if (of_batch_commit(db, group, OF_TOPIC_ORDERS, order_apply_batch, cfg, &b, &err)) {
            fprintf(stderr, "apply_bench: batch at %zu: %s\n", at, err.msg);
            return -1;
        }
        for (size_t i = 0; i < b.n; i++)
            counts[b.items[i].state]++;
    }
    return 0;
}

static void print_statements(of_db *db, size_t batches, size_t events)
{
    of_error err;
    PGresult *r = of_db_exec(db,
                             "SELECT calls, rows, round(total_exec_time::numeric, 1), "
                             "left(regexp_replace(query, '\\s+', ' ', 'g'), 90) "
                             "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database "
                             "WHERE datname = current_database()) AND query NOT LIKE "
                             "'%pg_stat_statements%' ORDER BY total_exec_time DESC",
                             0, NULL, &err);
    if (!r) {
        printf("  (no pg_stat_statements: %s)\n", err.msg);
        return;
    }
    long long calls = 0;
    double ms = 0;
    printf("  %8s %8s %9s  statement\n", "calls", "rows", "exec ms");
    for (int i = 0; i < PQntuples(r); i++) {
        calls += atoll(PQgetvalue(r, i, 0));
        ms += atof(PQgetvalue(r, i, 2));
        printf("  %8s %8s %9s  %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
               PQgetvalue(r, i, 3));
    }
    printf("  statements: %lld = %.2f per batch, %.3f per event; exec time %.1f us per event\n",
           calls, (double)calls / (double)batches, (double)calls / (double)events,
           ms * 1000.0 / (double)events);
    PQclear(r);
}

int main(int argc, char **argv)
{
    int reset = 0;
    const char *group = "apply-bench", *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reset") == 0)
            reset = 1;
        else if (strcmp(argv[i], "--group") == 0 && i + 1 < argc)
            group = argv[++i];
        else
            path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: apply_bench [--reset] [--group NAME] events.jsonl\n");
        return 2;
    }
    of_config cfg;
    of_error err;
    if (of_config_load(&cfg, &err) || of_shop_tz_init(cfg.shop_tz, &err) || notes_init(&err)) {
        fprintf(stderr, "apply_bench: %s\n", err.msg);
        return 1;
    }
    of_validator *v = of_validator_new(&err);
    of_db *db = of_db_new(cfg.database_url, cfg.db_statement_timeout_ms, "apply-bench");
    if (db)
        of_db_prepare_statements(db); /* as the consumer's lanes do */
    if (!v || !db || of_db_ensure(db, &err)) {
        fprintf(stderr, "apply_bench: %s\n", err.msg);
        return 1;
    }
    size_t n = 0;
    line *lines = read_lines(path, &n);
    of_item *items = calloc(n ? n : 1, sizeof *items);
    if (!lines || !items) {
        fprintf(stderr, "apply_bench: cannot read %s\n", path);
        return 1;
    }
    if (reset &&
        of_db_run(db,
                  "TRUNCATE applied_events, consumer_offsets, dead_letters, orders, order_notes, "
                  "tasks, refund_registrations, buyer_balances, balance_ledger",
                  0, NULL, &err)) {
        fprintf(stderr, "apply_bench: %s\n", err.msg);
        return 1;
    }
    int stats = of_db_run(db, "SELECT pg_stat_statements_reset()", 0, NULL, &err) == 0;

    double t0 = now_s();
    size_t bad = decode_phase(v, &cfg, lines, n, items);
    double t1 = now_s();
    int pid = PQbackendPID(of_db_conn(db));
    double cpu0 = proc_cpu_s(pid);
    size_t counts[5] = {0};
    int rc = apply_phase(db, group, &cfg, items, n, counts);
    double t2 = now_s();
    double cpu1 = proc_cpu_s(pid);
    size_t batches = (n + (size_t)cfg.batch_max - 1) / (size_t)cfg.batch_max;
    printf("apply_bench: %zu events (%zu invalid), batches of %d\n", n, bad, cfg.batch_max);
    printf("  decode: %.1f us/event wall\n", (t1 - t0) * 1e6 / (double)(n ? n : 1));
    printf("  apply:  %.1f us/event wall, PostgreSQL backend CPU %.1f us/event\n",
           (t2 - t1) * 1e6 / (double)(n ? n : 1), (cpu1 - cpu0) * 1e6 / (double)(n ? n : 1));
    printf("  applied %zu, rejected %zu, invalid %zu, duplicate %zu\n", counts[OF_ITEM_APPLIED],
           counts[OF_ITEM_REJECTED], counts[OF_ITEM_INVALID], counts[OF_ITEM_DUPLICATE]);
    if (stats)
        print_statements(db, batches, n);
    for (size_t i = 0; i < n; i++) {
        of_event_clear(&items[i].ev);
        free(lines[i].text);
    }
    free(items);
    free(lines);
    of_db_free(db);
    of_validator_free(v);
    return rc ? 1 : 0;
}
