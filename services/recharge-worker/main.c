/* recharge-worker — direct recharge (SPEC R1-R7). main() only wires: configuration (the
 * common table and recharge_config.h), the shop's time zone, the automated desk on its own
 * thread (desk.h), then the common consumer loop applying shop.recharges (ingest.h). On
 * SIGTERM the loop finishes its batch and the desk drains: calls in flight are committed,
 * leases of the rest are released. */
#include <curl/curl.h>
#include <string.h>

#include "consumer.h"
#include "desk.h"
#include "ingest.h"
#include "log.h"
#include "recharge_config.h"
#include "service.h"
#include "shop_time.h"

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help-config") == 0 || strcmp(argv[i], "--help") == 0) {
            (void)of_service_init("recharge-worker", argc, argv, &(of_config){0});
            rc_config_print_help();
            return 0;
        }
    of_config cfg;
    int rc = of_service_init("recharge-worker", argc, argv, &cfg);
    if (rc || argc > 1)
        return rc;
    of_error err;
    rc_config rcfg;
    if (rc_config_load(&rcfg, &err) || of_shop_tz_init(cfg.shop_tz, &err)) {
        of_err("bad configuration: %s", err.msg);
        return 1;
    }
    rc_config_log(&rcfg);
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread */
    desk *d = NULL;
    if (rcfg.desk) {
        d = desk_start(&cfg, &rcfg, &of_stop_requested, &err);
        if (!d) {
            of_err("%s", err.msg);
            return 1;
        }
    }
    ingest_ctx ctx = {.cfg = &cfg, .rc = &rcfg};
    of_consumer_spec spec = {.service = "recharge-worker",
                             .topic = OF_TOPIC_RECHARGES,
                             .apply = recharge_apply_batch,
                             .ctx = &ctx};
    rc = of_consumer_run(&cfg, &spec, &of_stop_requested, &err);
    if (rc)
        of_err("%s", err.msg);
    desk_stop(d);
    curl_global_cleanup();
    return rc ? 1 : 0;
}
