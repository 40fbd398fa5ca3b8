/* metrics.h — the process's Prometheus metrics: counters, gauges and histograms created at
 * start-up and rendered in the text exposition format by /metrics (health.c). Updates are
 * thread-safe; they are made per batch, not per event, so one lock suffices. */
#ifndef OF_METRICS_H
#define OF_METRICS_H

#include <stddef.h>

typedef struct of_metric of_metric;

/* labels: NULL or a Prometheus label list without braces, e.g. "topic=\"shop.orders\"".
 * Metrics sharing a name share one HELP/TYPE header. The returned handle lives until exit. */
of_metric *of_counter(const char *name, const char *help, const char *labels);
of_metric *of_gauge(const char *name, const char *help, const char *labels);
/* bounds: ascending upper bounds (seconds for latency), +Inf is implied; at most 16. */
of_metric *of_histogram(const char *name, const char *help, const char *labels,
                        const double *bounds, size_t nbounds);

void of_metric_add(of_metric *m, double v);     /* counter or gauge */
void of_metric_set(of_metric *m, double v);     /* gauge */
void of_metric_observe(of_metric *m, double v); /* histogram */
double of_metric_value(const of_metric *m);     /* counter or gauge, for tests */

/* The exposition text; the caller frees it. */
char *of_metrics_render(void);

/* Default latency buckets in seconds: 1 ms … 10 s. */
extern const double of_latency_buckets[];
extern const size_t of_latency_bucket_count;

#endif
