/* test_metrics.c — the Prometheus registry (common/metrics.c): counters, gauges and
 * histograms and their text exposition (HELP/TYPE once per name, labels, cumulative buckets,
 * +Inf, _sum and _count). The registry is process-wide, so every test uses its own names. */
#include <stdlib.h>

#include "metrics.h"
#include "of_test.h"

/* How many times needle occurs in hay. */
static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* The value on the sample line that starts with `series ` (a number, or -1 when absent). */
static double sample(const char *text, const char *series)
{
    size_t len = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, series, len) == 0 && p[len] == ' ')
            return strtod(p + len + 1, NULL);
    }
    return -1;
}

/* Every line is a comment or "series value", and ends with a newline. */
static int well_formed(const char *text)
{
    size_t n = strlen(text);
    if (n == 0 || text[n - 1] != '\n')
        return 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        if (*p != '#') {
            const char *sp = memchr(p, ' ', (size_t)(nl - p));
            char *end;
            if (!sp)
                return 0;
            strtod(sp + 1, &end);
            if (end != nl)
                return 0;
        }
        p = nl + 1;
    }
    return 1;
}

static void test_counters_and_gauges(void)
{
    of_metric *c = of_counter("t_events_total", "Events seen", NULL);
    of_metric *ca = of_counter("t_labelled_total", "Events by topic", "topic=\"shop.orders\"");
    of_metric *cb = of_counter("t_labelled_total", "Events by topic", "topic=\"shop.recharges\"");
    of_metric *g = of_gauge("t_up", "1 when up", NULL);
    of_metric *gl = of_gauge("t_assigned", "Partitions", "group=\"g\",topic=\"t\"");

    CHECK(of_metric_value(c) == 0);
    of_metric_add(c, 1);
    of_metric_add(c, 2);
    CHECK(of_metric_value(c) == 3);
    of_metric_add(ca, 5);
    of_metric_add(cb, 0.5);
    of_metric_set(g, 1);
    of_metric_set(g, 0);
    of_metric_add(g, 1);
    of_metric_set(gl, 4);
    of_metric_add(gl, -1);
    CHECK(of_metric_value(g) == 1);
    CHECK(of_metric_value(gl) == 3);

    char *text = of_metrics_render();
    CHECK(text != NULL);
    if (!text)
        return;
    CHECK(well_formed(text));
    CHECK_HAS(text, "# HELP t_events_total Events seen\n# TYPE t_events_total counter\n"
                    "t_events_total 3\n");
    CHECK_HAS(text, "# HELP t_labelled_total Events by topic\n"
                    "# TYPE t_labelled_total counter\n"
                    "t_labelled_total{topic=\"shop.orders\"} 5\n"
                    "t_labelled_total{topic=\"shop.recharges\"} 0.5\n");
    CHECK(count(text, "# HELP t_labelled_total ") == 1);
    CHECK(count(text, "# TYPE t_labelled_total ") == 1);
    CHECK_HAS(text, "# TYPE t_up gauge\nt_up 1\n");
    CHECK_HAS(text, "# TYPE t_assigned gauge\nt_assigned{group=\"g\",topic=\"t\"} 3\n");
    free(text);
}

static void test_histograms(void)
{
    static const double bounds[] = {0.1, 1, 10};
    of_metric *h = of_histogram("t_seconds", "Time taken", NULL, bounds, 3);
    of_metric *hl = of_histogram("t_lat_seconds", "Latency", "topic=\"a\"", bounds, 3);
    of_metric *hl2 = of_histogram("t_lat_seconds", "Latency", "topic=\"b\"", bounds, 3);

    const double obs[] = {0.05, 0.1 /* on the bound: le is inclusive */, 0.5, 5, 50};
    for (size_t i = 0; i < 5; i++)
        of_metric_observe(h, obs[i]);
    of_metric_observe(hl, 2);
    (void)hl2; /* never observed: all zero */

    char *text = of_metrics_render();
    CHECK(text != NULL);
    if (!text)
        return;
    CHECK(well_formed(text));
    CHECK_HAS(text, "# HELP t_seconds Time taken\n# TYPE t_seconds histogram\n"
                    "t_seconds_bucket{le=\"0.1\"} 2\n"
                    "t_seconds_bucket{le=\"1\"} 3\n"
                    "t_seconds_bucket{le=\"10\"} 4\n"
                    "t_seconds_bucket{le=\"+Inf\"} 5\n"
                    "t_seconds_sum ");
    CHECK(sample(text, "t_seconds_sum") == 0.05 + 0.1 + 0.5 + 5 + 50);
    CHECK(sample(text, "t_seconds_count") == 5);

    CHECK_HAS(text, "# TYPE t_lat_seconds histogram\n"
                    "t_lat_seconds_bucket{topic=\"a\",le=\"0.1\"} 0\n"
                    "t_lat_seconds_bucket{topic=\"a\",le=\"1\"} 0\n"
                    "t_lat_seconds_bucket{topic=\"a\",le=\"10\"} 1\n"
                    "t_lat_seconds_bucket{topic=\"a\",le=\"+Inf\"} 1\n"
                    "t_lat_seconds_sum{topic=\"a\"} 2\n"
                    "t_lat_seconds_count{topic=\"a\"} 1\n"
                    "t_lat_seconds_bucket{topic=\"b\",le=\"0.1\"} 0\n");
    CHECK_HAS(text, "t_lat_seconds_bucket{topic=\"b\",le=\"+Inf\"} 0\n"
                    "t_lat_seconds_sum{topic=\"b\"} 0\n"
                    "t_lat_seconds_count{topic=\"b\"} 0\n");
    CHECK(count(text, "# TYPE t_lat_seconds ") == 1);
    CHECK(count(text, "# HELP t_lat_seconds ") == 1);
    free(text);

    /* at most 16 bounds are kept; the default latency buckets */
    double many[20];
    for (int i = 0; i < 20; i++)
        many[i] = i + 1;
    of_metric *hm = of_histogram("t_many", "Many buckets", NULL, many, 20);
    of_metric_observe(hm, 100);
    of_metric_observe(hm, 16);
    CHECK(of_latency_bucket_count == 12);
    for (size_t i = 1; i < of_latency_bucket_count; i++)
        CHECK(of_latency_buckets[i] > of_latency_buckets[i - 1]);
    CHECK(of_latency_buckets[0] == 0.001 && of_latency_buckets[11] == 10);
    of_metric *hd = of_histogram("t_default", "Default buckets", NULL, of_latency_buckets,
                                 of_latency_bucket_count);
    of_metric_observe(hd, 0.003);
    text = of_metrics_render();
    CHECK(text != NULL);
    if (!text)
        return;
    CHECK(count(text, "t_many_bucket{") == 17);
    CHECK_HAS(text, "t_many_bucket{le=\"15\"} 0\nt_many_bucket{le=\"16\"} 1\n"
                    "t_many_bucket{le=\"+Inf\"} 2\n");
    CHECK(strstr(text, "le=\"17\"") == NULL);
    CHECK(count(text, "t_default_bucket{") == 13);
    CHECK_HAS(text, "t_default_bucket{le=\"0.001\"} 0\nt_default_bucket{le=\"0.005\"} 1\n");
    CHECK_HAS(text, "t_default_bucket{le=\"10\"} 1\nt_default_bucket{le=\"+Inf\"} 1\n");
    free(text);
}

/* Enough series that the text outgrows its first buffer. */
static void test_large(void)
{
    char name[64], labels[64];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "t_big_%03d_total", i);
        snprintf(labels, sizeof labels, "shard=\"%d\"", i);
        of_metric_add(
            of_counter(name, "A counter among many, with a long help text to fill", labels), i);
    }
    char *text = of_metrics_render();
    CHECK(text && strlen(text) > 8192);
    CHECK(text && well_formed(text));
    CHECK(text && sample(text, "t_big_299_total{shard=\"299\"}") == 299);
    CHECK(text && sample(text, "t_big_000_total{shard=\"0\"}") == 0);
    free(text);
}

int main(void)
{
    test_counters_and_gauges();
    test_histograms();
    test_large();
    return TEST_DONE();
}
