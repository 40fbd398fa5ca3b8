/* dashboard_config.h — the dashboard's own settings (DASHBOARD_*), beside the common ones
 * (config.h: DATABASE_URL, KAFKA_BOOTSTRAP, SHOP_TZ, LOCK_WINDOW_S, HTTP_PORT…). Read once
 * from the environment at start, validated, logged; `--help-config` prints them. One table
 * in dashboard_config.c lists each with its default and meaning. */
#ifndef DASHBOARD_CONFIG_H
#define DASHBOARD_CONFIG_H

#include "of_error.h"

typedef struct dash_config {
    int port;           /* DASHBOARD_PORT: the UI and JSON API */
    char bind[64];      /* DASHBOARD_BIND: the address listened on */
    int db_pool;        /* DASHBOARD_DB_POOL: PostgreSQL connections shared by requests */
    int session_ttl_s;  /* DASHBOARD_SESSION_TTL_S: a login lasts this long */
    int cookie_secure;  /* DASHBOARD_COOKIE_SECURE: 1 = the cookie only over HTTPS */
    char www_dir[512];  /* DASHBOARD_WWW_DIR: "" = the embedded front end */
    int action_wait_ms; /* DASHBOARD_ACTION_WAIT_MS: wait for a published action's outcome */
    int live_poll_ms;   /* DASHBOARD_LIVE_POLL_MS: live-updates poll interval */
} dash_config;

/* Fills cfg from the environment; -1 with a message naming the variable. */
int dash_config_load(dash_config *cfg, of_error *err) OF_MUST_CHECK;
void dash_config_log(const dash_config *cfg);
void dash_config_print_help(void);

#endif
