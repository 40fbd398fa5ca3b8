/* worker_main.h — the whole main() of a consumer worker: configuration, the shop's time
 * zone, the note catalogue, then the common consumer loop with the worker's apply function
 * (its context is the configuration). A worker's main.c is one call. */
#ifndef OF_WORKER_MAIN_H
#define OF_WORKER_MAIN_H

#include "consumer.h"

/* Returns the process exit code. */
int of_worker_main(int argc, char **argv, const char *service, const char *topic, of_apply_fn apply,
                   int lanes);

#endif
