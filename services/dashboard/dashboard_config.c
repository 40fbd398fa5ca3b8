/* dashboard_config.c — the table of the dashboard's own settings (see dashboard_config.h). */
#include "dashboard_config.h"

#include <stddef.h>
#include <string.h>

#include "log.h"
#include "settings.h"

#define DC_STR(f) OF_SETTING_STR(dash_config, f)
#define DC_INT(f) OF_SETTING_INT(dash_config, f)

static const of_setting table[] = {
    {"DASHBOARD_PORT", DC_INT(port), "8080", 1, 65535, "Port of the staff UI and JSON API"},
    {"DASHBOARD_BIND", DC_STR(bind), "127.0.0.1", 0, 0,
     "Address listened on (0.0.0.0 in containers; an IPv6 address works too)"},
    {"DASHBOARD_DB_POOL", DC_INT(db_pool), "8", 1, 256,
     "PostgreSQL connections shared by the request threads"},
    {"DASHBOARD_SESSION_TTL_S", DC_INT(session_ttl_s), "28800", 60, 2592000,
     "How long a login lasts (seconds)"},
    {"DASHBOARD_COOKIE_SECURE", DC_INT(cookie_secure), "0", 0, 1,
     "1: the session cookie is sent over HTTPS only (set behind a TLS proxy)"},
    {"DASHBOARD_WWW_DIR", DC_STR(www_dir), "", 0, 0,
     "Serve the front end from this folder instead of the files built into the binary"},
    {"DASHBOARD_ACTION_WAIT_MS", DC_INT(action_wait_ms), "5000", 0, 60000,
     "How long an action waits for its published event's outcome before answering pending"},
    {"DASHBOARD_LIVE_POLL_MS", DC_INT(live_poll_ms), "250", 20, 60000,
     "How often the live-updates poller looks for changes (one query for all clients)"},
};

int dash_config_load(dash_config *cfg, of_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    return of_settings_load(table, sizeof table / sizeof table[0], cfg, err);
}

void dash_config_log(const dash_config *cfg)
{
    of_info("dashboard config: port=%d bind=%s db_pool=%d session_ttl_s=%d cookie_secure=%d "
            "www_dir=%s action_wait_ms=%d live_poll_ms=%d",
            cfg->port, cfg->bind, cfg->db_pool, cfg->session_ttl_s, cfg->cookie_secure,
            cfg->www_dir[0] ? cfg->www_dir : "(embedded)", cfg->action_wait_ms, cfg->live_poll_ms);
}

void dash_config_print_help(void)
{
    of_settings_print_help(table, sizeof table / sizeof table[0], 12);
}
