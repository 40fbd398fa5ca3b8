/* orderflow-publish — a shop's tool: validates the events of a JSON Lines file against the
 * published contract and publishes them to their topics (key = subject), in structured or
 * binary CloudEvents mode. A file with a bad line is reported line by line and nothing of
 * it is published, unless --skip-bad publishes the good lines only.
 *
 *   orderflow-publish [--binary] [--skip-bad] [--check] [--rate N] FILE|-            */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event.h"
#include "kafka_conf.h"
#include "log.h"
#include "service.h"

typedef struct line {
    char *text;
    size_t len;
    long lineno;
} line;

typedef struct options {
    int binary, skip_bad, check;
    double rate;
    const char *path;
} options;

static atomic_long delivery_failures;

static void usage(void)
{
    fprintf(stderr, "usage: orderflow-publish [--binary] [--skip-bad] [--check] [--rate N] FILE|-\n"
                    "  --binary    publish in binary mode (ce_* headers, value = data)\n"
                    "  --skip-bad  publish the valid lines even when some are bad\n"
                    "  --check     validate only, publish nothing\n"
                    "  --rate N    publish at most N events per second\n"
                    "Kafka comes from KAFKA_BOOTSTRAP (and KAFKA_* properties).\n");
}

static int parse_args(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--binary") == 0)
            o->binary = 1;
        else if (strcmp(argv[i], "--skip-bad") == 0)
            o->skip_bad = 1;
        else if (strcmp(argv[i], "--check") == 0)
            o->check = 1;
        else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc)
            o->rate = atof(argv[++i]);
        else if ((argv[i][0] == '-' && argv[i][1]) || o->path)
            return -1; /* an unknown option, or a second file */
        else
            o->path = argv[i];
    }
    return o->path ? 0 : -1;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        if (atomic_fetch_add(&delivery_failures, 1) < 5)
            fprintf(stderr, "not delivered to %s: %s\n", rd_kafka_topic_name(m->rkt),
                    rd_kafka_err2str(m->err));
    }
}

static rd_kafka_t *producer_new(const of_config *cfg)
{
    static const char *const defaults[] = {
        "acks",       "all",     "enable.idempotence", "true", "linger.ms", "10",
        "batch.size", "1000000", "compression.type",   "lz4",  NULL};
    of_error err;
    rd_kafka_t *rk = of_producer_new(cfg, defaults, dr_cb, NULL, "a Kafka producer", &err);
    if (!rk)
        fprintf(stderr, "%s\n", err.msg);
    return rk;
}

/* The headers of binary mode: ce_<attribute> for every attribute but data. */
static rd_kafka_headers_t *binary_headers(const of_event *ev)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(12);
    const char *k;
    json_t *v;
    json_object_foreach(ev->root, k, v)
    {
        if (strcmp(k, "data") == 0 || strcmp(k, "datacontenttype") == 0)
            continue;
        char name[80], *text = NULL;
        snprintf(name, sizeof name, "ce_%s", k);
        if (json_is_string(v))
            rd_kafka_header_add(h, name, -1, json_string_value(v), -1);
        else if ((text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT)) != NULL)
            rd_kafka_header_add(h, name, -1, text, -1);
        free(text);
    }
    rd_kafka_header_add(h, "content-type", -1, "application/json", -1);
    return h;
}

static int publish_one(rd_kafka_t *rk, const of_event *ev, const line *l, int binary)
{
    rd_kafka_resp_err_t e;
    for (;;) {
        if (binary) {
            char *data = json_dumps(ev->data, JSON_COMPACT);
            rd_kafka_headers_t *h = binary_headers(ev);
            e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(ev->etype->topic),
                                  RD_KAFKA_V_KEY(ev->subject, strlen(ev->subject)),
                                  RD_KAFKA_V_VALUE(data, data ? strlen(data) : 0),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_HEADERS(h),
                                  RD_KAFKA_V_END);
            if (e) {
                free(data);
                rd_kafka_headers_destroy(h);
            }
        } else {
            rd_kafka_headers_t *h = rd_kafka_headers_new(1);
            rd_kafka_header_add(h, "content-type", -1, "application/cloudevents+json", -1);
            e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(ev->etype->topic),
                RD_KAFKA_V_KEY(ev->subject, strlen(ev->subject)), RD_KAFKA_V_VALUE(l->text, l->len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
            if (e)
                rd_kafka_headers_destroy(h);
        }
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        rd_kafka_poll(rk, 50); /* the local queue is full: let deliveries drain */
    }
    if (e) {
        fprintf(stderr, "line %ld: cannot publish: %s\n", l->lineno, rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Exit code 2, as for any failure to read the input; nothing was published yet. */
static _Noreturn void out_of_memory(void)
{
    fprintf(stderr, "out of memory\n");
    exit(2);
}

int main(int argc, char **argv)
{
    options o;
    if (parse_args(argc, argv, &o)) {
        usage();
        return 2;
    }
    of_log_init("publish", OF_LOG_WARN);
    of_config cfg;
    of_error err;
    if (of_config_load(&cfg, &err)) {
        fprintf(stderr, "bad configuration: %s\n", err.msg);
        return 2;
    }
    FILE *f = strcmp(o.path, "-") == 0 ? stdin : fopen(o.path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s\n", o.path, strerror(errno));
        return 2;
    }
    of_validator *v = of_validator_new(&err);
    if (!v) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    /* First pass: read and judge every line. */
    line *lines = NULL;
    size_t n = 0, cap = 0, bad = 0;
    char *buf = NULL;
    size_t bufcap = 0;
    ssize_t got;
    long lineno = 0;
    while ((got = getline(&buf, &bufcap, f)) >= 0) {
        lineno++;
        size_t len = (size_t)got;
        while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
            len--;
        size_t sp = 0;
        while (sp < len && (buf[sp] == ' ' || buf[sp] == '\t'))
            sp++;
        if (sp == len)
            continue; /* blank line */
        of_message_in in = {.value = buf, .len = len, .max_bytes = cfg.max_event_bytes};
        of_event ev;
        if (of_event_decode(v, &in, &ev, &err)) {
            printf("line %ld: %s\n", lineno, err.msg);
            bad++;
            continue;
        }
        of_event_clear(&ev);
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            line *nl = realloc(lines, cap * sizeof *nl);
            if (!nl)
                out_of_memory();
            lines = nl;
        }
        lines[n].text = malloc(len);
        if (!lines[n].text)
            out_of_memory();
        memcpy(lines[n].text, buf, len);
        lines[n].len = len;
        lines[n].lineno = lineno;
        n++;
    }
    free(buf);
    if (f != stdin)
        fclose(f);
    int rc = 0;
    if (bad && !o.skip_bad) {
        printf("%zu bad line(s) of %zu: nothing published (fix them, or use --skip-bad)\n", bad,
               bad + n);
        rc = 1;
    } else if (o.check) {
        printf("%zu valid event(s), %zu bad line(s)\n", n, bad);
        rc = bad ? 1 : 0;
    } else {
        rd_kafka_t *rk = producer_new(&cfg);
        if (!rk) {
            rc = 2;
            goto done;
        }
        double t0 = now_s();
        size_t sent = 0;
        for (size_t i = 0; i < n; i++) {
            of_message_in in = {
                .value = lines[i].text, .len = lines[i].len, .max_bytes = cfg.max_event_bytes};
            of_event ev;
            if (of_event_decode(v, &in, &ev, &err))
                continue; /* judged valid above; cannot happen */
            if (publish_one(rk, &ev, &lines[i], o.binary) == 0)
                sent++;
            of_event_clear(&ev);
            rd_kafka_poll(rk, 0);
            if (o.rate > 0) {
                double due = t0 + (double)(i + 1) / o.rate, wait = due - now_s();
                if (wait > 0) {
                    struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
                    nanosleep(&ts, NULL);
                }
            }
        }
        if (rd_kafka_flush(rk, 60000))
            fprintf(stderr, "some events were not acknowledged within 60 s\n");
        long failed = atomic_load(&delivery_failures) + (long)(rd_kafka_outq_len(rk));
        rd_kafka_destroy(rk);
        double secs = now_s() - t0;
        printf("published %zu event(s)%s in %.2f s (%.0f/s)", sent - (size_t)failed,
               failed ? " (some failed)" : "", secs, secs > 0 ? (double)sent / secs : 0.0);
        if (bad)
            printf(", skipped %zu bad line(s)", bad);
        printf("\n");
        rc = failed || sent < n ? 1 : 0;
    }
done:
    for (size_t i = 0; i < n; i++)
        free(lines[i].text);
    free(lines);
    of_validator_free(v);
    return rc;
}
