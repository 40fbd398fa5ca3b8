/* event.h — decoding and validating one Kafka message into a CloudEvents 1.0 event, in
 * either mode of the CloudEvents Kafka binding: structured (the value is the whole event,
 * content-type application/cloudevents+json) or binary (ce_* headers carry the attributes,
 * the value is the data). Validation happens here, once, before any handler runs: size,
 * UTF-8, JSON, the envelope schema, the type, the topic, the type's schema, the key and the
 * subject, and a real calendar time. Every failure names the field or problem. */
#ifndef OF_EVENT_H
#define OF_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "event_types.h"
#include "of_error.h"

typedef struct of_header {
    const char *name;
    const void *value; /* may be NULL */
    size_t size;
} of_header;

typedef struct of_event {
    json_t *root;                                    /* the event in structured form; owned */
    const char *id, *source, *type, *subject, *time; /* borrowed from root */
    const char *shop_id;                             /* the part of source after "shop/" */
    int64_t time_us;                                 /* `time` in µs since the epoch, UTC */
    json_t *data;                                    /* borrowed from root */
    const of_event_type *etype;
} of_event;

typedef struct of_validator of_validator;

/* Loads the embedded schemas (schemas/events). */
of_validator *of_validator_new(of_error *err);
void of_validator_free(of_validator *v); /* NULL allowed */

typedef struct of_message_in {
    const char *topic; /* NULL: any topic (the publish tool picks it from the type) */
    const void *key;   /* NULL: not checked */
    size_t key_len;
    const void *value;
    size_t len;
    const of_header *headers;
    size_t nheaders;
    size_t max_bytes;
} of_message_in;

/* 0 and a filled *out (release with of_event_clear) or -1 and err. */
int of_event_decode(const of_validator *v, const of_message_in *m, of_event *out,
                    of_error *err) OF_MUST_CHECK;
void of_event_clear(of_event *ev);

/* Checks a string is valid UTF-8; returns the byte offset of the first bad byte or -1. */
long of_utf8_invalid_at(const void *s, size_t len);

/* Parses an RFC 3339 date-time into µs since the epoch; -1 when it is not a real time. */
int of_parse_rfc3339(const char *s, int64_t *out_us);

#endif
