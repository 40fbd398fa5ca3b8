/* config.c — the one table of environment variables (see config.h). Variables named
 * KAFKA_<PROPERTY> other than KAFKA_BOOTSTRAP are librdkafka properties and are handled by
 * kafka_conf.c, not here. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

typedef enum { CFG_STR, CFG_INT, CFG_SIZE, CFG_HHMM } cfg_type;

typedef struct cfg_entry {
    const char *name;
    cfg_type type;
    size_t offset;
    size_t size; /* buffer size for strings */
    const char *def;
    long min, max;
    const char *help;
} cfg_entry;

#define STR(field) CFG_STR, offsetof(of_config, field), sizeof(((of_config *)0)->field)
#define INT(field) CFG_INT, offsetof(of_config, field), 0
#define SIZE(field) CFG_SIZE, offsetof(of_config, field), 0

static const cfg_entry table[] = {
    {"KAFKA_BOOTSTRAP", STR(kafka_bootstrap), "127.0.0.1:9092", 0, 0,
     "Kafka bootstrap servers (other KAFKA_* variables pass through to librdkafka, e.g. "
     "KAFKA_SECURITY_PROTOCOL -> security.protocol)"},
    {"DATABASE_URL", STR(database_url), "postgresql://orderflow@127.0.0.1:55432/orderflow", 0, 0,
     "PostgreSQL connection string (libpq's PG* variables and sslmode apply as usual)"},
    {"RECHARGE_PROVIDER_URL", STR(recharge_provider_url), "http://127.0.0.1:8090", 0, 0,
     "Base URL of the recharge provider API (SPEC 7)"},
    {"OPS_WEBHOOK_URL", STR(ops_webhook_url), "", 0, 0,
     "Operations webhook for alerts; empty = alerts go to ops.alerts only"},
    {"LOCK_WINDOW_S", INT(lock_window_s), "10", 1, 3600, "Recharge lock lease in seconds (R1)"},
    {"RESULT_WINDOW_S", INT(result_window_s), "10", 1, 3600,
     "Seconds allowed to handle a provider result (R3)"},
    {"SHIFT_START", CFG_HHMM, offsetof(of_config, shift_start),
     sizeof(((of_config *)0)->shift_start), "08:45", 0, 0,
     "Local time processors must be online by (R5), HH:MM"},
    {"SHOP_TZ", STR(shop_tz), "Asia/Shanghai", 0, 0,
     "Shop time zone for {date} in notes and daily records"},
    {"REMITTANCE_VERIFY_DAYS", INT(remittance_verify_days), "3", 1, 365,
     "Days after a remittance notice before an unverified one is alerted (M3)"},
    {"SHIP_CUTOFF", CFG_HHMM, offsetof(of_config, ship_cutoff),
     sizeof(((of_config *)0)->ship_cutoff), "12:00", 0, 0,
     "T1: paid before this shop time ships the same day, else the next day"},
    {"REFUND_AFTER_H", INT(refund_after_h), "24", 0, 720,
     "T2: hours after payment a paid order's refund may be applied for"},
    {"LOG_LEVEL", STR(log_level), "info", 0, 0, "debug, info, warn or error"},
    {"HTTP_PORT", INT(http_port), "8081", 0, 65535,
     "Port of /healthz, /readyz and /metrics (0 = off)"},
    {"KAFKA_GROUP_ID", STR(group_id), "", 0, 0, "Consumer group (default: orderflow-<service>)"},
    {"MAX_EVENT_BYTES", SIZE(max_event_bytes), "262144", 256, 16777216,
     "Largest event accepted; larger ones are dead-lettered"},
    {"BATCH_MAX", INT(batch_max), "1000", 1, 100000, "Most events applied in one transaction"},
    {"BATCH_LINGER_MS", INT(batch_linger_ms), "20", 0, 10000,
     "How long a batch waits to fill before it is applied"},
    {"CONSUMER_LANES", INT(consumer_lanes), "0", 0, 64,
     "Consumers of the group in one worker process, each a thread with its own PostgreSQL "
     "session (0 = the service's default: order-worker 2, the others 1)"},
    {"DB_STATEMENT_TIMEOUT_MS", INT(db_statement_timeout_ms), "30000", 100, 3600000,
     "statement_timeout of the service's PostgreSQL sessions"},
    {"SWEEP_INTERVAL_MS", INT(sweep_interval_ms), "1000", 50, 3600000,
     "Sweeper: how often every timed rule is evaluated"},
    {"SWEEP_LIMIT", INT(sweep_limit), "1000", 1, 1000000,
     "Sweeper: most rows one rule handles per cycle"},
};

static int parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

int of_config_load(of_config *cfg, of_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const cfg_entry *e = &table[i];
        const char *v = getenv(e->name);
        if (!v || !*v)
            v = e->def;
        char *field = (char *)cfg + e->offset;
        long n;
        switch (e->type) {
        case CFG_STR:
            if (strlen(v) >= e->size)
                return of_error_set(err, "%s is too long (at most %zu characters)", e->name,
                                    e->size - 1);
            memcpy(field, v, strlen(v) + 1);
            break;
        case CFG_HHMM: {
            int ok = strlen(v) == 5 && v[2] == ':';
            for (int k = 0; ok && k < 5; k++)
                ok = k == 2 || (v[k] >= '0' && v[k] <= '9');
            int h = ok ? (v[0] - '0') * 10 + (v[1] - '0') : -1;
            int m = ok ? (v[3] - '0') * 10 + (v[4] - '0') : -1;
            if (!ok || h > 23 || m > 59)
                return of_error_set(err, "%s must be HH:MM (got \"%s\")", e->name, v);
            memcpy(field, v, 6);
            break;
        }
        case CFG_INT:
        case CFG_SIZE:
            if (parse_long(v, &n) || n < e->min || n > e->max)
                return of_error_set(err, "%s must be a whole number from %ld to %ld (got \"%s\")",
                                    e->name, e->min, e->max, v);
            if (e->type == CFG_INT)
                *(int *)(void *)field = (int)n;
            else
                *(size_t *)(void *)field = (size_t)n;
            break;
        }
    }
    of_log_level lvl;
    if (of_log_level_parse(cfg->log_level, &lvl))
        return of_error_set(err, "LOG_LEVEL must be debug, info, warn or error (got \"%s\")",
                            cfg->log_level);
    return 0;
}

/* "postgresql://user:secret@host/db" -> "postgresql://user:***@host/db" */
static void mask_url(const char *url, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s", url);
    char *scheme = strstr(out, "://");
    char *at = strrchr(out, '@');
    if (!scheme || !at)
        return;
    char *colon = memchr(scheme + 3, ':', (size_t)(at - (scheme + 3)));
    if (!colon)
        return;
    char rest[512];
    snprintf(rest, sizeof rest, "%s", at);
    snprintf(colon, outsz - (size_t)(colon - out), ":***%s", rest);
}

void of_config_log(const of_config *cfg)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const cfg_entry *e = &table[i];
        const char *field = (const char *)cfg + e->offset;
        char val[600];
        if (e->type == CFG_STR || e->type == CFG_HHMM)
            mask_url(field, val, sizeof val);
        else if (e->type == CFG_INT)
            snprintf(val, sizeof val, "%d", *(const int *)(const void *)field);
        else
            snprintf(val, sizeof val, "%zu", *(const size_t *)(const void *)field);
        of_debug("config %s=%s", e->name, val);
    }
    of_info("config loaded: KAFKA_BOOTSTRAP=%s SHOP_TZ=%s HTTP_PORT=%d", cfg->kafka_bootstrap,
            cfg->shop_tz, cfg->http_port);
}

void of_config_print_help(void)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        printf("%-26s default %-52s %s\n", table[i].name, *table[i].def ? table[i].def : "(empty)",
               table[i].help);
}
