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
    /* Two threads allocate (the consumer loop and the batch decoder, started per batch),
     * rarely at the same moment: one malloc arena, not one per thread, and buffers of
     * 128 KiB or more (statement arguments, COPY rows, results) mapped and unmapped on
     * their own rather than kept in the heap, hold the worker's peak RSS under 64 MiB
     * (tests/bench/run: 66.6 MiB with two arenas and the default threshold, 62.4 MiB with
     * these, at the same rate). */
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
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
