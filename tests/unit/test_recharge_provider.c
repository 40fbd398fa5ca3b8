/* test_recharge_provider.c — recharge-worker's reading of the provider's answers (SPEC §7,
 * R4: what is "unknown" and suspends), its requests, and the product list of
 * recharge.requested. Needs nothing running. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "of_test.h"
#include "provider.h"
#include "recharge_config.h"

static provider_answer parse(long http, const char *body, bool status_query)
{
    provider_http in = {.http_status = http,
                        .body = body,
                        .len = body ? strlen(body) : 0,
                        .status_query = status_query,
                        .timeout_ms = 5000};
    provider_answer a;
    provider_parse(&in, &a);
    return a;
}

static void test_answers(void)
{
    provider_answer a = parse(200, "{\"status\":\"success\",\"provider_ref\":\"P-1\"}", false);
    CHECK(a.status == PROVIDER_SUCCESS);
    CHECK_STR(a.ref, "P-1");
    a = parse(200, "{\"status\":\"failed\"}", false);
    CHECK(a.status == PROVIDER_FAILED);
    CHECK_STR(a.ref, "");
    a = parse(200, "{\"status\":\"pending\"}", true);
    CHECK(a.status == PROVIDER_PENDING);
    a = parse(200, "{\"status\":\"unknown\"}", false);
    CHECK(a.status == PROVIDER_UNKNOWN);
    CHECK_HAS(a.why, "recharge call: the provider answered unknown");
    a = parse(201, "{\"status\":\"success\"}", false);
    CHECK(a.status == PROVIDER_SUCCESS);
}

static void test_unknown_outcomes(void)
{
    /* 5xx, unreadable answers, strange statuses and other codes are unknown: suspend */
    provider_answer a = parse(500, "{\"status\":\"success\"}", false);
    CHECK(a.status == PROVIDER_UNKNOWN);
    CHECK_HAS(a.why, "HTTP 500");
    a = parse(503, "", true);
    CHECK(a.status == PROVIDER_UNKNOWN);
    CHECK_HAS(a.why, "status query: HTTP 503");
    a = parse(200, "not json", false);
    CHECK(a.status == PROVIDER_UNKNOWN);
    CHECK_HAS(a.why, "unreadable");
    a = parse(200, "{\"status\":42}", false);
    CHECK(a.status == PROVIDER_UNKNOWN);
    a = parse(200, "{\"status\":\"maybe\"}", false);
    CHECK(a.status == PROVIDER_UNKNOWN);
    CHECK_HAS(a.why, "\"maybe\"");
    a = parse(400, "{\"error\":\"bad\"}", false);
    CHECK(a.status == PROVIDER_UNKNOWN);
    /* 404: "no such attempt" only means something to a status query */
    a = parse(404, "{}", true);
    CHECK(a.status == PROVIDER_NOT_FOUND);
    a = parse(404, "{}", false);
    CHECK(a.status == PROVIDER_UNKNOWN);

    provider_http t = {.transport_failed = 1, .timed_out = 1, .timeout_ms = 1500};
    provider_parse(&t, &a);
    CHECK(a.status == PROVIDER_UNKNOWN);
    CHECK_HAS(a.why, "no answer within 1500 ms (time-out)");
    provider_http c = {.transport_failed = 1, .error = "Connection refused", .status_query = true};
    provider_parse(&c, &a);
    CHECK(a.status == PROVIDER_UNKNOWN);
    CHECK_STR(a.why, "status query: no answer (Connection refused)");
    CHECK_STR(provider_status_name(PROVIDER_NOT_FOUND), "not_found");
    CHECK_STR(provider_status_name(PROVIDER_UNKNOWN), "unknown");
}

static void test_requests(void)
{
    char url[128];
    CHECK(provider_url("http://p:8090", NULL, url, sizeof url) == 0);
    CHECK_STR(url, "http://p:8090/recharge");
    CHECK(provider_url("http://p:8090//", "CZ1-1", url, sizeof url) == 0);
    CHECK_STR(url, "http://p:8090/recharge/CZ1-1");
    CHECK(provider_url("http://p:8090", "CZ1-1", url, 20) == -1);

    char *body = provider_request_body("CZ1-1", "CZ1", "13800138000", "mobile-50", "50.00");
    json_t *j = json_loads(body, 0, NULL);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "attempt_id")), "CZ1-1");
    CHECK_STR(json_string_value(json_object_get(j, "order_id")), "CZ1");
    CHECK_STR(json_string_value(json_object_get(j, "account")), "13800138000");
    CHECK_STR(json_string_value(json_object_get(j, "product")), "mobile-50");
    CHECK_STR(json_string_value(json_object_get(j, "face_value")), "50.00");
    CHECK(json_object_size(j) == 5);
    json_decref(j);
    free(body);
}

static void test_products(void)
{
    rc_config cfg;
    memset(&cfg, 0, sizeof cfg);
    strcpy(cfg.products, "mobile-10, mobile-50 ,game-card");
    CHECK(rc_product_known(&cfg, "mobile-50"));
    CHECK(rc_product_known(&cfg, "mobile-10"));
    CHECK(rc_product_known(&cfg, "game-card"));
    CHECK(!rc_product_known(&cfg, "mobile-5"));
    CHECK(!rc_product_known(&cfg, "mobile-500"));
    CHECK(!rc_product_known(&cfg, ""));
    strcpy(cfg.products, "*");
    CHECK(rc_product_known(&cfg, "anything"));
    strcpy(cfg.products, "");
    CHECK(!rc_product_known(&cfg, "mobile-50"));
}

static void test_config_defaults(void)
{
    unsetenv("RECHARGE_CONCURRENCY");
    unsetenv("RECHARGE_PROCESSOR_NAME");
    rc_config cfg;
    of_error err;
    CHECK(rc_config_load(&cfg, &err) == 0);
    CHECK(cfg.concurrency == 256);
    CHECK(cfg.idle_poll_ms <= 100);
    CHECK(cfg.processor[0] != '\0');
    CHECK(rc_product_known(&cfg, "mobile-50"));
    setenv("RECHARGE_IDLE_POLL_MS", "250", 1);
    CHECK(rc_config_load(&cfg, &err) == -1);
    CHECK_HAS(err.msg, "RECHARGE_IDLE_POLL_MS must be a whole number from 1 to 100");
    unsetenv("RECHARGE_IDLE_POLL_MS");
}

int main(void)
{
    test_answers();
    test_unknown_outcomes();
    test_requests();
    test_products();
    test_config_defaults();
    return TEST_DONE();
}
