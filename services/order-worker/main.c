/* order-worker — applies shop.orders events to PostgreSQL (SPEC A0-A21, F1-F4, T1-T2 and
 * the lifecycle). main() only wires: configuration, the shop's time zone, the note
 * catalogue, then the common consumer loop with order-worker's apply function. */
#include "consumer.h"
#include "log.h"
#include "notes.h"
#include "order_apply.h"
#include "service.h"
#include "shop_time.h"

int main(int argc, char **argv)
{
    of_config cfg;
    int rc = of_service_init("order-worker", argc, argv, &cfg);
    if (rc || argc > 1)
        return rc;
    of_error err;
    if (of_shop_tz_init(cfg.shop_tz, &err) || notes_init(&err)) {
        of_err("%s", err.msg);
        return 1;
    }
    of_consumer_spec spec = {.service = "order-worker",
                             .topic = OF_TOPIC_ORDERS,
                             .apply = order_apply_batch,
                             .ctx = &cfg};
    if (of_consumer_run(&cfg, &spec, &of_stop_requested, &err)) {
        of_err("%s", err.msg);
        return 1;
    }
    return 0;
}
