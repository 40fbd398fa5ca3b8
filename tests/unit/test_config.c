/* test_config.c — the configuration table (common/config.c): defaults, the parse of each
 * type, rejected values named by variable, the values logged at start (secrets masked) and
 * the --help-config table. */
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "of_test.h"

static const char *const all_vars[] = {
    "KAFKA_BOOTSTRAP", "DATABASE_URL",    "RECHARGE_PROVIDER_URL",
    "OPS_WEBHOOK_URL", "LOCK_WINDOW_S",   "RESULT_WINDOW_S",
    "SHIFT_START",     "SHOP_TZ",         "REMITTANCE_VERIFY_DAYS",
    "SHIP_CUTOFF",     "REFUND_AFTER_H",  "LOG_LEVEL",
    "HTTP_PORT",       "KAFKA_GROUP_ID",  "MAX_EVENT_BYTES",
    "BATCH_MAX",       "BATCH_LINGER_MS", "DB_STATEMENT_TIMEOUT_MS",
};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof all_vars / sizeof all_vars[0]; i++)
        unsetenv(all_vars[i]);
}

static of_config cfg;
static of_error err;

/* Loads with name=value set (value NULL: unset); "ok" or the error message. */
static const char *load_with(const char *name, const char *value)
{
    clear_env();
    if (value)
        setenv(name, value, 1);
    memset(&err, 0, sizeof err);
    int rc = of_config_load(&cfg, &err);
    if (name)
        unsetenv(name);
    return rc == 0 ? "ok" : err.msg;
}

static void test_defaults(void)
{
    CHECK_STR(load_with(NULL, NULL), "ok");
    CHECK_STR(cfg.kafka_bootstrap, "127.0.0.1:9092");
    CHECK_STR(cfg.database_url, "postgresql://orderflow@127.0.0.1:55432/orderflow");
    CHECK_STR(cfg.recharge_provider_url, "http://127.0.0.1:8090");
    CHECK_STR(cfg.ops_webhook_url, "");
    CHECK(cfg.lock_window_s == 10);
    CHECK(cfg.result_window_s == 10);
    CHECK_STR(cfg.shift_start, "08:45");
    CHECK_STR(cfg.shop_tz, "Asia/Shanghai");
    CHECK(cfg.remittance_verify_days == 3);
    CHECK_STR(cfg.ship_cutoff, "12:00");
    CHECK(cfg.refund_after_h == 24);
    CHECK_STR(cfg.log_level, "info");
    CHECK(cfg.http_port == 8081);
    CHECK_STR(cfg.group_id, "");
    CHECK(cfg.max_event_bytes == 262144);
    CHECK(cfg.batch_max == 1000);
    CHECK(cfg.batch_linger_ms == 20);
    CHECK(cfg.db_statement_timeout_ms == 30000);

    /* an empty variable counts as unset */
    CHECK_STR(load_with("BATCH_MAX", ""), "ok");
    CHECK(cfg.batch_max == 1000);
    CHECK_STR(load_with("SHOP_TZ", ""), "ok");
    CHECK_STR(cfg.shop_tz, "Asia/Shanghai");
}

/* n times 'k' (static) */
static const char *ks(size_t n)
{
    static char v[1024];
    memset(v, 'k', n);
    v[n] = '\0';
    return v;
}

static void test_strings(void)
{
    CHECK_STR(load_with("KAFKA_BOOTSTRAP", "k1:9092,k2:9092"), "ok");
    CHECK_STR(cfg.kafka_bootstrap, "k1:9092,k2:9092");
    CHECK_STR(load_with("KAFKA_GROUP_ID", "orderflow-test"), "ok");
    CHECK_STR(cfg.group_id, "orderflow-test");
    CHECK_STR(load_with("SHOP_TZ", "Asia/Taipei"), "ok");
    CHECK_STR(cfg.shop_tz, "Asia/Taipei");

    /* the longest value that fits, and one more */
    CHECK_STR(load_with("KAFKA_BOOTSTRAP", ks(255)), "ok");
    CHECK(strlen(cfg.kafka_bootstrap) == 255);
    CHECK_STR(load_with("KAFKA_BOOTSTRAP", ks(256)),
              "KAFKA_BOOTSTRAP is too long (at most 255 characters)");
    CHECK_STR(load_with("DATABASE_URL", ks(511)), "ok");
    CHECK_STR(load_with("DATABASE_URL", ks(512)),
              "DATABASE_URL is too long (at most 511 characters)");
    CHECK_STR(load_with("SHOP_TZ", ks(64)), "SHOP_TZ is too long (at most 63 characters)");
    CHECK_STR(load_with("KAFKA_GROUP_ID", ks(128)),
              "KAFKA_GROUP_ID is too long (at most 127 characters)");
}

typedef struct int_var {
    const char *name;
    size_t offset;
    long min, max;
} int_var;

#define IV(name, field, min, max)                                                                  \
    {                                                                                              \
        name, offsetof(of_config, field), min, max                                                 \
    }

static const int_var int_vars[] = {
    IV("LOCK_WINDOW_S", lock_window_s, 1, 3600),
    IV("RESULT_WINDOW_S", result_window_s, 1, 3600),
    IV("REMITTANCE_VERIFY_DAYS", remittance_verify_days, 1, 365),
    IV("REFUND_AFTER_H", refund_after_h, 0, 720),
    IV("HTTP_PORT", http_port, 0, 65535),
    IV("BATCH_MAX", batch_max, 1, 100000),
    IV("BATCH_LINGER_MS", batch_linger_ms, 0, 10000),
    IV("DB_STATEMENT_TIMEOUT_MS", db_statement_timeout_ms, 100, 3600000),
};

static int int_field(size_t offset)
{
    int v;
    memcpy(&v, (const char *)&cfg + offset, sizeof v);
    return v;
}

static void test_numbers(void)
{
    char v[64], want[200];
    for (size_t i = 0; i < sizeof int_vars / sizeof int_vars[0]; i++) {
        const int_var *iv = &int_vars[i];
        snprintf(v, sizeof v, "%ld", iv->min);
        CHECK_STR(load_with(iv->name, v), "ok");
        CHECK(int_field(iv->offset) == iv->min);
        snprintf(v, sizeof v, "%ld", iv->max);
        CHECK_STR(load_with(iv->name, v), "ok");
        CHECK(int_field(iv->offset) == iv->max);

        const long out_of_range[] = {iv->min - 1, iv->max + 1};
        for (int k = 0; k < 2; k++) {
            snprintf(v, sizeof v, "%ld", out_of_range[k]);
            snprintf(want, sizeof want, "%s must be a whole number from %ld to %ld (got \"%s\")",
                     iv->name, iv->min, iv->max, v);
            CHECK_STR(load_with(iv->name, v), want);
        }
        static const char *const junk[] = {"abc",  "10s", "1.5", "1e3",
                                           "0x10", "10 ", "--5", "99999999999999999999999"};
        for (size_t k = 0; k < sizeof junk / sizeof junk[0]; k++) {
            snprintf(want, sizeof want, "%s must be a whole number from %ld to %ld (got \"%s\")",
                     iv->name, iv->min, iv->max, junk[k]);
            CHECK_STR(load_with(iv->name, junk[k]), want);
        }
    }
    CHECK_STR(load_with("BATCH_MAX", "+500"), "ok");
    CHECK(cfg.batch_max == 500);
    CHECK_STR(load_with("HTTP_PORT", "0"), "ok"); /* 0 = off */
    CHECK(cfg.http_port == 0);

    /* the size type */
    CHECK_STR(load_with("MAX_EVENT_BYTES", "256"), "ok");
    CHECK(cfg.max_event_bytes == 256);
    CHECK_STR(load_with("MAX_EVENT_BYTES", "16777216"), "ok");
    CHECK(cfg.max_event_bytes == 16777216);
    CHECK_STR(load_with("MAX_EVENT_BYTES", "255"),
              "MAX_EVENT_BYTES must be a whole number from 256 to 16777216 (got \"255\")");
    CHECK_STR(load_with("MAX_EVENT_BYTES", "16777217"),
              "MAX_EVENT_BYTES must be a whole number from 256 to 16777216 (got \"16777217\")");
    CHECK_STR(load_with("MAX_EVENT_BYTES", "-1"),
              "MAX_EVENT_BYTES must be a whole number from 256 to 16777216 (got \"-1\")");
    CHECK_STR(load_with("MAX_EVENT_BYTES", "256k"),
              "MAX_EVENT_BYTES must be a whole number from 256 to 16777216 (got \"256k\")");
}

static void test_hhmm(void)
{
    static const char *const names[] = {"SHIFT_START", "SHIP_CUTOFF"};
    for (int n = 0; n < 2; n++) {
        const char *name = names[n];
        const char *field = n == 0 ? cfg.shift_start : cfg.ship_cutoff;
        static const char *const good[] = {"00:00", "09:30", "23:59", "12:00"};
        for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
            CHECK_STR(load_with(name, good[i]), "ok");
            CHECK_STR(field, good[i]);
        }
        static const char *const bad[] = {"24:00", "08:60", "8:45", "08:455",   "08-45",
                                          "ab:cd", "08:4x", "0845", "08:45:00", "-1:30",
                                          "08:-5", "99:99", ":::::"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            char want[100];
            snprintf(want, sizeof want, "%s must be HH:MM (got \"%s\")", name, bad[i]);
            CHECK_STR(load_with(name, bad[i]), want);
        }
    }
}

static void test_log_level(void)
{
    static const char *const good[] = {"debug", "info", "warn", "error", "DEBUG", "Warn"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        CHECK_STR(load_with("LOG_LEVEL", good[i]), "ok");
        CHECK_STR(cfg.log_level, good[i]);
    }
    CHECK_STR(load_with("LOG_LEVEL", "verbose"),
              "LOG_LEVEL must be debug, info, warn or error (got \"verbose\")");
    CHECK_STR(load_with("LOG_LEVEL", "warning"),
              "LOG_LEVEL must be debug, info, warn or error (got \"warning\")");
    CHECK_STR(load_with("LOG_LEVEL", "critical"), "LOG_LEVEL is too long (at most 7 characters)");
}

/* Runs fn with fd (1 or 2) sent to a temporary file; returns what was written (static). */
static const char *capture(int fd, void (*fn)(void))
{
    static char out[16384];
    char path[] = "/tmp/of_test_config.XXXXXX";
    int tmp = mkstemp(path);
    out[0] = '\0';
    if (tmp < 0)
        return out;
    unlink(path);
    fflush(NULL);
    int saved = dup(fd);
    dup2(tmp, fd);
    fn();
    fflush(NULL);
    dup2(saved, fd);
    close(saved);
    ssize_t n = pread(tmp, out, sizeof out - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(tmp);
    return out;
}

static void log_cfg(void)
{
    of_config_log(&cfg);
}

static void test_config_log(void)
{
    clear_env();
    setenv("DATABASE_URL", "postgresql://app:s3cret@db.internal:5432/orderflow", 1);
    setenv("OPS_WEBHOOK_URL", "https://hooks.example/x?token=abc", 1);
    setenv("RECHARGE_PROVIDER_URL", "https://user:pa:ss@provider.example/api", 1);
    CHECK(of_config_load(&cfg, &err) == 0);
    clear_env();

    of_log_init("test", OF_LOG_DEBUG);
    const char *out = capture(STDERR_FILENO, log_cfg);
    CHECK_HAS(out, "config DATABASE_URL=postgresql://app:***@db.internal:5432/orderflow");
    CHECK(strstr(out, "s3cret") == NULL);
    CHECK_HAS(out, "config RECHARGE_PROVIDER_URL=https://user:***@provider.example/api");
    CHECK(strstr(out, "pa:ss") == NULL);
    CHECK_HAS(out, "config OPS_WEBHOOK_URL=https://hooks.example/x?token=abc");
    CHECK_HAS(out, "config KAFKA_BOOTSTRAP=127.0.0.1:9092");
    CHECK_HAS(out, "config LOCK_WINDOW_S=10");
    CHECK_HAS(out, "config MAX_EVENT_BYTES=262144");
    CHECK_HAS(out, "config SHIFT_START=08:45");
    CHECK_HAS(out, "config loaded: KAFKA_BOOTSTRAP=127.0.0.1:9092 SHOP_TZ=Asia/Shanghai "
                   "HTTP_PORT=8081");
    for (size_t i = 0; i < sizeof all_vars / sizeof all_vars[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "config %s=", all_vars[i]);
        CHECK_HAS(out, want);
    }

    /* at info only the summary line */
    of_log_init("test", OF_LOG_INFO);
    out = capture(STDERR_FILENO, log_cfg);
    CHECK(strstr(out, "config DATABASE_URL") == NULL);
    CHECK_HAS(out, "config loaded:");
}

static void test_help(void)
{
    const char *out = capture(STDOUT_FILENO, of_config_print_help);
    for (size_t i = 0; i < sizeof all_vars / sizeof all_vars[0]; i++)
        CHECK_HAS(out, all_vars[i]);
    CHECK_HAS(out, "(empty)"); /* OPS_WEBHOOK_URL and KAFKA_GROUP_ID have no default */
    CHECK_HAS(out, "262144");
    CHECK_HAS(out, "Largest event accepted");
}

int main(void)
{
    test_defaults();
    test_strings();
    test_numbers();
    test_hhmm();
    test_log_level();
    test_config_log();
    test_help();
    clear_env();
    return TEST_DONE();
}
