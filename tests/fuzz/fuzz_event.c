/* fuzz_event.c — libFuzzer target for of_event_decode (common/event.c), the first code every
 * Kafka message reaches. The first input byte chooses how the message is presented:
 *
 *   bit 0     binary mode (ce_* headers) instead of structured mode
 *   bit 1     check the topic (bits 2-3 pick shop.orders, shop.recharges, shop.remittances or
 *             a topic no type belongs to)
 *   bit 4     pass a Kafka key: the first line of the rest (structured) or the subject header
 *             (binary)
 *   bit 5     structured mode: send content-type application/cloudevents+json
 *   bit 6     a 300-byte MAX_EVENT_BYTES instead of 256 KiB
 *   bit 7     also feed the rest to of_parse_rfc3339 and of_utf8_invalid_at directly
 *
 * In binary mode the rest is split at '\n' into the values of ce_specversion, ce_id,
 * ce_source, ce_type, ce_time, ce_subject and content-type, in that order; what follows the
 * seventh '\n' is the message value (the data).
 *
 * Besides ASan/UBSan, the target checks what a dead letter needs: a decoded event has its
 * fields, and a refusal has a reason that is valid UTF-8 (it is stored in a PostgreSQL text
 * column and sent as a Kafka header). OF_FUZZ_LAX_REASONS=1 skips the UTF-8 check, to look
 * for other problems while a known one is being fixed. Seeds: tests/fuzz/corpus, made from
 * tests/events by tests/fuzz/make_corpus; tests/fuzz/run builds and runs this target. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const topics[] = {OF_TOPIC_ORDERS, OF_TOPIC_RECHARGES, OF_TOPIC_REMITTANCES,
                                     "fuzz.nowhere"};
static const char *const binary_headers[] = {
    "ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject", "content-type"};
#define NBINARY (sizeof binary_headers / sizeof binary_headers[0])

static const of_validator *validator(void)
{
    static of_validator *v;
    if (!v) {
        of_error err;
        v = of_validator_new(&err);
        if (!v)
            abort(); /* the embedded schemas must load */
    }
    return v;
}

/* The event's borrowed fields must be usable after a successful decode. */
static void touch(const of_event *ev)
{
    size_t n = strlen(ev->id) + strlen(ev->source) + strlen(ev->type) + strlen(ev->subject) +
               strlen(ev->time) + strlen(ev->shop_id) + strlen(ev->etype->topic);
    if (n == 0 || !ev->data || !json_is_object(ev->data))
        abort();
}

static int lax_reasons = -1;

static void direct(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        return;
    memcpy(s, p, n);
    s[n] = '\0';
    int64_t us;
    (void)of_parse_rfc3339(s, &us);
    long bad = of_utf8_invalid_at(p, n);
    if (bad < -1 || bad >= (long)n)
        abort();
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t flags = data[0];
    const uint8_t *rest = data + 1;
    size_t rest_len = size - 1;

    if (flags & 0x80)
        direct(rest, rest_len);

    of_message_in m = {.topic = (flags & 2) ? topics[(flags >> 2) & 3] : NULL,
                       .max_bytes = (flags & 0x40) ? 300 : 262144};
    of_header headers[NBINARY + 1];
    size_t nh = 0;

    if (flags & 1) {
        const uint8_t *p = rest, *end = rest + rest_len;
        for (size_t i = 0; i < NBINARY && p < end; i++) {
            const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
            const uint8_t *stop = nl ? nl : end;
            headers[nh].name = binary_headers[i];
            headers[nh].value = p;
            headers[nh].size = (size_t)(stop - p);
            if (i == 5 && (flags & 0x10)) {
                m.key = p;
                m.key_len = headers[nh].size;
            }
            nh++;
            p = nl ? nl + 1 : end;
        }
        m.value = p;
        m.len = (size_t)(end - p);
    } else {
        const uint8_t *p = rest, *end = rest + rest_len;
        if (flags & 0x10) {
            const uint8_t *nl = memchr(p, '\n', rest_len);
            if (nl) {
                m.key = p;
                m.key_len = (size_t)(nl - p);
                p = nl + 1;
            }
        }
        if (flags & 0x20) {
            static const char ct[] = "application/cloudevents+json";
            headers[nh++] = (of_header){"content-type", ct, sizeof ct - 1};
        }
        m.value = p;
        m.len = (size_t)(end - p);
    }
    m.headers = headers;
    m.nheaders = nh;

    of_event ev;
    of_error err;
    if (of_event_decode(validator(), &m, &ev, &err) == 0) {
        touch(&ev);
        of_event_clear(&ev);
    } else {
        if (!err.msg[0] || ev.root)
            abort(); /* a failure always says why and leaves nothing to free */
        if (lax_reasons < 0)
            lax_reasons = getenv("OF_FUZZ_LAX_REASONS") != NULL;
        if (!lax_reasons && of_utf8_invalid_at(err.msg, strlen(err.msg)) >= 0) {
            fprintf(stderr, "reason is not UTF-8: %s\n", err.msg);
            abort(); /* the reason must be storable as text */
        }
    }
    return 0;
}
