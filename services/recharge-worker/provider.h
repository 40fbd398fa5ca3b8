/* provider.h — the recharge provider's HTTP contract (SPEC §7), without I/O:
 *   POST {base}/recharge              {attempt_id, order_id, account, product, face_value}
 *   GET  {base}/recharge/{attempt_id} the status of an attempt (R7 reconciliation)
 * both answering {status: success|failed|pending|unknown, provider_ref}. A time-out, a
 * transport error, a 5xx or an answer that cannot be read is "unknown" (R4 suspends); a 404
 * to a status query means the provider never received the attempt. */
#ifndef PROVIDER_H
#define PROVIDER_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    PROVIDER_SUCCESS,
    PROVIDER_FAILED,
    PROVIDER_PENDING,
    PROVIDER_UNKNOWN,
    PROVIDER_NOT_FOUND /* status query only: no such attempt at the provider */
} provider_status;

typedef struct provider_http {
    int transport_failed; /* no HTTP answer (connection, time-out, ...) */
    int timed_out;
    const char *error; /* the transport error's message */
    long timeout_ms;   /* for the message of a time-out */
    long http_status;
    const char *body;
    size_t len;
    bool status_query; /* GET /recharge/{attempt_id} */
} provider_http;

typedef struct provider_answer {
    provider_status status;
    char ref[129]; /* provider_ref, "" when none */
    char why[256]; /* for unknown: what happened, for the suspension reason and the alert */
} provider_answer;

void provider_parse(const provider_http *in, provider_answer *out);

/* "success", "failed", ... */
const char *provider_status_name(provider_status s);

/* The POST body (caller frees). */
char *provider_request_body(const char *attempt_id, const char *order_id, const char *account,
                            const char *product, const char *face_value);

/* {base}/recharge and {base}/recharge/{attempt_id} (a trailing '/' of base is ignored).
 * Returns -1 when out is too small. */
int provider_url(const char *base, const char *attempt_id, char *out, size_t outsz);

#endif
