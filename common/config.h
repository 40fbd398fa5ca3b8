/* config.h — the configuration of every service, read once from the environment at start
 * (SPEC §8). One table in config.c lists each variable with its type, default and meaning;
 * `--help-config` of any service prints it, and the values in force are logged at start. */
#ifndef OF_CONFIG_H
#define OF_CONFIG_H

#include <stddef.h>
#include "of_error.h"

typedef struct of_config {
    char kafka_bootstrap[256];
    char database_url[512];
    char recharge_provider_url[512];
    char ops_webhook_url[512];
    int lock_window_s;
    int result_window_s;
    char shift_start[8];
    char shop_tz[64];
    int remittance_verify_days;
    char ship_cutoff[8]; /* T1: paid before this local time ships the same day */
    int refund_after_h;  /* T2: hours after payment a refund may be applied for */
    /* operational knobs */
    char log_level[8];
    int http_port;          /* /healthz /readyz /metrics; 0 = off */
    char group_id[128];     /* consumer group; empty = service default */
    size_t max_event_bytes; /* larger messages are dead-lettered */
    int batch_max;          /* events applied in one transaction */
    int batch_linger_ms;    /* how long a batch waits to fill */
    int consumer_lanes;     /* consumers (threads, sessions) per worker; 0: the service's */
    int db_statement_timeout_ms;
    int sweep_interval_ms; /* sweeper: one cycle of every timed rule */
    int sweep_limit;       /* sweeper: rows one rule handles per cycle */
} of_config;

/* Fills cfg from the environment (defaults where unset). Returns -1 with a message naming
 * the variable on an invalid value. */
int of_config_load(of_config *cfg, of_error *err) OF_MUST_CHECK;

/* Logs every value in force (secrets in URLs masked). */
void of_config_log(const of_config *cfg);

/* Prints the table (name, default, meaning) to stdout. */
void of_config_print_help(void);

#endif
