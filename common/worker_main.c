/* worker_main.c — the start-up every consumer worker shares (see worker_main.h). */
#include "worker_main.h"

#include <malloc.h>

#include "log.h"
#include "notes.h"
#include "service.h"
#include "shop_time.h"

int of_worker_main(int argc, char **argv, const char *service, const char *topic, of_apply_fn apply)
{
    of_config cfg;
    int rc = of_service_init(service, argc, argv, &cfg);
    if (rc || argc > 1)
        return rc;
    /* Two threads allocate (the consumer loop and the batch decoder, started per batch):
     * two malloc arenas, not one per thread that ever ran, keep the RSS target (64 MiB). */
    mallopt(M_ARENA_MAX, 2);
    of_error err;
    if (of_shop_tz_init(cfg.shop_tz, &err) || notes_init(&err)) {
        of_err("%s", err.msg);
        return 1;
    }
    of_consumer_spec spec = {.service = service, .topic = topic, .apply = apply, .ctx = &cfg};
    if (of_consumer_run(&cfg, &spec, &of_stop_requested, &err)) {
        of_err("%s", err.msg);
        return 1;
    }
    return 0;
}
