/* recharge_config.h — recharge-worker's own settings, beside the common ones (config.h: the
 * provider and webhook URLs, LOCK_WINDOW_S, RESULT_WINDOW_S, SHIFT_START, SHOP_TZ). Read
 * once from the environment at start, validated, logged; `--help-config` prints them.
 * One table in recharge_config.c lists each with its default and meaning. */
#ifndef RECHARGE_CONFIG_H
#define RECHARGE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "of_error.h"

typedef struct rc_config {
    char processor[128]; /* this process's processor name (default <hostname>-<pid>) */
    int desk;            /* 1: run the automated desk; 0: ingest only */
    int concurrency;     /* orders leased (and provider calls in flight) at most */
    char products[4096]; /* known products, comma-separated; "*" accepts any */
    int call_timeout_ms; /* one provider call; a time-out is "unknown" (suspends) */
    int idle_poll_ms;    /* queue poll interval when idle (R1: re-take within 10 s + 0.5 s) */
    int tick_ms;         /* shortest time between two rounds of the desk when busy */
    int pending_max_s;   /* "pending" longer than this suspends the order */
    int pending_poll_ms; /* status query interval while the provider says pending */
    int heartbeat_s;     /* processors.last_heartbeat_at interval (R5) */
    int gap_s;           /* R2: next-lock gap limit */
    int alert_poll_ms;   /* how often the alert outbox is checked for recharge alerts */
    int webhook_timeout_ms;
    int expected; /* R5: this processor must be online by the shift start */
} rc_config;

/* Fills cfg from the environment; -1 with a message naming the variable. */
int rc_config_load(rc_config *cfg, of_error *err) OF_MUST_CHECK;
void rc_config_log(const rc_config *cfg);
void rc_config_print_help(void);

/* Whether product is in the list ("*" = any). */
bool rc_product_known(const rc_config *cfg, const char *product);

#endif
