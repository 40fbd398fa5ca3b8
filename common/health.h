/* health.h — the small HTTP endpoint every service runs (libmicrohttpd, its own thread):
 *   GET /healthz  200 while the process is alive and its main loop turns
 *   GET /readyz   200 when the service can do its work (PostgreSQL and Kafka reachable),
 *                 503 with a JSON reason otherwise
 *   GET /metrics  Prometheus text format (metrics.h) */
#ifndef OF_HEALTH_H
#define OF_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include "of_error.h"

/* Fills reason (when not ready) and returns whether the service is ready. Called from the
 * HTTP thread. */
typedef bool (*of_ready_fn)(void *ctx, char *reason, size_t reasonsz);

typedef struct of_health of_health;

/* port 0 disables the endpoint (returns NULL without error). */
of_health *of_health_start(int port, of_ready_fn ready, void *ctx, of_error *err);
void of_health_stop(of_health *h); /* NULL allowed */

/* The main loop calls this each turn; /healthz fails when it has not been called for 60 s. */
void of_health_beat(void);

#endif
