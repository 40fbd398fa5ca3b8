/* caller.c — the HTTP call thread (see caller.h). Requests wait in a list until the thread
 * adds them to the multi handle; curl_multi_wakeup interrupts its poll when one is queued.
 * Easy handles are kept for reuse; connections live in the multi handle's cache. */
#include "caller.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

#define MAX_BODY (256 * 1024)

typedef struct transfer {
    CURL *h;
    uint64_t tag;
    call_kind kind;
    char *url;
    char *req_body;
    long timeout_ms;
    char *buf;
    size_t len, cap;
    char errbuf[CURL_ERROR_SIZE];
    struct transfer *next, *prev; /* queued or spare: next only; active: both */
} transfer;

struct caller {
    CURLM *multi;
    struct curl_slist *json_headers;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    bool stop;        /* under mu */
    transfer *queued; /* under mu: FIFO of requests to start */
    transfer *queued_tail;
    call_reply *replies; /* under mu */
    size_t nreplies, capreplies;
    transfer *active; /* thread only: in the multi handle */
    transfer *spare;  /* thread only: handles to reuse */
    caller_notify_fn notify;
    void *ctx;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    transfer *t = ud;
    size_t len = size * n;
    if (t->len + len + 1 > MAX_BODY)
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    if (t->len + len + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 512;
        while (cap < t->len + len + 1)
            cap *= 2;
        char *b = realloc(t->buf, cap);
        if (!b)
            return 0;
        t->buf = b;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, p, len);
    t->len += len;
    t->buf[t->len] = '\0';
    return len;
}

static void transfer_free(transfer *t)
{
    if (!t)
        return;
    if (t->h)
        curl_easy_cleanup(t->h);
    free(t->url);
    free(t->req_body);
    free(t->buf);
    free(t);
}

/* Thread: configures and adds a queued transfer to the multi handle. */
static void start_transfer(caller *c, transfer *t)
{
    transfer *s = c->spare;
    if (s) { /* reuse a handle (keeps its DNS cache and TLS session) */
        c->spare = s->next;
        t->h = s->h;
        s->h = NULL;
        transfer_free(s);
        curl_easy_reset(t->h);
    } else {
        t->h = curl_easy_init();
    }
    if (!t->h) {
        of_err("http: cannot create a curl handle");
        return;
    }
    t->errbuf[0] = '\0';
    curl_easy_setopt(t->h, CURLOPT_URL, t->url);
    curl_easy_setopt(t->h, CURLOPT_PRIVATE, t);
    curl_easy_setopt(t->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(t->h, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(t->h, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(t->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t->h, CURLOPT_TIMEOUT_MS, t->timeout_ms);
    curl_easy_setopt(t->h, CURLOPT_CONNECTTIMEOUT_MS, t->timeout_ms < 2000 ? t->timeout_ms : 2000L);
    curl_easy_setopt(t->h, CURLOPT_TCP_NODELAY, 1L);
    /* answers and requests are small: modest buffers keep hundreds of handles cheap */
    curl_easy_setopt(t->h, CURLOPT_BUFFERSIZE, 4096L);
    curl_easy_setopt(t->h, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
    if (t->req_body) {
        curl_easy_setopt(t->h, CURLOPT_HTTPHEADER, c->json_headers);
        curl_easy_setopt(t->h, CURLOPT_POSTFIELDS, t->req_body);
    }
    curl_multi_add_handle(c->multi, t->h);
    t->prev = NULL;
    t->next = c->active;
    if (c->active)
        c->active->prev = t;
    c->active = t;
}

static void unlink_active(caller *c, transfer *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        c->active = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->next = t->prev = NULL;
}

/* Thread: turns a finished transfer into a reply (under mu). */
static void push_reply(caller *c, transfer *t, CURLcode code)
{
    if (c->nreplies == c->capreplies) {
        size_t cap = c->capreplies ? c->capreplies * 2 : 64;
        call_reply *r = realloc(c->replies, cap * sizeof *r);
        if (!r) {
            of_err("http: out of memory; reply to call %llu dropped", (unsigned long long)t->tag);
            return;
        }
        c->replies = r;
        c->capreplies = cap;
    }
    call_reply *r = &c->replies[c->nreplies++];
    memset(r, 0, sizeof *r);
    r->tag = t->tag;
    r->kind = t->kind;
    r->curl_code = (int)code;
    r->timed_out = code == CURLE_OPERATION_TIMEDOUT;
    if (code != CURLE_OK)
        snprintf(r->error, sizeof r->error, "%s",
                 t->errbuf[0] ? t->errbuf : curl_easy_strerror(code));
    curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &r->http_status);
    r->body = t->buf ? t->buf : strdup("");
    r->len = t->buf ? t->len : 0;
    t->buf = NULL;
    t->len = t->cap = 0;
    r->done_us = of_mono_us();
}

static void *run(void *arg)
{
    caller *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        bool stop = c->stop;
        transfer *q = c->queued;
        c->queued = c->queued_tail = NULL;
        pthread_mutex_unlock(&c->mu);
        if (stop) {
            while (q) {
                transfer *next = q->next;
                transfer_free(q);
                q = next;
            }
            break;
        }
        while (q) {
            transfer *next = q->next;
            q->next = NULL;
            start_transfer(c, q);
            if (!q->h) {
                pthread_mutex_lock(&c->mu);
                push_reply(c, q, CURLE_FAILED_INIT);
                pthread_mutex_unlock(&c->mu);
                transfer_free(q);
            }
            q = next;
        }
        int running = 0;
        curl_multi_perform(c->multi, &running);
        CURLMsg *m;
        int left, done = 0;
        while ((m = curl_multi_info_read(c->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            transfer *t = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
            CURLcode code = m->data.result;
            curl_multi_remove_handle(c->multi, m->easy_handle);
            unlink_active(c, t);
            pthread_mutex_lock(&c->mu);
            push_reply(c, t, code);
            pthread_mutex_unlock(&c->mu);
            done++;
            free(t->url);
            free(t->req_body);
            t->url = t->req_body = NULL;
            t->next = c->spare;
            c->spare = t;
        }
        if (done && c->notify)
            c->notify(c->ctx);
        curl_multi_poll(c->multi, NULL, 0, 1000, NULL);
    }
    return NULL;
}

caller *caller_new(int max_connections, caller_notify_fn notify, void *ctx, of_error *err)
{
    caller *c = calloc(1, sizeof *c);
    if (!c) {
        of_error_set(err, "out of memory");
        return NULL;
    }
    c->notify = notify;
    c->ctx = ctx;
    pthread_mutex_init(&c->mu, NULL);
    c->multi = curl_multi_init();
    c->json_headers = curl_slist_append(NULL, "Content-Type: application/json");
    c->json_headers = curl_slist_append(c->json_headers, "Expect:");
    if (!c->multi || !c->json_headers) {
        caller_free(c);
        of_error_set(err, "cannot set up libcurl");
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)max_connections);
    if (pthread_create(&c->thread, NULL, run, c) != 0) {
        caller_free(c);
        of_error_set(err, "cannot start the HTTP call thread");
        return NULL;
    }
    c->started = true;
    return c;
}

void caller_free(caller *c)
{
    if (!c)
        return;
    if (c->started) {
        pthread_mutex_lock(&c->mu);
        c->stop = true;
        pthread_mutex_unlock(&c->mu);
        curl_multi_wakeup(c->multi);
        pthread_join(c->thread, NULL);
    }
    while (c->active) { /* calls still in flight are abandoned */
        transfer *t = c->active;
        c->active = t->next;
        curl_multi_remove_handle(c->multi, t->h);
        transfer_free(t);
    }
    while (c->spare) {
        transfer *next = c->spare->next;
        transfer_free(c->spare);
        c->spare = next;
    }
    call_replies_free(c->replies, c->nreplies);
    if (c->multi)
        curl_multi_cleanup(c->multi);
    curl_slist_free_all(c->json_headers);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int caller_submit(caller *c, uint64_t tag, call_kind kind, const char *url, const char *body,
                  long timeout_ms)
{
    transfer *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    t->tag = tag;
    t->kind = kind;
    t->timeout_ms = timeout_ms;
    t->url = strdup(url);
    t->req_body = body ? strdup(body) : NULL;
    if (!t->url || (body && !t->req_body)) {
        transfer_free(t);
        return -1;
    }
    pthread_mutex_lock(&c->mu);
    if (c->queued_tail)
        c->queued_tail->next = t;
    else
        c->queued = t;
    c->queued_tail = t;
    pthread_mutex_unlock(&c->mu);
    curl_multi_wakeup(c->multi);
    return 0;
}

size_t caller_take(caller *c, call_reply **out)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->nreplies;
    *out = c->replies;
    c->replies = NULL;
    c->nreplies = c->capreplies = 0;
    pthread_mutex_unlock(&c->mu);
    return n;
}

void call_replies_free(call_reply *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(r[i].body);
    free(r);
}
