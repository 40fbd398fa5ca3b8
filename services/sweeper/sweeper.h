/* sweeper.h — the janitor: one loop that, every SWEEP_INTERVAL_MS, runs each timed rule of
 * deadlines.c (each bounded by SWEEP_LIMIT rows) and delivers the alert outbox. Safe to run
 * as several replicas: the database coordinates them. */
#ifndef SWEEPER_H
#define SWEEPER_H

#include <signal.h>

#include "config.h"

int sweeper_run(const of_config *cfg, volatile sig_atomic_t *stop, of_error *err);

#endif
