/* provider.c — reading and writing the provider's messages (see provider.h). */
#include "provider.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "of_error.h"

const char *provider_status_name(provider_status s)
{
    switch (s) {
    case PROVIDER_SUCCESS:
        return "success";
    case PROVIDER_FAILED:
        return "failed";
    case PROVIDER_PENDING:
        return "pending";
    case PROVIDER_NOT_FOUND:
        return "not_found";
    case PROVIDER_UNKNOWN:
        break;
    }
    return "unknown";
}

static void unknown(provider_answer *out, const char *what, const char *fmt, ...) OF_PRINTF(3, 4);

static void unknown(provider_answer *out, const char *what, const char *fmt, ...)
{
    char detail[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    out->status = PROVIDER_UNKNOWN;
    snprintf(out->why, sizeof out->why, "%s: %s", what, detail);
}

void provider_parse(const provider_http *in, provider_answer *out)
{
    memset(out, 0, sizeof *out);
    const char *what = in->status_query ? "status query" : "recharge call";
    if (in->transport_failed) {
        if (in->timed_out)
            unknown(out, what, "no answer within %ld ms (time-out)", in->timeout_ms);
        else
            unknown(out, what, "no answer (%s)", in->error ? in->error : "transport error");
        return;
    }
    if (in->status_query && in->http_status == 404) {
        out->status = PROVIDER_NOT_FOUND;
        snprintf(out->why, sizeof out->why, "%s: the provider has no such attempt (HTTP 404)",
                 what);
        return;
    }
    if (in->http_status < 200 || in->http_status > 299) {
        unknown(out, what, "HTTP %ld from the provider", in->http_status);
        return;
    }
    json_error_t jerr;
    json_t *j = json_loadb(in->body ? in->body : "", in->len, 0, &jerr);
    const char *st = json_string_value(json_object_get(j, "status"));
    const char *ref = json_string_value(json_object_get(j, "provider_ref"));
    if (ref)
        snprintf(out->ref, sizeof out->ref, "%s", ref);
    if (!st)
        unknown(out, what, "unreadable answer (HTTP %ld without a JSON status)", in->http_status);
    else if (strcmp(st, "success") == 0)
        out->status = PROVIDER_SUCCESS;
    else if (strcmp(st, "failed") == 0)
        out->status = PROVIDER_FAILED;
    else if (strcmp(st, "pending") == 0)
        out->status = PROVIDER_PENDING;
    else if (strcmp(st, "unknown") == 0)
        unknown(out, what, "the provider answered unknown");
    else
        unknown(out, what, "unexpected status \"%.40s\"", st);
    json_decref(j);
}

char *provider_request_body(const char *attempt_id, const char *order_id, const char *account,
                            const char *product, const char *face_value)
{
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s}", "attempt_id", attempt_id, "order_id", order_id,
                          "account", account, "product", product, "face_value", face_value);
    if (!j)
        return NULL;
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

int provider_url(const char *base, const char *attempt_id, char *out, size_t outsz)
{
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    int w = attempt_id ? snprintf(out, outsz, "%.*s/recharge/%s", (int)n, base, attempt_id)
                       : snprintf(out, outsz, "%.*s/recharge", (int)n, base);
    return w < 0 || (size_t)w >= outsz ? -1 : 0;
}
