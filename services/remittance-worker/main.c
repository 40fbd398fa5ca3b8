/* remittance-worker — applies shop.remittances events (SPEC M1-M8) to PostgreSQL. main()
 * only wires: configuration, the shop's time zone, the note catalogue (M1/M5 notes on shop
 * orders), then the common consumer loop. */
#include "consumer.h"
#include "log.h"
#include "notes.h"
#include "remittance.h"
#include "service.h"
#include "shop_time.h"

int main(int argc, char **argv)
{
    of_config cfg;
    int rc = of_service_init("remittance-worker", argc, argv, &cfg);
    if (rc || argc > 1)
        return rc;
    of_error err;
    if (of_shop_tz_init(cfg.shop_tz, &err) || notes_init(&err)) {
        of_err("%s", err.msg);
        return 1;
    }
    of_consumer_spec spec = {.service = "remittance-worker",
                             .topic = OF_TOPIC_REMITTANCES,
                             .apply = remittance_apply_batch,
                             .ctx = &cfg};
    if (of_consumer_run(&cfg, &spec, &of_stop_requested, &err)) {
        of_err("%s", err.msg);
        return 1;
    }
    return 0;
}
