/* sweeper.c — the sweeper's loop (see sweeper.h). */
#include "sweeper.h"

#include <stdlib.h>

#include "alerts.h"
#include "clock.h"
#include "db.h"
#include "deadlines.h"
#include "health.h"
#include "log.h"
#include "metrics.h"

static bool ready(void *ctx, char *reason, size_t sz)
{
    of_db *db = ctx;
    if (of_db_reachable(db))
        return true;
    snprintf(reason, sz, "PostgreSQL unreachable");
    return false;
}

int sweeper_run(const of_config *cfg, volatile sig_atomic_t *stop, of_error *err)
{
    of_db *db = of_db_new(cfg->database_url, cfg->db_statement_timeout_ms, "sweeper");
    alert_sender *alerts = alert_sender_new(cfg, err);
    if (!db || !alerts) {
        of_db_free(db);
        alert_sender_free(alerts);
        return db ? -1 : of_error_set(err, "out of memory");
    }
    of_health *health = of_health_start(cfg->http_port, ready, db, err);
    if (!health && cfg->http_port) {
        of_db_free(db);
        alert_sender_free(alerts);
        return -1;
    }
    of_metric *breaches[16];
    for (size_t i = 0; i < deadline_rule_count && i < 16; i++) {
        char l[32];
        snprintf(l, sizeof l, "rule=\"%s\"", deadline_rules[i].rule);
        breaches[i] = of_counter("orderflow_breaches_total", "Deadline breaches recorded", l);
    }
    of_metric *cycle = of_histogram("orderflow_sweep_cycle_seconds", "One sweep of every rule",
                                    NULL, of_latency_buckets, of_latency_bucket_count);
    int attempt = 0;
    while (!*stop) {
        of_health_beat();
        int64_t t0 = of_mono_ms();
        of_error e;
        int failed = of_db_ensure(db, &e);
        for (size_t i = 0; !failed && i < deadline_rule_count; i++) {
            long found = 0;
            failed = deadline_sweep(db, cfg, &deadline_rules[i], cfg->sweep_limit, &found, &e);
            if (!failed && found) {
                of_metric_add(breaches[i], (double)found);
                of_info("%s: %ld breach(es) of %s", deadline_rules[i].rule, found,
                        deadline_rules[i].what);
            }
        }
        long sent = 0;
        if (!failed)
            failed = alert_sender_run(alerts, db, cfg->sweep_limit, &sent, &e);
        if (failed) {
            of_warn("sweep failed, will retry: %s", e.msg);
            of_backoff_sleep(attempt++);
            continue;
        }
        attempt = 0;
        int64_t took = of_mono_ms() - t0;
        of_metric_observe(cycle, (double)took / 1000.0);
        if (took < cfg->sweep_interval_ms)
            of_sleep_ms(cfg->sweep_interval_ms - took);
    }
    of_info("stopping");
    of_health_stop(health);
    alert_sender_free(alerts);
    of_db_free(db);
    return 0;
}
