/* app.c — the process-wide parts a request may need besides its database connection: the
 * Kafka producer through which actions are published, created on first use so the dashboard
 * runs (read-only) without Kafka. */
#include <pthread.h>

#include "app.h"
#include "kafka_conf.h"
#include "log.h"

static pthread_mutex_t producer_mu = PTHREAD_MUTEX_INITIALIZER;

rd_kafka_t *dash_app_producer(dash_app *app, of_error *err)
{
    pthread_mutex_lock(&producer_mu);
    if (!app->producer) {
        if (!app->cfg.kafka_bootstrap[0]) {
            pthread_mutex_unlock(&producer_mu);
            of_error_set(err, "Kafka is not configured (KAFKA_BOOTSTRAP is empty)");
            return NULL;
        }
        static const char *const defaults[] = {"enable.idempotence", "true", "linger.ms", "0",
                                               NULL};
        app->producer =
            of_producer_new(&app->cfg, defaults, NULL, NULL, "the dashboard's producer", err);
    }
    rd_kafka_t *rk = app->producer;
    pthread_mutex_unlock(&producer_mu);
    return rk;
}

void dash_app_close(dash_app *app)
{
    pthread_mutex_lock(&producer_mu);
    rd_kafka_t *rk = app->producer;
    app->producer = NULL;
    pthread_mutex_unlock(&producer_mu);
    if (!rk)
        return;
    if (rd_kafka_flush(rk, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        of_warn("%d dashboard events were not delivered to Kafka before exit",
                rd_kafka_outq_len(rk));
    rd_kafka_destroy(rk);
}
