/* json_fast.h — a fast path for parsing the JSON of an event into jansson values. jansson's
 * own parser reads byte by byte through a stream with a token buffer; this one walks the
 * buffer once and builds the same values (objects keep key order, strings are copied as
 * they are). It takes only the common shape of events: strings without \u escapes or
 * control characters, integers in range, true/false/null, nesting up to 64 levels, no
 * duplicate keys. Anything else (reals, \u escapes, errors of any kind) returns NULL, and
 * the caller parses with jansson, which gives the same value or the error message. The
 * input must already be valid UTF-8 (of_utf8_invalid_at). */
#ifndef OF_JSON_FAST_H
#define OF_JSON_FAST_H

#include <stddef.h>
#include <jansson.h>

/* A new reference to the object (only an object at the top level), or NULL: use jansson. */
json_t *of_json_fast_object(const char *buf, size_t len);

#endif
