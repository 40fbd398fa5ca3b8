/* caller.h — outgoing HTTP calls (the recharge provider, the ops webhook) made by a thread of
 * their own with libcurl's multi interface: many calls in flight on kept-alive connections,
 * and no caller ever waits on the network. A request is queued with a tag; its reply (status,
 * body, or the transport error) is collected later with the monotonic time it finished, so a
 * result's arrival is known even when the collecting thread was busy (R3). */
#ifndef CALLER_H
#define CALLER_H

#include <stddef.h>
#include <stdint.h>

#include "of_error.h"

typedef enum { CALL_RECHARGE, CALL_STATUS, CALL_WEBHOOK } call_kind;

typedef struct call_reply {
    uint64_t tag;
    call_kind kind;
    int curl_code;   /* CURLcode: 0 when an HTTP answer came */
    int timed_out;   /* the call's time-out expired */
    char error[256]; /* libcurl's message when curl_code != 0 */
    long http_status;
    char *body; /* NUL-terminated, owned by the reply */
    size_t len;
    int64_t done_us; /* CLOCK_MONOTONIC µs when the transfer finished */
} call_reply;

typedef struct caller caller;

/* notify(ctx) is called from the caller's thread whenever replies are ready. */
typedef void (*caller_notify_fn)(void *ctx);

caller *caller_new(int max_connections, caller_notify_fn notify, void *ctx, of_error *err);
/* Stops the thread; calls still in flight are abandoned. NULL allowed. */
void caller_free(caller *c);

/* Queues a call (body NULL: GET, else POST with Content-Type: application/json; copied). */
int caller_submit(caller *c, uint64_t tag, call_kind kind, const char *url, const char *body,
                  long timeout_ms) OF_MUST_CHECK;

/* Moves the finished replies into *out (free with call_replies_free); returns how many. */
size_t caller_take(caller *c, call_reply **out);
void call_replies_free(call_reply *r, size_t n);

#endif
