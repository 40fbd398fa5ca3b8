/* order-worker — applies shop.orders events to PostgreSQL. main() only wires: configuration,
 * then the common consumer loop with order-worker's apply function. */
#include "consumer.h"
#include "log.h"
#include "order_apply.h"
#include "service.h"

int main(int argc, char **argv)
{
    of_config cfg;
    int rc = of_service_init("order-worker", argc, argv, &cfg);
    if (rc || argc > 1)
        return rc;
    of_consumer_spec spec = {.service = "order-worker",
                             .topic = OF_TOPIC_ORDERS,
                             .apply = order_apply_batch,
                             .ctx = &cfg};
    of_error err;
    if (of_consumer_run(&cfg, &spec, &of_stop_requested, &err)) {
        of_err("%s", err.msg);
        return 1;
    }
    return 0;
}
