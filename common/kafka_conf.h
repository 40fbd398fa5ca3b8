/* kafka_conf.h — librdkafka configuration from the environment: KAFKA_BOOTSTRAP becomes
 * bootstrap.servers and every other KAFKA_<NAME> variable (except KAFKA_GROUP_ID) passes
 * through as the property <name> lower-cased with '_' read as '.', e.g.
 * KAFKA_SECURITY_PROTOCOL=SASL_SSL -> security.protocol=SASL_SSL. Names librdkafka does not
 * know (KAFKA_PORT from a Kubernetes service link, say) are logged and skipped. */
#ifndef OF_KAFKA_CONF_H
#define OF_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "of_error.h"

/* A new conf: bootstrap.servers, then defaults (name, value pairs ending with NULL; may be
 * NULL), then the environment's pass-through properties, which win. NULL with err when
 * librdkafka refuses a property. */
rd_kafka_conf_t *of_kafka_conf_new(const of_config *cfg, const char *const *defaults,
                                   of_error *err);

/* Sets one property or fails with librdkafka's reason. */
int of_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                      of_error *err) OF_MUST_CHECK;

typedef void (*of_delivery_fn)(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

/* A producer: of_kafka_conf_new's configuration with these defaults, delivery reports to dr
 * (may be NULL) with opaque. NULL with err naming `what` ("the alert producer") when
 * librdkafka refuses. */
rd_kafka_t *of_producer_new(const of_config *cfg, const char *const *defaults, of_delivery_fn dr,
                            void *opaque, const char *what, of_error *err);

#endif
