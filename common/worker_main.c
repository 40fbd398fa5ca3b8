/* worker_main.c — the start-up every consumer worker shares (see worker_main.h). */
#include "worker_main.h"

#include "log.h"
#include "notes.h"
#include "service.h"
#include "shop_time.h"

/* The workers are linked with jemalloc (their CMakeLists; not in sanitizer or fuzz builds,
 * where this string is unused): glibc malloc took a quarter of order-worker's CPU, in
 * small allocations and frees of JSON values, and its one shared arena made the consumer
 * loop and the batch decoder wait on each other's lock. jemalloc reads this at start-up:
 * one arena (threads keep their own caches) and freed pages given back within a second
 * keep the worker under its 64 MiB target (tests/bench/run). MALLOC_CONF in the
 * environment still overrides it. */
const char *malloc_conf = "narenas:1,dirty_decay_ms:1000,muzzy_decay_ms:0";

int of_worker_main(int argc, char **argv, const char *service, const char *topic, of_apply_fn apply,
                   int lanes)
{
    of_config cfg;
    int rc = of_service_init(service, argc, argv, &cfg);
    if (rc || argc > 1)
        return rc;
    of_error err;
    if (of_shop_tz_init(cfg.shop_tz, &err) || notes_init(&err)) {
        of_err("%s", err.msg);
        return 1;
    }
    of_consumer_spec spec = {
        .service = service, .topic = topic, .apply = apply, .ctx = &cfg, .lanes = lanes};
    if (of_consumer_run(&cfg, &spec, &of_stop_requested, &err)) {
        of_err("%s", err.msg);
        return 1;
    }
    return 0;
}
