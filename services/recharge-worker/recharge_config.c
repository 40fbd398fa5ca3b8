/* recharge_config.c — the table of recharge-worker's own settings (see recharge_config.h). */
#include "recharge_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "settings.h"

#define RC_STR(f) OF_SETTING_STR(rc_config, f)
#define RC_INT(f) OF_SETTING_INT(rc_config, f)

static const of_setting table[] = {
    {"RECHARGE_PROCESSOR_NAME", RC_STR(processor), "", 0, 0,
     "This process's processor name in processors/recharges_v (default <hostname>-<pid>)"},
    {"RECHARGE_DESK", RC_INT(desk), "1", 0, 1,
     "1: run the automated desk (lease, call the provider); 0: only ingest shop.recharges"},
    {"RECHARGE_CONCURRENCY", RC_INT(concurrency), "256", 1, 10000,
     "Most orders leased, and provider calls in flight, at once"},
    {"RECHARGE_PRODUCTS", RC_STR(products),
     "mobile-10,mobile-20,mobile-30,mobile-50,mobile-100,mobile-200,mobile-300,mobile-500", 0, 0,
     "Known products, comma-separated; recharge.requested for another is dead-lettered; * = any"},
    {"RECHARGE_CALL_TIMEOUT_MS", RC_INT(call_timeout_ms), "5000", 100, 600000,
     "Time-out of one provider call; a time-out is an unknown outcome (R4: suspended)"},
    {"RECHARGE_IDLE_POLL_MS", RC_INT(idle_poll_ms), "100", 1, 100,
     "Queue poll interval when idle (an expired lease is re-taken within this)"},
    {"RECHARGE_TICK_MS", RC_INT(tick_ms), "5", 0, 100,
     "Shortest time between two desk rounds when busy (results are committed in batches)"},
    {"RECHARGE_PENDING_MAX_S", RC_INT(pending_max_s), "30", 1, 3600,
     "A provider answer of pending for longer suspends the order (R4)"},
    {"RECHARGE_PENDING_POLL_MS", RC_INT(pending_poll_ms), "1000", 50, 60000,
     "Status query interval while the provider says pending"},
    {"RECHARGE_HEARTBEAT_S", RC_INT(heartbeat_s), "5", 1, 300,
     "Processor heartbeat interval (R5 readiness)"},
    {"RECHARGE_NEXT_LOCK_GAP_S", RC_INT(gap_s), "10", 1, 3600,
     "R2: longest gap between finishing an order and locking the next while orders wait"},
    {"RECHARGE_ALERT_POLL_MS", RC_INT(alert_poll_ms), "200", 10, 10000,
     "How often the alert outbox is checked for recharge alerts to send (R4: within 1 s)"},
    {"RECHARGE_WEBHOOK_TIMEOUT_MS", RC_INT(webhook_timeout_ms), "2000", 100, 60000,
     "Time-out of one webhook POST (failures are retried with backoff)"},
    {"RECHARGE_EXPECTED", RC_INT(expected), "0", 0, 1,
     "1: this processor must be online by SHIFT_START (R5 breach per missing processor)"},
};

int rc_config_load(rc_config *cfg, of_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    if (of_settings_load(table, sizeof table / sizeof table[0], cfg, err))
        return -1;
    if (!cfg->processor[0]) {
        char host[64] = "";
        if (gethostname(host, sizeof host - 1) != 0 || !host[0])
            snprintf(host, sizeof host, "recharge");
        snprintf(cfg->processor, sizeof cfg->processor, "%s-%ld", host, (long)getpid());
    }
    return 0;
}

void rc_config_log(const rc_config *cfg)
{
    of_info("recharge config: processor=%s desk=%d concurrency=%d call_timeout_ms=%d "
            "idle_poll_ms=%d pending_max_s=%d heartbeat_s=%d products=%s",
            cfg->processor, cfg->desk, cfg->concurrency, cfg->call_timeout_ms, cfg->idle_poll_ms,
            cfg->pending_max_s, cfg->heartbeat_s, cfg->products);
}

void rc_config_print_help(void)
{
    of_settings_print_help(table, sizeof table / sizeof table[0], 52);
}

bool rc_product_known(const rc_config *cfg, const char *product)
{
    size_t n = strlen(product);
    for (const char *p = cfg->products; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *last = end;
        while (last > p && last[-1] == ' ')
            last--;
        size_t len = (size_t)(last - p);
        if ((len == 1 && *p == '*') || (len == n && len && memcmp(p, product, n) == 0))
            return true;
        p = end;
    }
    return false;
}
