/* test_event.c — decoding and validating one message (common/event.c): both modes of the
 * CloudEvents Kafka binding, every reason an event is refused (the text a shop reads in its
 * dead letter), the fields of a decoded event, RFC 3339 times and the UTF-8 check. */
#include <stdlib.h>

#include "event.h"
#include "of_test.h"

#define PAID                                                                                       \
    "{\"specversion\":\"1.0\",\"id\":\"e-1\",\"source\":\"shop/demo-shop\",\"type\":"              \
    "\"order.paid\",\"time\":\"2024-05-06T11:59:59+08:00\",\"subject\":\"TB1\","                   \
    "\"datacontenttype\":\"application/json\",\"data\":{\"order_id\":\"TB1\",\"amount\":"          \
    "\"129.00\",\"method\":\"alipay\"}}"

static of_validator *validator;

/* The result of decoding: "ok" or the error message. */
static char result[OF_ERROR_MAX];

static const char *decode_msg(const of_message_in *m, of_event *keep)
{
    of_event ev;
    of_error err = {{0}};
    if (of_event_decode(validator, m, &ev, &err) == 0) {
        snprintf(result, sizeof result, "ok");
        if (keep)
            *keep = ev;
        else
            of_event_clear(&ev);
    } else {
        CHECK(ev.root == NULL); /* nothing is left to free on failure */
        CHECK(err.msg[0] != '\0');
        snprintf(result, sizeof result, "%s", err.msg);
    }
    return result;
}

/* Structured mode, no headers. */
static const char *decode_n(const void *payload, size_t len, const char *topic, const char *key)
{
    of_message_in m = {.topic = topic,
                       .key = key,
                       .key_len = key ? strlen(key) : 0,
                       .value = payload,
                       .len = len,
                       .max_bytes = 262144};
    return decode_msg(&m, NULL);
}

static const char *decode(const char *payload, const char *topic, const char *key)
{
    return decode_n(payload, strlen(payload), topic, key);
}

/* PAID with one field of the event (or of data, with "data." in front) replaced; value NULL
 * removes it. value is JSON text. */
static const char *decode_edited(const char *field, const char *value)
{
    json_t *ev = json_loads(PAID, 0, NULL);
    json_t *obj = ev;
    if (strncmp(field, "data.", 5) == 0) {
        obj = json_object_get(ev, "data");
        field += 5;
    }
    if (value)
        json_object_set_new(obj, field, json_loads(value, JSON_DECODE_ANY, NULL));
    else
        json_object_del(obj, field);
    char *text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    decode(text, NULL, NULL);
    free(text);
    return result;
}

static void test_success_structured(void)
{
    of_message_in m = {.topic = OF_TOPIC_ORDERS,
                       .key = "TB1",
                       .key_len = 3,
                       .value = PAID,
                       .len = strlen(PAID),
                       .max_bytes = 262144};
    of_event ev;
    CHECK_STR(decode_msg(&m, &ev), "ok");
    CHECK_STR(ev.id, "e-1");
    CHECK_STR(ev.source, "shop/demo-shop");
    CHECK_STR(ev.shop_id, "demo-shop");
    CHECK_STR(ev.type, "order.paid");
    CHECK_STR(ev.subject, "TB1");
    CHECK_STR(ev.time, "2024-05-06T11:59:59+08:00");
    CHECK(ev.time_us == 1714967999000000LL); /* 2024-05-06T03:59:59Z */
    CHECK(ev.etype == of_event_type_find("order.paid"));
    CHECK(ev.etype && strcmp(ev.etype->topic, OF_TOPIC_ORDERS) == 0);
    CHECK(json_is_object(ev.root));
    CHECK_STR(json_string_value(json_object_get(ev.data, "amount")), "129.00");
    of_event_clear(&ev);
    CHECK(ev.root == NULL && ev.id == NULL && ev.etype == NULL);
    of_event_clear(&ev); /* twice is harmless */
    of_event_clear(NULL);

    /* exactly max_bytes is allowed; the content-type header picks structured mode even when
     * a ce_specversion header is present too */
    of_header h[] = {{"Content-Type", "application/cloudevents+json; charset=utf-8", 43},
                     {"ce_specversion", "1.0", 3}};
    m.max_bytes = strlen(PAID);
    m.headers = h;
    m.nheaders = 2;
    CHECK_STR(decode_msg(&m, NULL), "ok");

    /* a remittance: subject equals data.remit_id, topic shop.remittances */
    const char *remit =
        "{\"specversion\":\"1.0\",\"id\":\"r-1\",\"source\":\"shop/s.1_a-b\",\"type\":"
        "\"remittance.verified\",\"time\":\"2024-05-08T10:00:00Z\",\"subject\":\"RM1\",\"data\":"
        "{\"remit_id\":\"RM1\",\"amount\":\"88.00\",\"supervisor\":\"王主管\"}}";
    CHECK_STR(decode(remit, OF_TOPIC_REMITTANCES, "RM1"), "ok");
    CHECK_HAS(decode(remit, OF_TOPIC_ORDERS, NULL),
              "type: remittance.verified events belong on topic shop.remittances, not "
              "shop.orders");
    CHECK_HAS(decode(remit, NULL, "TB1"), "key: the message key must be the subject \"RM1\" "
                                          "(the remit_id) so its events stay in order");
}

static void test_size_and_bytes(void)
{
    of_message_in m = {.value = PAID, .len = strlen(PAID), .max_bytes = strlen(PAID) - 1};
    char want[128];
    snprintf(want, sizeof want, "event is %zu bytes, over the %zu-byte limit (MAX_EVENT_BYTES)",
             strlen(PAID), strlen(PAID) - 1);
    CHECK_STR(decode_msg(&m, NULL), want);

    CHECK_STR(decode("", NULL, NULL), "payload is empty: expected a JSON CloudEvents event");
    CHECK_STR(decode_n(NULL, 0, NULL, NULL), "payload is empty: expected a JSON CloudEvents event");

    /* invalid UTF-8: the first bad byte and its offset */
    CHECK_STR(decode("{\"a\":\"\xC0\xAF\"}", NULL, NULL),
              "payload is not valid UTF-8: byte 0xc0 at offset 6"); /* overlong '/' */
    CHECK_STR(decode("{\"a\":\"\xE0\x80\xAF\"}", NULL, NULL),
              "payload is not valid UTF-8: byte 0xe0 at offset 6"); /* overlong, 3 bytes */
    CHECK_STR(decode("{\"a\":\"\xF0\x80\x80\xAF\"}", NULL, NULL),
              "payload is not valid UTF-8: byte 0xf0 at offset 6"); /* overlong, 4 bytes */
    CHECK_STR(decode("{\"a\":\"\xED\xA0\x80\"}", NULL, NULL),
              "payload is not valid UTF-8: byte 0xed at offset 6"); /* surrogate U+D800 */
    CHECK_STR(decode("{\"a\":\"\xF4\x90\x80\x80\"}", NULL, NULL),
              "payload is not valid UTF-8: byte 0xf4 at offset 6"); /* U+110000 */
    CHECK_STR(decode("{\"a\":\"x\"}\xE4\xB8", NULL, NULL),
              "payload is not valid UTF-8: byte 0xe4 at offset 9"); /* truncated at the end */
    CHECK_STR(decode("{\"a\":\"\xE4\xB8\"}", NULL, NULL),
              "payload is not valid UTF-8: byte 0xe4 at offset 6"); /* cut short by '"' */

    CHECK_HAS(decode("{\"a\":", NULL, NULL), "payload is not valid JSON: ");
    CHECK_HAS(decode("{\"a\":1} x", NULL, NULL), "payload is not valid JSON: ");
    CHECK_HAS(decode("\"just a string\"", NULL, NULL), "payload is not valid JSON: ");
    CHECK_HAS(decode("{\"a\":1,\"a\":2}", NULL, NULL), "payload is not valid JSON: duplicate");
    CHECK_HAS(decode("{\"a\":1,\"a\":2}", NULL, NULL), "(line 1, column ");
    CHECK_HAS(decode("{\"a\":\"x\\u0000y\"}", NULL, NULL), "payload is not valid JSON: ");
    CHECK_STR(decode("[" PAID "]", NULL, NULL),
              "(event): must be a JSON object (a CloudEvents 1.0 event)");
}

static void test_envelope_and_type(void)
{
    CHECK_STR(decode_edited("id", "\"e-2\""), "ok");
    CHECK_HAS(decode_edited("specversion", NULL), "not a valid CloudEvents 1.0 event: ");
    CHECK_HAS(decode_edited("specversion", NULL), "specversion");
    CHECK_HAS(decode_edited("specversion", "\"0.3\""), "not a valid CloudEvents 1.0 event: ");
    CHECK_HAS(decode_edited("source", "\"demo-shop\""), "not a valid CloudEvents 1.0 event: ");
    CHECK_HAS(decode_edited("subject", NULL), "subject");
    CHECK_HAS(decode_edited("time", "\"2024-05-06 11:59:59Z\""),
              "not a valid CloudEvents 1.0 event: ");
    CHECK_HAS(decode_edited("data", "\"TB1\""), "not a valid CloudEvents 1.0 event: ");
    CHECK_HAS(decode_edited("traceparent", "{}"), "not a valid CloudEvents 1.0 event: ");
    CHECK_STR(decode_edited("traceparent", "\"00-ab\""), "ok"); /* extension attribute */

    CHECK_STR(decode_edited("type", "\"order.teleported\""),
              "type: unknown event type \"order.teleported\"");
    CHECK_STR(decode(PAID, OF_TOPIC_RECHARGES, NULL),
              "type: order.paid events belong on topic shop.orders, not shop.recharges");
    CHECK_STR(decode(PAID, OF_TOPIC_ORDERS, NULL), "ok");

    /* the type's own schema: the field is named */
    CHECK_HAS(decode_edited("data.amount", "129"), "data.amount");
    CHECK_HAS(decode_edited("data.method", NULL), "method");
    CHECK_HAS(decode_edited("data.extra", "\"x\""), "extra");

    /* a real calendar time (the schema's pattern cannot tell) */
    CHECK_STR(decode_edited("time", "\"2026-02-30T10:00:00Z\""),
              "time: \"2026-02-30T10:00:00Z\" is not a real date and time");
    CHECK_STR(decode_edited("time", "\"2023-02-29T10:00:00+08:00\""),
              "time: \"2023-02-29T10:00:00+08:00\" is not a real date and time");
    CHECK_STR(decode_edited("time", "\"2024-02-29T23:59:60.5Z\""), "ok");

    /* subject and key */
    CHECK_STR(decode_edited("subject", "\"TB2\""),
              "subject: \"TB2\" must equal data.order_id \"TB1\"");
    CHECK_STR(decode(PAID, NULL, "TB1"), "ok");
    CHECK_STR(decode(PAID, NULL, "TB2"), "key: the message key must be the subject \"TB1\" "
                                         "(the order_id) so its events stay in order");
    CHECK_HAS(decode(PAID, NULL, "TB"), "key: the message key must be the subject");
    CHECK_HAS(decode(PAID, NULL, "TB12"), "key: the message key must be the subject");
    CHECK_HAS(decode(PAID, NULL, ""), "key: the message key must be the subject");
}

/* Binary mode: attributes in ce_* headers, the value is the data. */
static of_header bin[8];
static size_t nbin;

static void bin_reset(void)
{
    static const char *const base[][2] = {
        {"ce_specversion", "1.0"},
        {"ce_id", "b-1"},
        {"ce_source", "shop/demo-shop"},
        {"ce_type", "order.paid"},
        {"ce_time", "2024-05-06T01:30:00.25Z"},
        {"ce_subject", "TB1"},
        {"content-type", "application/json"},
    };
    nbin = sizeof base / sizeof base[0];
    for (size_t i = 0; i < nbin; i++)
        bin[i] = (of_header){base[i][0], base[i][1], strlen(base[i][1])};
}

static const char *decode_bin(const char *data, size_t len, of_event *keep)
{
    of_message_in m = {.topic = OF_TOPIC_ORDERS,
                       .key = "TB1",
                       .key_len = 3,
                       .value = data,
                       .len = len,
                       .headers = bin,
                       .nheaders = nbin,
                       .max_bytes = 262144};
    return decode_msg(&m, keep);
}

#define PAID_DATA "{\"order_id\":\"TB1\",\"amount\":\"129.00\",\"method\":\"alipay\"}"

static void test_binary(void)
{
    of_event ev;
    bin_reset();
    CHECK_STR(decode_bin(PAID_DATA, strlen(PAID_DATA), &ev), "ok");
    CHECK_STR(ev.id, "b-1");
    CHECK_STR(ev.shop_id, "demo-shop");
    CHECK_STR(ev.subject, "TB1");
    CHECK(ev.time_us == 1714959000250000LL);
    CHECK_STR(json_string_value(json_object_get(ev.root, "datacontenttype")), "application/json");
    CHECK_STR(json_string_value(json_object_get(ev.data, "method")), "alipay");
    of_event_clear(&ev);

    /* without content-type; other headers and a bare "ce_" are ignored */
    bin[6] = (of_header){"traceid", "\xff", 1};
    bin[7] = (of_header){"ce_", "\xff", 1};
    nbin = 8;
    CHECK_STR(decode_bin(PAID_DATA, strlen(PAID_DATA), NULL), "ok");
    /* an extension attribute */
    bin[7] = (of_header){"ce_traceparent", "00-ab", 5};
    CHECK_STR(decode_bin(PAID_DATA, strlen(PAID_DATA), &ev), "ok");
    CHECK_STR(json_string_value(json_object_get(ev.root, "traceparent")), "00-ab");
    of_event_clear(&ev);

    /* a header that is not a UTF-8 string */
    bin_reset();
    bin[1] = (of_header){"ce_id", "b-\xC0\xAF", 4};
    CHECK_STR(decode_bin(PAID_DATA, strlen(PAID_DATA), NULL),
              "header ce_id: must be a UTF-8 string");
    bin[1] = (of_header){"ce_id", "b\0-1", 4};
    CHECK_STR(decode_bin(PAID_DATA, strlen(PAID_DATA), NULL),
              "header ce_id: must be a UTF-8 string");
    bin[1] = (of_header){"ce_id", NULL, 0};
    CHECK_STR(decode_bin(PAID_DATA, strlen(PAID_DATA), NULL),
              "header ce_id: must be a UTF-8 string");

    /* data problems are named "data" */
    bin_reset();
    CHECK_STR(decode_bin("", 0, NULL), "data is empty: expected a JSON object");
    CHECK_HAS(decode_bin("{\"order_id\":", 12, NULL), "data is not valid JSON: ");
    CHECK_HAS(decode_bin("{\"a\":1,\"a\":1}", 13, NULL), "data is not valid JSON: duplicate");
    CHECK_STR(decode_bin("{\"a\":\"\xED\xB0\x80\"}", 9, NULL),
              "data is not valid UTF-8: byte 0xed at offset 6");
    CHECK_HAS(decode_bin("[1]", 3, NULL), "not a valid CloudEvents 1.0 event: ");
    CHECK_HAS(decode_bin("\"TB1\"", 5, NULL), "not a valid CloudEvents 1.0 event: ");

    /* the envelope, the type and the key are checked as in structured mode */
    bin[6].value = "text/xml";
    bin[6].size = 8;
    CHECK_HAS(decode_bin(PAID_DATA, strlen(PAID_DATA), NULL),
              "not a valid CloudEvents 1.0 event: ");
    bin_reset();
    bin[0] = bin[5]; /* no ce_specversion: structured mode, and PAID_DATA is no event */
    CHECK_HAS(decode_bin(PAID_DATA, strlen(PAID_DATA), NULL),
              "not a valid CloudEvents 1.0 event: ");
    bin_reset();
    bin[5].value = "TB2";
    CHECK_STR(decode_bin(PAID_DATA, strlen(PAID_DATA), NULL),
              "subject: \"TB2\" must equal data.order_id \"TB1\"");
    bin_reset();
    bin[3].value = "order.printed";
    bin[3].size = 13;
    CHECK_HAS(decode_bin(PAID_DATA, strlen(PAID_DATA), NULL), "data");
    bin[3].value = "order.vanished";
    bin[3].size = 14;
    CHECK_STR(decode_bin(PAID_DATA, strlen(PAID_DATA), NULL),
              "type: unknown event type \"order.vanished\"");
    bin_reset();
    bin[4].value = "2024-04-31T01:30:00Z";
    bin[4].size = 20;
    CHECK_STR(decode_bin(PAID_DATA, strlen(PAID_DATA), NULL),
              "time: \"2024-04-31T01:30:00Z\" is not a real date and time");
}

static int64_t t(const char *s)
{
    int64_t us = 123;
    if (of_parse_rfc3339(s, &us))
        return -999;
    return us;
}

static void test_rfc3339(void)
{
    CHECK(t("1970-01-01T00:00:00Z") == 0);
    CHECK(t("1970-01-01t00:00:00z") == 0);
    CHECK(t("1970-01-01T00:00:00.5Z") == 500000);
    CHECK(t("1970-01-01T00:00:00.000001Z") == 1);
    CHECK(t("1970-01-01T00:00:00.123456789Z") == 123456); /* beyond µs is dropped */
    CHECK(t("1969-12-31T23:59:59.5Z") == -500000);
    CHECK(t("1970-01-01T08:00:00+08:00") == 0);
    CHECK(t("1999-12-31T23:59:59-05:30") == 946704599LL * 1000000);
    CHECK(t("1970-01-01T00:00:00+23:59") == -86340LL * 1000000);
    CHECK(t("2016-12-31T23:59:60Z") == 1483228799LL * 1000000); /* leap second */
    CHECK(t("2024-02-29T00:00:00Z") == 1709164800LL * 1000000);
    CHECK(t("2000-02-29T12:00:00Z") == 951825600LL * 1000000);
    CHECK(t("9999-12-31T23:59:59Z") == 253402300799LL * 1000000);
    CHECK(t("0000-03-01T00:00:00Z") == -62162035200LL * 1000000);
    CHECK(t("2024-12-31T23:59:59.999999Z") == 1735689599999999LL);

    static const char *const bad[] = {
        "2023-02-29T00:00:00Z", /* not a leap year */
        "1900-02-29T00:00:00Z", /* century, not a leap year */
        "2024-04-31T00:00:00Z",
        "2024-00-10T00:00:00Z",
        "2024-13-10T00:00:00Z",
        "2024-01-00T00:00:00Z",
        "2024-01-32T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T23:60:00Z",
        "2024-01-01T23:59:61Z",
        "2024-01-01T00:00:00", /* no offset */
        "2024-01-01T00:00:00.5",
        "2024-01-01 00:00:00Z",
        "2024-01-01T00:00:00.Z",           /* a dot and no digits */
        "2024-01-01T00:00:00.1234567890Z", /* 10 digits */
        "2024-01-01T00:00:00Zx",
        "2024-01-01T00:00:00+0800",
        "2024-01-01T00:00:00+08:00x",
        "2024-01-01T00:00:00+24:00",
        "2024-01-01T00:00:00+08:60",
        "2024-01-01T00:00:00+0a:00",
        "2024-01-01T00:00:00 08:00",
        "20a4-01-01T00:00:00Z",
        "2024/01/01T00:00:00Z",
        "2024-01-01T00-00:00Z",
        "2024-01-01T00:00-00Z",
        "2024-1-01T00:00:00Z",
        "2024-01-01T0:00:00Z",
        "",
        "Z",
        "2024-01-01",
        "2024-01-01T00:00:0aZ",
        "-024-01-01T00:00:00Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t us = 42;
        int rc = of_parse_rfc3339(bad[i], &us);
        CHECK(rc == -1);
        CHECK(us == 42); /* untouched on failure */
        if (rc != -1)
            fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
    }
}

static long u(const char *s)
{
    return of_utf8_invalid_at(s, strlen(s));
}

static void test_utf8(void)
{
    CHECK(u("") == -1);
    CHECK(of_utf8_invalid_at(NULL, 0) == -1);
    CHECK(u("plain ascii") == -1);
    CHECK(of_utf8_invalid_at("a\0b", 3) == -1); /* NUL is valid UTF-8 */
    CHECK(u("h\xC3\xA9llo") == -1);             /* é */
    CHECK(u("\xC2\x80") == -1);                 /* U+0080, smallest 2-byte */
    CHECK(u("\xDF\xBF") == -1);                 /* U+07FF */
    CHECK(u("\xE0\xA0\x80") == -1);             /* U+0800 */
    CHECK(u("王小明") == -1);
    CHECK(u("\xED\x9F\xBF") == -1);     /* U+D7FF, just below the surrogates */
    CHECK(u("\xEE\x80\x80") == -1);     /* U+E000, just above */
    CHECK(u("\xEF\xBF\xBF") == -1);     /* U+FFFF */
    CHECK(u("\xF0\x90\x80\x80") == -1); /* U+10000 */
    CHECK(u("\xF0\x9F\x9A\x9A") == -1); /* 🚚 */
    CHECK(u("\xF4\x8F\xBF\xBF") == -1); /* U+10FFFF */

    CHECK(u("\x80") == 0); /* a lone continuation byte */
    CHECK(u("ab\xBF") == 2);
    CHECK(u("\xC0\x80") == 0);         /* overlong NUL */
    CHECK(u("ab\xC1\xBF") == 2);       /* overlong, 2 bytes */
    CHECK(u("\xE0\x9F\xBF") == 0);     /* overlong, 3 bytes */
    CHECK(u("\xF0\x8F\xBF\xBF") == 0); /* overlong, 4 bytes */
    CHECK(u("x\xED\xA0\x80") == 1);    /* U+D800 */
    CHECK(u("\xED\xBF\xBF") == 0);     /* U+DFFF */
    CHECK(u("\xF4\x90\x80\x80") == 0); /* U+110000 */
    CHECK(u("\xF5\x80\x80\x80") == 0); /* lead byte past U+10FFFF */
    CHECK(u("\xF8\x88\x80\x80\x80") == 0);
    CHECK(u("\xFE") == 0);
    CHECK(u("\xFF") == 0);
    CHECK(u("ok\xE4\xB8") == 2); /* truncated at the end */
    CHECK(u("\xF0\x9F\x9A") == 0);
    CHECK(u("\xC3") == 0);
    CHECK(u("\xE4\x41\xB8") == 0); /* a continuation replaced by ASCII */
    CHECK(u("\xC3\xA9\xC3\xC3\xA9") == 2);
    CHECK(of_utf8_invalid_at("\xC3\xA9", 1) == 0); /* the length is honoured */

    /* ASCII is skipped eight bytes at a time: a bad byte, or a good sequence, at every
     * position of a word, and a bad byte in the tail shorter than a word */
    char buf[40];
    for (size_t at = 0; at < 24; at++) {
        memset(buf, 'a', sizeof buf);
        buf[at] = (char)0xFF;
        CHECK(of_utf8_invalid_at(buf, sizeof buf) == (long)at);
        CHECK(of_utf8_invalid_at(buf, at) == -1);
        memcpy(buf + at, "\xE7\x8E\x8B", 3); /* 王 */
        CHECK(of_utf8_invalid_at(buf, sizeof buf) == -1);
        buf[at + 1] = 'a'; /* its continuation replaced by ASCII */
        CHECK(of_utf8_invalid_at(buf, sizeof buf) == (long)at);
    }
}

/* Regressions found by the fuzzer and review: every refusal reason is valid UTF-8 (it goes
 * into PostgreSQL and JSON logs), header names are case-insensitive, and a content-type with
 * parameters is its media type. */
static void test_regressions(void)
{
    const char *r = decode_n("{\"a\":\"\\\xC3\xA9\"}", 11, NULL, NULL);
    CHECK_HAS(r, "payload is not valid JSON");
    CHECK(of_utf8_invalid_at(r, strlen(r)) == -1);
    char type[256];
    snprintf(type, sizeof type,
             "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"shop/s\","
             "\"type\":\"x%s\",\"time\":\"2026-11-23T09:00:00Z\","
             "\"subject\":\"O1\",\"data\":{}}",
             "订订订订订订订订订订订订订订订订订订订订订订订订订订订订订订订订订订订订订订订订");
    r = decode(type, NULL, NULL);
    CHECK_HAS(r, "unknown event type");
    CHECK(of_utf8_invalid_at(r, strlen(r)) == -1);

    of_event ev;
    bin_reset();
    bin[1] = (of_header){"CE_ID", "b-1", 3};
    CHECK_STR(decode_bin(PAID_DATA, strlen(PAID_DATA), &ev), "ok");
    CHECK_STR(ev.id, "b-1");
    of_event_clear(&ev);
    bin_reset();
    for (size_t i = 0; i < nbin; i++)
        if (strcmp(bin[i].name, "content-type") == 0)
            bin[i] = (of_header){"content-type", "application/json; charset=utf-8", 31};
    CHECK_STR(decode_bin(PAID_DATA, strlen(PAID_DATA), &ev), "ok");
    of_event_clear(&ev);
    for (size_t i = 0; i < nbin; i++)
        if (strcmp(bin[i].name, "content-type") == 0)
            bin[i] = (of_header){"content-type", "application/\xff", 13};
    CHECK_STR(decode_bin(PAID_DATA, strlen(PAID_DATA), NULL),
              "header content-type: must be a UTF-8 string");

    char repaired[] = "ok \xff then cut \xE7\x8E";
    of_utf8_repair(repaired);
    CHECK_STR(repaired, "ok ? then cut ");
}

int main(void)
{
    of_error err = {{0}};
    validator = of_validator_new(&err);
    CHECK(validator != NULL);
    if (!validator) {
        fprintf(stderr, "of_validator_new: %s\n", err.msg);
        return 1;
    }
    test_success_structured();
    test_size_and_bytes();
    test_envelope_and_type();
    test_binary();
    test_rfc3339();
    test_utf8();
    test_regressions();
    of_validator_free(validator);
    of_validator_free(NULL);
    return TEST_DONE();
}
