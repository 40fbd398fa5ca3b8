/* test_rules.c — the rule table of tests/rules/ (see tests/rules/README.md) applied in
 * memory: for each row, a fresh order_ctx, the row's setup events and then its event under
 * test through order_apply_one, exactly as order-worker applies a batch but without a
 * database. Checks: accepted or rejected (and the reason), every note (code, author, the
 * exact rendered text; zh-Hans and English where the row gives them), every task, the
 * order fields the row names, the balance ledger and the refund registrations; after a
 * rejection, that nothing at all changed. The same rows run through Kafka and PostgreSQL
 * in tests/integration/test_rules_pipeline.py.
 *
 * Usage: test_rules [substring]   (only the rows whose name contains substring)
 * Runs from the repository root (ctest's working directory). */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "consumer.h"
#include "event.h"
#include "notes.h"
#include "order_apply.h"
#include "shop_time.h"

#define RULES_DIR "tests/rules"

static of_validator *validator;
static const json_t *defaults;

/* ---- the failures of the current row ----------------------------------------------- */

static char failures[16384];
static size_t failures_len;
static int row_failed;

static void fail(const char *fmt, ...) OF_PRINTF(1, 2);
static void fail(const char *fmt, ...)
{
    row_failed = 1;
    if (failures_len + 8 >= sizeof failures)
        return;
    va_list ap;
    va_start(ap, fmt);
    failures_len +=
        (size_t)snprintf(failures + failures_len, sizeof failures - failures_len, "    - ");
    int n = vsnprintf(failures + failures_len, sizeof failures - failures_len, fmt, ap);
    va_end(ap);
    if (n > 0)
        failures_len += (size_t)n;
    if (failures_len >= sizeof failures - 2)
        failures_len = sizeof failures - 2;
    failures[failures_len++] = '\n';
    failures[failures_len] = '\0';
}

/* JSON text of v for messages (static buffer, one at a time per argument slot). */
static const char *show(const json_t *v, int slot)
{
    static char buf[2][512];
    if (!v) {
        snprintf(buf[slot], sizeof buf[slot], "(absent)");
        return buf[slot];
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(buf[slot], sizeof buf[slot], "%s", s ? s : "?");
    free(s);
    return buf[slot];
}

/* ---- building the events of a row --------------------------------------------------- */

/* A copy of v where every string "@x" becomes prefix + "x" (the row's own ids). */
static json_t *expand(const json_t *v, const char *prefix)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (s[0] != '@')
            return json_copy((json_t *)v);
        char id[256];
        snprintf(id, sizeof id, "%s%s", prefix, s + 1);
        return json_string(id);
    }
    if (json_is_array(v)) {
        json_t *out = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) json_array_append_new(out, expand(e, prefix));
        return out;
    }
    if (json_is_object(v)) {
        json_t *out = json_object();
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e) json_object_set_new(out, k, expand(e, prefix));
        return out;
    }
    return json_deep_copy(v);
}

static void alias_id(const char *prefix, const char *alias, char *out, size_t n)
{
    snprintf(out, n, "%s%s", prefix, alias);
}

/* The CloudEvents event of a step (see tests/rules/README.md). */
static json_t *build_event(const json_t *step, const char *prefix, int n)
{
    json_t *spec =
        json_is_string(step) ? json_pack("{s:O}", "type", step) : json_incref((json_t *)step);
    const char *type = json_string_value(json_object_get(spec, "type"));
    const char *alias = json_string_value(json_object_get(spec, "order"));
    const char *time = json_string_value(json_object_get(spec, "time"));
    char order_id[128], event_id[128], source[128];
    alias_id(prefix, alias ? alias : "A", order_id, sizeof order_id);
    snprintf(event_id, sizeof event_id, "%se%d", prefix, n);
    snprintf(source, sizeof source, "shop/%s",
             json_string_value(json_object_get(defaults, "shop")));

    json_t *data =
        expand(json_object_get(json_object_get(defaults, "data"), type ? type : ""), prefix);
    if (!json_is_object(data)) {
        json_decref(data);
        data = json_object();
    }
    json_t *over = expand(json_object_get(spec, "data"), prefix);
    if (json_is_object(over))
        json_object_update(data, over);
    json_decref(over);
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(spec, "drop"), i, f)
        json_object_del(data, json_string_value(f));
    if (!json_is_false(json_object_get(spec, "attach")))
        json_object_set_new(data, "order_id", json_string(order_id));

    json_t *ev =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "specversion", "1.0", "id", event_id,
                  "source", source, "type", type ? type : "", "time",
                  time ? time : json_string_value(json_object_get(defaults, "time")), "subject",
                  order_id, "datacontenttype", "application/json", "data", data);
    json_decref(spec);
    return ev;
}

/* Decodes the event as order-worker's consumer does and applies it. Returns 1 accepted,
 * 0 rejected by a rule, -1 not a valid event; reason receives why it was not applied. */
static int apply_event(order_ctx *ctx, const json_t *ev, char *reason, size_t n)
{
    char *text = json_dumps(ev, JSON_COMPACT);
    const char *subject = json_string_value(json_object_get(ev, "subject"));
    of_message_in m = {.topic = OF_TOPIC_ORDERS,
                       .key = subject,
                       .key_len = strlen(subject),
                       .value = text,
                       .len = strlen(text),
                       .max_bytes = 262144};
    of_item it;
    memset(&it, 0, sizeof it);
    it.topic = OF_TOPIC_ORDERS;
    of_error err = {{0}};
    int rc;
    if (of_event_decode(validator, &m, &it.ev, &err)) {
        snprintf(reason, n, "invalid event: %.480s", err.msg);
        rc = -1;
    } else {
        it.state = OF_ITEM_PENDING;
        order_apply_one(ctx, &it);
        rc = it.state == OF_ITEM_REJECTED ? 0 : 1;
        snprintf(reason, n, "%s", rc ? "" : it.reason);
        of_event_clear(&it.ev);
    }
    free(text);
    return rc;
}

/* ---- comparing ---------------------------------------------------------------------- */

static int is_time_field(const char *f)
{
    static const char *const times[] = {"paid_at",   "printed_at",  "shipped_at",
                                        "closed_at", "refund_from", "created_at"};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++)
        if (strcmp(f, times[i]) == 0)
            return 1;
    return 0;
}

/* got (may be NULL) against want; null wants absent or null; times compare as instants. */
static int same(const char *field, const json_t *got, const json_t *want)
{
    if (json_is_null(want))
        return !got || json_is_null(got);
    if (!got)
        return 0;
    if (field && is_time_field(field) && json_is_string(got) && json_is_string(want)) {
        int64_t a, b;
        return of_parse_rfc3339(json_string_value(got), &a) == 0 &&
               of_parse_rfc3339(json_string_value(want), &b) == 0 && a == b;
    }
    return json_equal((json_t *)got, (json_t *)want);
}

/* Each field of want (except those in skip, and "*" values) equals got's field `map`ped. */
static void check_fields(const char *what, const json_t *got, const json_t *want,
                         const char *const *skip, const char *const *map, const char *prefix)
{
    const char *k;
    json_t *w;
    json_object_foreach((json_t *)want, k, w)
    {
        int skipped = 0;
        for (size_t i = 0; skip && skip[i]; i++)
            skipped |= strcmp(skip[i], k) == 0;
        if (skipped || (json_is_string(w) && strcmp(json_string_value(w), "*") == 0))
            continue;
        const char *gk = k;
        for (size_t i = 0; map && map[i]; i += 2)
            if (strcmp(map[i], k) == 0)
                gk = map[i + 1];
        json_t *want_v = json_incref(w);
        if (strcmp(gk, "order_id") == 0 && json_is_string(w)) { /* an alias */
            char id[128];
            alias_id(prefix, json_string_value(w), id, sizeof id);
            json_decref(want_v);
            want_v = json_string(id);
        } else if (json_is_string(w) && json_string_value(w)[0] == '@') {
            json_decref(want_v);
            want_v = expand(w, prefix);
        }
        json_t *g = json_object_get(got, gk);
        if (!same(k, g, want_v))
            fail("%s.%s: got %s, want %s", what, k, show(g, 0), show(want_v, 1));
        json_decref(want_v);
    }
}

/* notes or tasks: {alias: [...]} against ctx's order_id -> [...]; every order with rows must
 * be listed. */
static void check_lists(const char *what, json_t *got_map, const json_t *want_map,
                        const char *prefix)
{
    const char *alias;
    json_t *want;
    json_object_foreach((json_t *)want_map, alias, want)
    {
        char id[128];
        alias_id(prefix, alias, id, sizeof id);
        json_t *got = json_object_get(got_map, id);
        if (json_array_size(got) != json_array_size(want)) {
            fail("%s of %s: %zu, want %zu: %s", what, alias, json_array_size(got),
                 json_array_size(want), show(got, 0));
            continue;
        }
        size_t i;
        json_t *w;
        json_array_foreach(want, i, w)
        {
            char label[160];
            snprintf(label, sizeof label, "%s[%s][%zu]", what, alias, i);
            check_fields(label, json_array_get(got, i), w, NULL, NULL, prefix);
        }
    }
    const char *id;
    json_t *got;
    json_object_foreach(got_map, id, got)
    {
        size_t pl = strlen(prefix);
        const char *alias_of = strncmp(id, prefix, pl) == 0 ? id + pl : id;
        if (json_array_size(got) && !json_object_get(want_map, alias_of))
            fail("unexpected %s on %s: %s", what, alias_of, show(got, 0));
    }
}

/* ledger or refunds: the whole list, in order. */
static void check_rows(const char *what, const json_t *got, const json_t *want,
                       const char *const *skip, const char *const *map, const char *prefix)
{
    if (json_array_size(got) != json_array_size(want)) {
        fail("%s: %zu rows, want %zu: %s", what, json_array_size(got), json_array_size(want),
             show(got, 0));
        return;
    }
    size_t i;
    json_t *w;
    json_array_foreach(want, i, w)
    {
        char label[64];
        snprintf(label, sizeof label, "%s[%zu]", what, i);
        check_fields(label, json_array_get(got, i), w, skip, map, prefix);
    }
}

/* ---- one row ------------------------------------------------------------------------ */

typedef struct snapshot {
    json_t *parts[7];
} snapshot;

static void snap_take(const order_ctx *ctx, snapshot *s)
{
    const json_t *p[7] = {ctx->orders.rows, ctx->orders.dirty, ctx->notes,  ctx->tasks,
                          ctx->balances,    ctx->ledger,       ctx->refunds};
    for (int i = 0; i < 7; i++)
        s->parts[i] = json_deep_copy(p[i]);
}

static void drop_zeros(json_t *balances)
{
    const char *k;
    json_t *v, *tmp;
    json_object_foreach_safe(balances, tmp, k, v)
    {
        if (json_integer_value(v) == 0)
            json_object_del(balances, k);
    }
}

static void snap_check(const order_ctx *ctx, const snapshot *s)
{
    static const char *const names[7] = {"orders",   "order marks", "notes",  "tasks",
                                         "balances", "ledger",      "refunds"};
    const json_t *p[7] = {ctx->orders.rows, ctx->orders.dirty, ctx->notes,  ctx->tasks,
                          ctx->balances,    ctx->ledger,       ctx->refunds};
    for (int i = 0; i < 7; i++) {
        json_t *now = json_deep_copy(p[i]), *was = json_deep_copy(s->parts[i]);
        if (i == 4) { /* a buyer without an entry has a balance of 0 */
            drop_zeros(now);
            drop_zeros(was);
        }
        if (!json_equal(was, now))
            fail("the rejected event left %s changed: %s, was %s", names[i], show(now, 0),
                 show(was, 1));
        json_decref(now);
        json_decref(was);
    }
}

static void snap_free(snapshot *s)
{
    for (int i = 0; i < 7; i++)
        json_decref(s->parts[i]);
}

static void run_row(const of_config *cfg, const json_t *row, int index)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "u%03d-", index);
    order_ctx ctx;
    order_ctx_init(&ctx, cfg);
    char reason[OF_ERROR_MAX + 32];
    int n = 0;
    size_t i;
    json_t *step;
    json_array_foreach(json_object_get(row, "setup"), i, step)
    {
        json_t *ev = build_event(step, prefix, n++);
        if (apply_event(&ctx, ev, reason, sizeof reason) != 1)
            fail("setup event %zu (%s) not applied: %s", i,
                 json_string_value(json_object_get(ev, "type")), reason);
        json_decref(ev);
    }
    snapshot snap;
    snap_take(&ctx, &snap);

    const json_t *expect = json_object_get(row, "expect");
    json_t *ev = build_event(json_object_get(row, "event"), prefix, n);
    int rc = apply_event(&ctx, ev, reason, sizeof reason);
    json_decref(ev);
    int want_accept = json_is_true(json_object_get(expect, "accepted"));
    if (want_accept && rc != 1) {
        fail("rejected: %s", reason);
    } else if (!want_accept) {
        const char *want_reason = json_string_value(json_object_get(expect, "reason"));
        if (rc == 1)
            fail("accepted, want rejected (\"%s\")", want_reason ? want_reason : "");
        else if (want_reason && !strstr(reason, want_reason))
            fail("rejected with \"%s\", want a reason containing \"%s\"", reason, want_reason);
        snap_check(&ctx, &snap);
    }
    snap_free(&snap);

    json_t *empty_obj = json_object(), *empty_arr = json_array();
    const json_t *notes = json_object_get(expect, "notes");
    const json_t *tasks = json_object_get(expect, "tasks");
    check_lists("notes", ctx.notes, notes ? notes : empty_obj, prefix);
    check_lists("tasks", ctx.tasks, tasks ? tasks : empty_obj, prefix);

    const char *alias;
    json_t *fields;
    json_object_foreach(json_object_get(expect, "orders"), alias, fields)
    {
        char id[128], label[64];
        alias_id(prefix, alias, id, sizeof id);
        json_t *o = order_set_get(&ctx.orders, id);
        if (!o) {
            fail("order %s does not exist", alias);
            continue;
        }
        snprintf(label, sizeof label, "orders[%s]", alias);
        check_fields(label, o, fields, NULL, NULL, prefix);
    }

    static const char *const ledger_map[] = {"buyer", "buyer_id", "order", "order_id", NULL};
    const json_t *ledger = json_object_get(expect, "ledger");
    check_rows("ledger", ctx.ledger, ledger ? ledger : empty_arr, NULL, ledger_map, prefix);

    /* the masked columns and the reply exist in PostgreSQL's view only */
    static const char *const refund_skip[] = {"account_masked", "real_name_masked", "reply", NULL};
    static const char *const refund_map[] = {"buyer", "buyer_id", "order", "order_id", NULL};
    const json_t *refunds = json_object_get(expect, "refunds");
    check_rows("refunds", ctx.refunds, refunds ? refunds : empty_arr, refund_skip, refund_map,
               prefix);
    json_decref(empty_obj);
    json_decref(empty_arr);
    order_ctx_free(&ctx);
}

/* ---- the table ---------------------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static json_t *load(const char *path)
{
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j)
        fprintf(stderr, "%s:%d: %s\n", path, jerr.line, jerr.text);
    return j;
}

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    of_config cfg;
    of_error err = {{0}};
    if (of_config_load(&cfg, &err) || of_shop_tz_init("Asia/Shanghai", &err) || notes_init(&err) ||
        !(validator = of_validator_new(&err))) {
        fprintf(stderr, "set-up: %s\n", err.msg);
        return 1;
    }
    json_t *defaults_json = load(RULES_DIR "/_defaults.json");
    if (!defaults_json)
        return 1;
    defaults = defaults_json;

    DIR *dir = opendir(RULES_DIR);
    if (!dir) {
        perror(RULES_DIR " (run from the repository root)");
        return 1;
    }
    char *files[64];
    size_t nfiles = 0;
    struct dirent *de;
    while ((de = readdir(dir)) && nfiles < 64) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] != '_' && de->d_name[0] != '.' && len > 5 &&
            strcmp(de->d_name + len - 5, ".json") == 0)
            files[nfiles++] = strdup(de->d_name);
    }
    closedir(dir);
    qsort(files, nfiles, sizeof files[0], by_name);

    int rows = 0, passed = 0, failed = 0, xfailed = 0, xpassed = 0, broken = 0;
    for (size_t f = 0; f < nfiles; f++) {
        char path[512];
        snprintf(path, sizeof path, RULES_DIR "/%s", files[f]);
        json_t *table = load(path);
        if (!json_is_array(json_object_get(table, "rows"))) {
            fprintf(stderr, "%s: no \"rows\" array\n", path);
            broken++;
            json_decref(table);
            continue;
        }
        size_t i;
        json_t *row;
        json_array_foreach(json_object_get(table, "rows"), i, row)
        {
            const char *name = json_string_value(json_object_get(row, "name"));
            /* "xfail": "why" (both runners) or {"unit": "why", "pipeline": "why"} */
            const json_t *xf = json_object_get(row, "xfail");
            const char *xfail = json_is_object(xf) ? json_string_value(json_object_get(xf, "unit"))
                                                   : json_string_value(xf);
            if (only && (!name || !strstr(name, only)))
                continue;
            failures_len = 0;
            failures[0] = '\0';
            row_failed = 0;
            run_row(&cfg, row, rows);
            rows++;
            if (xfail && row_failed) {
                xfailed++;
                printf("xfail %s: %s\n  (%s)\n%s", files[f], name, xfail, failures);
            } else if (xfail) {
                xpassed++;
                printf("XPASS %s: %s — passes now: remove its \"xfail\"\n", files[f], name);
            } else if (row_failed) {
                failed++;
                printf("FAIL  %s: %s\n%s", files[f], name, failures);
            } else {
                passed++;
                printf("ok    %s: %s\n", files[f], name);
            }
        }
        json_decref(table);
    }
    for (size_t f = 0; f < nfiles; f++)
        free(files[f]);
    json_decref(defaults_json);
    of_validator_free(validator);
    printf("%d rows: %d passed, %d failed, %d xfail, %d xpass%s\n", rows, passed, failed, xfailed,
           xpassed, broken ? ", table files broken" : "");
    if (!only && rows <= 40) {
        printf("the table must have more than 40 rows\n");
        return 1;
    }
    return failed || xpassed || broken ? 1 : 0;
}
