/* metrics.c — Prometheus metric registry (see metrics.h). */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { M_COUNTER, M_GAUGE, M_HISTOGRAM } metric_kind;

struct of_metric {
    metric_kind kind;
    char name[96];
    char help[200];
    char labels[160];
    double value;
    double bounds[16];
    unsigned long long buckets[17];
    size_t nbounds;
    double sum;
    unsigned long long count;
    struct of_metric *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static of_metric *head, *tail;

const double of_latency_buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                     0.25,  0.5,   1,    2.5,   5,    10};
const size_t of_latency_bucket_count = sizeof of_latency_buckets / sizeof of_latency_buckets[0];

static of_metric *metric_new(metric_kind kind, const char *name, const char *help,
                             const char *labels)
{
    of_metric *m = calloc(1, sizeof *m);
    if (!m)
        abort(); /* start-up only */
    m->kind = kind;
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->help, sizeof m->help, "%s", help);
    snprintf(m->labels, sizeof m->labels, "%s", labels ? labels : "");
    pthread_mutex_lock(&lock);
    if (tail)
        tail->next = m;
    else
        head = m;
    tail = m;
    pthread_mutex_unlock(&lock);
    return m;
}

of_metric *of_counter(const char *name, const char *help, const char *labels)
{
    return metric_new(M_COUNTER, name, help, labels);
}

of_metric *of_gauge(const char *name, const char *help, const char *labels)
{
    return metric_new(M_GAUGE, name, help, labels);
}

of_metric *of_histogram(const char *name, const char *help, const char *labels,
                        const double *bounds, size_t nbounds)
{
    of_metric *m = metric_new(M_HISTOGRAM, name, help, labels);
    m->nbounds = nbounds > 16 ? 16 : nbounds;
    memcpy(m->bounds, bounds, m->nbounds * sizeof *bounds);
    return m;
}

void of_metric_add(of_metric *m, double v)
{
    pthread_mutex_lock(&lock);
    m->value += v;
    pthread_mutex_unlock(&lock);
}

void of_metric_set(of_metric *m, double v)
{
    pthread_mutex_lock(&lock);
    m->value = v;
    pthread_mutex_unlock(&lock);
}

void of_metric_observe(of_metric *m, double v)
{
    pthread_mutex_lock(&lock);
    size_t i = 0;
    while (i < m->nbounds && v > m->bounds[i])
        i++;
    m->buckets[i]++;
    m->sum += v;
    m->count++;
    pthread_mutex_unlock(&lock);
}

double of_metric_value(const of_metric *m)
{
    pthread_mutex_lock(&lock);
    double v = m->value;
    pthread_mutex_unlock(&lock);
    return v;
}

typedef struct strbuf {
    char *p;
    size_t len, cap;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 8192;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np)
            return;
        b->p = np;
        b->cap = cap;
    }
}

static const char *sep(const of_metric *m)
{
    return m->labels[0] ? "," : "";
}

static void render_series(strbuf *b, const of_metric *m)
{
    const char *open = m->labels[0] ? "{" : "", *close = m->labels[0] ? "}" : "";
    if (m->kind != M_HISTOGRAM) {
        sb_printf(b, "%s%s%s%s %.17g\n", m->name, open, m->labels, close, m->value);
        return;
    }
    unsigned long long cum = 0;
    for (size_t i = 0; i <= m->nbounds; i++) {
        cum += m->buckets[i];
        if (i < m->nbounds)
            sb_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", m->name, m->labels, sep(m),
                      m->bounds[i], cum);
        else
            sb_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", m->name, m->labels, sep(m), cum);
    }
    sb_printf(b, "%s_sum%s%s%s %.17g\n%s_count%s%s%s %llu\n", m->name, open, m->labels, close,
              m->sum, m->name, open, m->labels, close, m->count);
}

char *of_metrics_render(void)
{
    strbuf b = {0};
    sb_printf(&b, "%s", "");
    pthread_mutex_lock(&lock);
    /* each name once, in order of first registration, with all its series together */
    for (of_metric *n = head; n; n = n->next) {
        int seen = 0;
        for (of_metric *o = head; o != n && !seen; o = o->next)
            seen = strcmp(o->name, n->name) == 0;
        if (seen)
            continue;
        sb_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", n->name, n->help, n->name,
                  n->kind == M_COUNTER ? "counter"
                  : n->kind == M_GAUGE ? "gauge"
                                       : "histogram");
        for (const of_metric *m = n; m; m = m->next)
            if (strcmp(m->name, n->name) == 0)
                render_series(&b, m);
    }
    pthread_mutex_unlock(&lock);
    return b.p;
}
