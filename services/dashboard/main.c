/* orderflow-dashboard — the staff dashboard (issue 6): the browser UI and its JSON API.
 * main() only wires, in this order: configuration (the common table and
 * dashboard_config.h), the shop's time zone and note catalogue, the password check's dummy
 * hash, the database pool, the front end's files, /healthz /readyz /metrics, the live-updates
 * poller, then the HTTP server. On SIGTERM: stop accepting, finish the requests in flight,
 * end the live streams, flush the producer, exit 0. */
#include <string.h>
#include <time.h>

#include "app.h"
#include "auth.h"
#include "health.h"
#include "log.h"
#include "notes.h"
#include "server.h"
#include "service.h"
#include "shop_time.h"
#include "sse.h"
#include "static.h"

#define SHUTDOWN_GRACE_S 25

static bool ready(void *ctx, char *reason, size_t reasonsz)
{
    (void)ctx;
    if (dash_live_db_ok())
        return true;
    snprintf(reason, reasonsz, "PostgreSQL is unreachable");
    return false;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help-config") == 0 || strcmp(argv[i], "--help") == 0) {
            (void)of_service_init("dashboard", argc, argv, &(of_config){0});
            dash_config_print_help();
            return 0;
        }
    static dash_app app;
    int rc = of_service_init("dashboard", argc, argv, &app.cfg);
    if (rc || argc > 1)
        return rc;
    of_error err;
    if (dash_config_load(&app.dcfg, &err) || of_shop_tz_init(app.cfg.shop_tz, &err) ||
        notes_init(&err)) {
        of_err("bad configuration: %s", err.msg);
        return 1;
    }
    dash_config_log(&app.dcfg);
    if (dash_auth_setup(&err) || dash_static_setup(app.dcfg.www_dir, &err)) {
        of_err("%s", err.msg);
        return 1;
    }
    app.pool =
        dash_pool_new(app.cfg.database_url, app.dcfg.db_pool, app.cfg.db_statement_timeout_ms);
    if (!app.pool) {
        of_err("out of memory");
        return 1;
    }
    of_health *health = NULL;
    if (app.cfg.http_port && !(health = of_health_start(app.cfg.http_port, ready, &app, &err))) {
        of_err("%s", err.msg);
        dash_pool_free(app.pool);
        return 1;
    }
    dash_server *server = NULL;
    if (dash_live_start(&app, &err) || !(server = dash_server_start(&app, &err))) {
        of_err("%s", err.msg);
        dash_live_stop();
        of_health_stop(health);
        dash_pool_free(app.pool);
        return 1;
    }
    while (!of_stop_requested) {
        of_health_beat();
        struct timespec ms100 = {0, 100 * 1000000L};
        nanosleep(&ms100, NULL);
    }
    of_info("stopping: finishing the requests in flight");
    dash_server_stop(server, SHUTDOWN_GRACE_S);
    dash_live_stop();
    dash_app_close(&app);
    of_health_stop(health);
    dash_pool_free(app.pool);
    of_info("stopped");
    return 0;
}
