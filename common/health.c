/* health.c — /healthz, /readyz and /metrics over libmicrohttpd (see health.h). */
#include "health.h"

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"

struct of_health {
    struct MHD_Daemon *daemon;
    of_ready_fn ready;
    void *ctx;
};

static atomic_llong last_beat;

static long long now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

void of_health_beat(void)
{
    atomic_store(&last_beat, now_s());
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             char *body, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, mode);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **req_cls)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)req_cls;
    of_health *h = cls;
    if (strcmp(method, "GET") != 0)
        return reply(c, 405, "application/json", "{\"error\":\"only GET is served here\"}",
                     MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/healthz") == 0) {
        long long idle = now_s() - atomic_load(&last_beat);
        if (idle > 60)
            return reply(c, 503, "application/json",
                         "{\"status\":\"stuck\",\"reason\":\"main loop silent for over 60 s\"}",
                         MHD_RESPMEM_PERSISTENT);
        return reply(c, 200, "application/json", "{\"status\":\"ok\"}", MHD_RESPMEM_PERSISTENT);
    }
    if (strcmp(url, "/readyz") == 0) {
        char reason[256] = "";
        bool ok = h->ready ? h->ready(h->ctx, reason, sizeof reason) : true;
        char body[400];
        if (ok)
            snprintf(body, sizeof body, "{\"status\":\"ready\"}");
        else
            snprintf(body, sizeof body, "{\"status\":\"not ready\",\"reason\":\"%s\"}", reason);
        return reply(c, ok ? 200 : 503, "application/json", body, MHD_RESPMEM_MUST_COPY);
    }
    if (strcmp(url, "/metrics") == 0) {
        char *text = of_metrics_render();
        if (!text)
            return MHD_NO;
        return reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", text,
                     MHD_RESPMEM_MUST_FREE);
    }
    return reply(c, 404, "application/json",
                 "{\"error\":\"not found; try /healthz, /readyz or /metrics\"}",
                 MHD_RESPMEM_PERSISTENT);
}

of_health *of_health_start(int port, of_ready_fn ready, void *ctx, of_error *err)
{
    of_health_beat();
    if (port == 0)
        return NULL;
    of_health *h = calloc(1, sizeof *h);
    if (!h) {
        of_error_set(err, "out of memory");
        return NULL;
    }
    h->ready = ready;
    h->ctx = ctx;
    h->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
                                 (uint16_t)port, NULL, NULL, handle, h,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!h->daemon) {
        free(h);
        of_error_set(err, "cannot serve /healthz on port %d (in use? set HTTP_PORT)", port);
        return NULL;
    }
    return h;
}

void of_health_stop(of_health *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
