/* test_dashboard_core.c — the dashboard's pure parts, no server or database needed:
 * password hashes (Argon2id), list cursors, route patterns and the route table, cookies,
 * the CSRF and Origin checks, strict integer arguments, typed rows (built with libpq's
 * result constructors) and keyset pages, static file names and types. */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "http.h"
#include "of_test.h"
#include "password.h"
#include "server.h"
#include "static.h"

/* ---- passwords ---- */

static void test_password(void)
{
    char h1[OF_PASSWORD_HASH_MAX], h2[OF_PASSWORD_HASH_MAX];
    of_error err;
    CHECK(of_password_hash("correct horse", h1, sizeof h1, &err) == 0);
    CHECK(strncmp(h1, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    CHECK(of_password_verify(h1, "correct horse") == 1);
    CHECK(of_password_verify(h1, "correct horsE") == 0);
    CHECK(of_password_verify(h1, "") == 0);
    /* a fresh salt each time: the same password hashes differently */
    CHECK(of_password_hash("correct horse", h2, sizeof h2, &err) == 0);
    CHECK(strcmp(h1, h2) != 0);
    CHECK(of_password_verify(h2, "correct horse") == 1);
    /* UTF-8 passwords */
    CHECK(of_password_hash("密碼123", h2, sizeof h2, &err) == 0);
    CHECK(of_password_verify(h2, "密碼123") == 1);
    CHECK(of_password_verify(h2, "密码123") == 0);
    /* refused: empty password, no room */
    CHECK(of_password_hash("", h2, sizeof h2, &err) == -1);
    CHECK_HAS(err.msg, "empty");
    char tiny[20];
    CHECK(of_password_hash("x", tiny, sizeof tiny, &err) == -1);
    /* corrupt hash strings are -1, never a match and never a crash */
    CHECK(of_password_verify("", "x") == -1);
    CHECK(of_password_verify("plain text", "x") == -1);
    CHECK(of_password_verify("$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA", "x") == -1);
    char cut[OF_PASSWORD_HASH_MAX];
    snprintf(cut, sizeof cut, "%.*s", (int)strlen(h1) - 10, h1);
    CHECK(of_password_verify(cut, "correct horse") != 1);
    char bad[OF_PASSWORD_HASH_MAX];
    snprintf(bad, sizeof bad, "%s", h1);
    bad[strlen(bad) - 3] = '!'; /* not base64 */
    CHECK(of_password_verify(bad, "correct horse") == -1);
    /* parameters beyond the bounds are refused before any work (a hash asking for 4 GiB) */
    CHECK(of_password_verify("$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0$"
                             "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
                             "x") == -1);
    CHECK(of_password_verify(NULL, "x") == -1);
}

/* ---- cursors ---- */

static void test_cursor(void)
{
    char c[800], key[128], id[256];
    CHECK(dash_cursor_encode("2026-11-23T01:02:03.123456Z", "o-17", c, sizeof c) == 0);
    CHECK(strspn(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          strlen(c)); /* URL-safe, no padding */
    CHECK(dash_cursor_decode(c, key, sizeof key, id, sizeof id) == 0);
    CHECK_STR(key, "2026-11-23T01:02:03.123456Z");
    CHECK_STR(id, "o-17");
    /* ids with UTF-8 and '|' (split at the first '|': keys never hold one) */
    CHECK(dash_cursor_encode("42", "王|x", c, sizeof c) == 0);
    CHECK(dash_cursor_decode(c, key, sizeof key, id, sizeof id) == 0);
    CHECK_STR(key, "42");
    CHECK_STR(id, "王|x");
    CHECK(dash_cursor_encode("a|b", "1", c, sizeof c) == -1);
    /* every length mod 3 round-trips */
    const char *ids[] = {"1", "12", "123", "1234"};
    for (int i = 0; i < 4; i++) {
        CHECK(dash_cursor_encode("k", ids[i], c, sizeof c) == 0);
        CHECK(dash_cursor_decode(c, key, sizeof key, id, sizeof id) == 0);
        CHECK_STR(id, ids[i]);
    }
    /* rejected */
    CHECK(dash_cursor_decode("", key, sizeof key, id, sizeof id) == -1);
    CHECK(dash_cursor_decode("!!!!", key, sizeof key, id, sizeof id) == -1);
    CHECK(dash_cursor_decode("a+b/", key, sizeof key, id, sizeof id) == -1);   /* not base64url */
    CHECK(dash_cursor_decode("YWJj", key, sizeof key, id, sizeof id) == -1);   /* "abc": no '|' */
    CHECK(dash_cursor_decode("fGlk", key, sizeof key, id, sizeof id) == -1);   /* "|id" */
    CHECK(dash_cursor_decode("a2V5fA", key, sizeof key, id, sizeof id) == -1); /* "key|" */
    CHECK(dash_cursor_decode("YWJjZ", key, sizeof key, id, sizeof id) == -1);  /* length 5 */
    CHECK(dash_cursor_decode("YWJjZB", key, sizeof key, id, sizeof id) == -1); /* stray bits */
    CHECK(dash_cursor_encode("k", "\x01", c, sizeof c) == 0); /* control character */
    CHECK(dash_cursor_decode(c, key, sizeof key, id, sizeof id) == -1);
    CHECK(dash_cursor_encode("k", "\xff\xfe", c, sizeof c) == 0); /* not UTF-8 */
    CHECK(dash_cursor_decode(c, key, sizeof key, id, sizeof id) == -1);
    char longkey[200];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    CHECK(dash_cursor_encode(longkey, "1", c, sizeof c) == 0);
    CHECK(dash_cursor_decode(c, key, sizeof key, id, sizeof id) == -1); /* key too long */
    CHECK(dash_cursor_decode(NULL, key, sizeof key, id, sizeof id) == -1);
}

/* ---- routes ---- */

static void test_route_match(void)
{
    char buf[256];
    const char *p[4];
    int n;
    CHECK(dash_route_match("/api/v1/me", "/api/v1/me", buf, sizeof buf, p, &n) == 1 && n == 0);
    CHECK(dash_route_match("/api/v1/me", "/api/v1/me/", buf, sizeof buf, p, &n) == 0);
    CHECK(dash_route_match("/api/v1/me", "/api/v1/mex", buf, sizeof buf, p, &n) == 0);
    CHECK(dash_route_match("/api/v1/me", "/api/v1", buf, sizeof buf, p, &n) == 0);
    CHECK(dash_route_match("/api/v1/orders/{id}", "/api/v1/orders/o-17", buf, sizeof buf, p, &n) ==
          1);
    CHECK(n == 1);
    CHECK_STR(p[0], "o-17");
    /* URL-decoded, and an encoded '/' stays inside its segment */
    CHECK(dash_route_match("/api/v1/orders/{id}", "/api/v1/orders/a%2Fb%20%E7%8E%8B", buf,
                           sizeof buf, p, &n) == 1);
    CHECK_STR(p[0], "a/b 王");
    CHECK(dash_route_match("/api/v1/orders/{id}", "/api/v1/orders/a/b", buf, sizeof buf, p, &n) ==
          0);
    CHECK(dash_route_match("/api/v1/orders/{id}", "/api/v1/orders/", buf, sizeof buf, p, &n) ==
          0); /* empty segment */
    CHECK(dash_route_match("/api/v1/desk/{order_id}/complete", "/api/v1/desk/r-1/complete", buf,
                           sizeof buf, p, &n) == 1);
    CHECK_STR(p[0], "r-1");
    CHECK(dash_route_match("/api/v1/desk/{order_id}/complete", "/api/v1/desk/r-1/release", buf,
                           sizeof buf, p, &n) == 0);
    CHECK(dash_route_match("/a/{x}/b/{y}", "/a/1/b/2", buf, sizeof buf, p, &n) == 1);
    CHECK(n == 2);
    CHECK_STR(p[0], "1");
    CHECK_STR(p[1], "2");
    /* matches, but the segment does not decode: -1 (answered 400) */
    CHECK(dash_route_match("/api/v1/orders/{id}", "/api/v1/orders/a%2", buf, sizeof buf, p, &n) ==
          -1);
    CHECK(dash_route_match("/api/v1/orders/{id}", "/api/v1/orders/a%zz", buf, sizeof buf, p, &n) ==
          -1);
    CHECK(dash_route_match("/api/v1/orders/{id}", "/api/v1/orders/a%00b", buf, sizeof buf, p, &n) ==
          -1);
    char out[16];
    CHECK(dash_url_decode("a+b%41", 6, out, sizeof out, true) == 0);
    CHECK_STR(out, "a bA");
    CHECK(dash_url_decode("a+b", 3, out, sizeof out, false) == 0);
    CHECK_STR(out, "a+b");
    CHECK(dash_url_decode("0123456789abcdefg", 17, out, sizeof out, false) == -1); /* no room */
}

/* The table itself: every API route is under /api/v1, has a handler, roles unless public,
 * and no METHOD+pattern appears twice (the second would never be reached). */
static void test_route_table(void)
{
    CHECK(dash_routes_count >= 4);
    int login = 0;
    for (size_t i = 0; i < dash_routes_count; i++) {
        const dash_route *r = &dash_routes[i];
        CHECK(r->handler != NULL);
        CHECK(strncmp(r->pattern, "/api/v1/", 8) == 0);
        CHECK((r->flags & DASH_PUBLIC) || (r->roles & DASH_ANY_ROLE));
        CHECK(strcmp(r->method, "GET") == 0 || strcmp(r->method, "POST") == 0 ||
              strcmp(r->method, "PUT") == 0 || strcmp(r->method, "DELETE") == 0 ||
              strcmp(r->method, "PATCH") == 0);
        if (strcmp(r->pattern, "/api/v1/login") == 0)
            login = (r->flags & DASH_PUBLIC) && (r->flags & DASH_NO_CSRF);
        else
            CHECK(!(r->flags & DASH_PUBLIC)); /* only login needs no session */
        for (size_t j = i + 1; j < dash_routes_count; j++)
            CHECK(!(strcmp(r->method, dash_routes[j].method) == 0 &&
                    strcmp(r->pattern, dash_routes[j].pattern) == 0));
    }
    CHECK(login);
}

/* ---- cookies, CSRF, Origin, roles ---- */

static void test_auth_helpers(void)
{
    char v[80];
    CHECK(dash_cookie_get("of_session=abc", "of_session", v, sizeof v) == 1);
    CHECK_STR(v, "abc");
    CHECK(dash_cookie_get("a=1; of_session=abc; b=2", "of_session", v, sizeof v) == 1);
    CHECK_STR(v, "abc");
    CHECK(dash_cookie_get("a=1;of_session = \"q\" ;b=2", "of_session", v, sizeof v) == 1);
    CHECK_STR(v, "q");
    CHECK(dash_cookie_get("xof_session=evil; of_session=good", "of_session", v, sizeof v) == 1);
    CHECK_STR(v, "good");
    CHECK(dash_cookie_get("of_session_old=1", "of_session", v, sizeof v) == 0);
    CHECK(dash_cookie_get("a=1; b=2", "of_session", v, sizeof v) == 0);
    CHECK(dash_cookie_get("of_session", "of_session", v, sizeof v) == 0);
    CHECK(dash_cookie_get("", "of_session", v, sizeof v) == 0);
    CHECK(dash_cookie_get(NULL, "of_session", v, sizeof v) == 0);
    CHECK(dash_cookie_get("of_session=", "of_session", v, sizeof v) == 1);
    CHECK_STR(v, "");
    char small[4];
    CHECK(dash_cookie_get("of_session=toolong", "of_session", small, sizeof small) == 0);

    CHECK(dash_token_equal("abcdef", "abcdef"));
    CHECK(!dash_token_equal("abcdef", "abcdeg"));
    CHECK(!dash_token_equal("abcdef", "abcde"));
    CHECK(!dash_token_equal("abcde", "abcdef"));
    CHECK(!dash_token_equal("", "a"));
    CHECK(dash_token_equal("", ""));
    CHECK(!dash_token_equal(NULL, "a"));
    CHECK(!dash_token_equal("a", NULL));

    CHECK(dash_origin_matches("http://127.0.0.1:8080", "127.0.0.1:8080"));
    CHECK(dash_origin_matches("https://Dash.Example.com", "dash.example.com"));
    CHECK(dash_origin_matches("https://dash.example.com", "dash.example.com:443"));
    CHECK(dash_origin_matches("http://dash.example.com:80", "dash.example.com"));
    CHECK(!dash_origin_matches("http://127.0.0.1:8081", "127.0.0.1:8080"));
    CHECK(!dash_origin_matches("http://evil.example", "127.0.0.1:8080"));
    CHECK(!dash_origin_matches("http://127.0.0.1:8080.evil.example", "127.0.0.1:8080"));
    CHECK(!dash_origin_matches("null", "127.0.0.1:8080"));
    CHECK(!dash_origin_matches("http://127.0.0.1:8080/x", "127.0.0.1:8080"));
    CHECK(!dash_origin_matches("http://127.0.0.1:8080", NULL));

    CHECK(dash_role_bit("staff") == DASH_STAFF);
    CHECK(dash_role_bit("supervisor") == DASH_SUPERVISOR);
    CHECK(dash_role_bit("boss") == 0);
    CHECK(dash_role_bit(NULL) == 0);
    char t[96];
    dash_roles_text(DASH_SUPERVISOR, t, sizeof t);
    CHECK_STR(t, "the supervisor role");
    dash_roles_text(DASH_SUPERVISOR | DASH_OPERATIONS, t, sizeof t);
    CHECK_STR(t, "the supervisor or operations role");
    dash_roles_text(DASH_STAFF | DASH_SUPERVISOR | DASH_OPERATIONS, t, sizeof t);
    CHECK_STR(t, "the staff, supervisor or operations role");
}

/* ---- query integers, request bodies, errors ---- */

static void test_input(void)
{
    long v = 7;
    CHECK(dash_parse_long("50", 1, 200, &v) == 0 && v == 50);
    CHECK(dash_parse_long("1", 1, 200, &v) == 0 && v == 1);
    CHECK(dash_parse_long("200", 1, 200, &v) == 0 && v == 200);
    CHECK(dash_parse_long("0", 1, 200, &v) == -1);
    CHECK(dash_parse_long("201", 1, 200, &v) == -1);
    CHECK(dash_parse_long("-5", 1, 200, &v) == -1);
    CHECK(dash_parse_long("12abc", 1, 200, &v) == -1);
    CHECK(dash_parse_long(" 12", 1, 200, &v) == -1);
    CHECK(dash_parse_long("", 1, 200, &v) == -1);
    CHECK(dash_parse_long(NULL, 1, 200, &v) == -1);
    CHECK(dash_parse_long("99999999999999999999999", 1, 200, &v) == -1);
    CHECK(v == 200); /* untouched by the refusals */

    dash_req rq = {.method = "GET", .path = "/api/v1/x", .body = "", .body_len = 0};
    dash_resp rs = {0};
    /* without a connection every query argument is absent: the default applies */
    CHECK(dash_query(&rq, "limit") == NULL);
    CHECK(dash_query_int(&rq, &rs, "limit", 50, 1, 200, &v) == 0 && v == 50);
    dash_page pg;
    CHECK(dash_page_read(&rq, &rs, &pg) == 0 && pg.limit == 50 && pg.after_key[0] == '\0');

    json_t *o = dash_body_object(&rq, &rs); /* no body: {} */
    CHECK(json_is_object(o) && json_object_size(o) == 0);
    json_decref(o);
    rq.body = "{\"ids\": [1, 2]}";
    rq.body_len = strlen(rq.body);
    o = dash_body_object(&rq, &rs);
    CHECK(json_array_size(json_object_get(o, "ids")) == 2);
    json_decref(o);
    rq.body = "[1]";
    rq.body_len = 3;
    CHECK(dash_body_object(&rq, &rs) == NULL && rs.status == 400);
    CHECK_STR(json_string_value(json_object_get(json_object_get(rs.json, "error"), "message")),
              "the request body must be a JSON object");
    rq.body = "{\"a\":";
    rq.body_len = strlen(rq.body);
    CHECK(dash_body_object(&rq, &rs) == NULL && rs.status == 400);
    CHECK_HAS(json_string_value(json_object_get(json_object_get(rs.json, "error"), "message")),
              "not valid JSON");
    rq.body = "{\"a\":1,\"a\":2}";
    rq.body_len = strlen(rq.body);
    CHECK(dash_body_object(&rq, &rs) == NULL && rs.status == 400);

    dash_error(&rs, 403, "this needs %s", "the supervisor role");
    CHECK(rs.status == 403);
    CHECK(json_integer_value(json_object_get(json_object_get(rs.json, "error"), "status")) == 403);
    CHECK_STR(json_string_value(json_object_get(json_object_get(rs.json, "error"), "message")),
              "this needs the supervisor role");
    dash_error(&rs, 400, "bad byte \xff here"); /* repaired to valid UTF-8, never NULL */
    CHECK(rs.json != NULL);
    dash_raw(&rs, 200, "text/csv; charset=utf-8", strdup("a,b\r\n"), 5);
    CHECK(rs.json == NULL && rs.body_len == 5);
    CHECK_STR(rs.content_type, "text/csv; charset=utf-8");
    free(rs.body);
}

/* ---- typed rows ---- */

static void test_timestamps(void)
{
    char o[40];
    CHECK(dash_ts_iso("2026-11-23 01:02:03.123456+00", o, sizeof o) == 0);
    CHECK_STR(o, "2026-11-23T01:02:03.123456Z");
    CHECK(dash_ts_iso("2026-11-23 01:02:03+00", o, sizeof o) == 0);
    CHECK_STR(o, "2026-11-23T01:02:03.000000Z");
    CHECK(dash_ts_iso("2026-11-23 01:02:03.12+00", o, sizeof o) == 0);
    CHECK_STR(o, "2026-11-23T01:02:03.120000Z");
    /* another session time zone still gives UTC */
    CHECK(dash_ts_iso("2026-11-23 08:02:03.5+08", o, sizeof o) == 0);
    CHECK_STR(o, "2026-11-23T00:02:03.500000Z");
    CHECK(dash_ts_iso("2026-01-01 02:00:00+05:30", o, sizeof o) == 0);
    CHECK_STR(o, "2025-12-31T20:30:00.000000Z");
    CHECK(dash_ts_iso("2026-03-01 00:00:00-01", o, sizeof o) == 0);
    CHECK_STR(o, "2026-03-01T01:00:00.000000Z");
    /* timestamp without time zone (sessions run in UTC) */
    CHECK(dash_ts_iso("2026-11-23 01:02:03.1", o, sizeof o) == 0);
    CHECK_STR(o, "2026-11-23T01:02:03.100000Z");
    CHECK(dash_ts_iso("infinity", o, sizeof o) == -1);
    CHECK(dash_ts_iso("2026-11-23 01:02:03+00 BC", o, sizeof o) == -1);
    CHECK(dash_ts_iso("2026-13-23 01:02:03+00", o, sizeof o) == -1);
    CHECK(dash_ts_iso("2026-11-23", o, sizeof o) == -1);
    CHECK(dash_ts_iso("2026-11-23 01:02:03.+00", o, sizeof o) == -1);
    CHECK(dash_ts_iso(NULL, o, sizeof o) == -1);
}

static json_t *value(const char *text, Oid type)
{
    return dash_value(text, type);
}

static void test_values(void)
{
    json_t *v;
    CHECK(json_is_true(v = value("t", 16)));
    json_decref(v);
    CHECK(json_is_false(v = value("f", 16)));
    json_decref(v);
    CHECK(json_integer_value(v = value("9007199254740993", 20)) == 9007199254740993LL);
    json_decref(v);
    CHECK(json_integer_value(v = value("-7", 23)) == -7);
    json_decref(v);
    CHECK_STR(json_string_value(v = value("12.50", 1700)), "12.50"); /* exact amounts */
    json_decref(v);
    v = value("{\"a\": [1, \"王\"]}", 3802);
    CHECK(json_is_array(json_object_get(v, "a")));
    json_decref(v);
    CHECK_STR(json_string_value(v = value("not json", 114)), "not json");
    json_decref(v);
    CHECK_STR(json_string_value(v = value("2026-11-23 01:02:03.123456+00", 1184)),
              "2026-11-23T01:02:03.123456Z");
    json_decref(v);
    CHECK_STR(json_string_value(v = value("infinity", 1184)), "infinity");
    json_decref(v);
    CHECK_STR(json_string_value(v = value("2026-11-23", 1082)), "2026-11-23"); /* date: as is */
    json_decref(v);
    v = value("{registrar,\"after sales\",NULL,\"NULL\",\"a\\\"b\"}", 1009);
    CHECK(json_array_size(v) == 5);
    CHECK_STR(json_string_value(json_array_get(v, 0)), "registrar");
    CHECK_STR(json_string_value(json_array_get(v, 1)), "after sales");
    CHECK(json_is_null(json_array_get(v, 2)));
    CHECK_STR(json_string_value(json_array_get(v, 3)), "NULL");
    CHECK_STR(json_string_value(json_array_get(v, 4)), "a\"b");
    json_decref(v);
    CHECK(json_array_size(v = value("{}", 1009)) == 0 && json_is_array(v));
    json_decref(v);
    CHECK_STR(json_string_value(v = value("{{a},{b}}", 1009)), "{{a},{b}}"); /* 2-D: text */
    json_decref(v);
    CHECK_STR(json_string_value(v = value("o-17", 25)), "o-17");
    json_decref(v);
    v = value("bad \xff byte", 25);
    CHECK(json_is_string(v)); /* repaired, never NULL */
    json_decref(v);
}

/* A result like SELECT created_at, order_id, total, paid, n FROM … with `rows` rows. */
static PGresult *fake_result(int rows)
{
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc cols[5] = {
        {.name = "created_at", .typid = 1184, .typlen = 8, .atttypmod = -1},
        {.name = "order_id", .typid = 25, .typlen = -1, .atttypmod = -1},
        {.name = "total", .typid = 1700, .typlen = -1, .atttypmod = -1},
        {.name = "paid", .typid = 16, .typlen = 1, .atttypmod = -1},
        {.name = "n", .typid = 23, .typlen = 4, .atttypmod = -1},
    };
    CHECK(PQsetResultAttrs(r, 5, cols));
    for (int i = 0; i < rows; i++) {
        char ts[64], id[16], n[16];
        snprintf(ts, sizeof ts, "2026-11-23 01:02:%02d.5+00", 59 - i);
        snprintf(id, sizeof id, "o-%d", 100 - i);
        snprintf(n, sizeof n, "%d", i);
        CHECK(PQsetvalue(r, i, 0, ts, (int)strlen(ts)));
        CHECK(PQsetvalue(r, i, 1, id, (int)strlen(id)));
        if (i % 2)
            CHECK(PQsetvalue(r, i, 2, NULL, -1)); /* SQL NULL */
        else
            CHECK(PQsetvalue(r, i, 2, "15.00", 5));
        CHECK(PQsetvalue(r, i, 3, i % 2 ? "t" : "f", 1));
        CHECK(PQsetvalue(r, i, 4, n, (int)strlen(n)));
    }
    return r;
}

static void test_rows_and_pages(void)
{
    PGresult *r = fake_result(3);
    json_t *rows = dash_rows(r);
    CHECK(json_array_size(rows) == 3);
    json_t *row0 = json_array_get(rows, 0), *row1 = json_array_get(rows, 1);
    CHECK_STR(json_string_value(json_object_get(row0, "created_at")),
              "2026-11-23T01:02:59.500000Z");
    CHECK_STR(json_string_value(json_object_get(row0, "order_id")), "o-100");
    CHECK_STR(json_string_value(json_object_get(row0, "total")), "15.00");
    CHECK(json_is_null(json_object_get(row1, "total")));
    CHECK(json_is_false(json_object_get(row0, "paid")) &&
          json_is_true(json_object_get(row1, "paid")));
    CHECK(json_integer_value(json_object_get(row1, "n")) == 1);
    json_decref(rows);

    /* a page of 2 from 3 fetched rows (limit + 1): two items and a cursor of the 2nd */
    dash_page pg = {.limit = 2};
    json_t *page = dash_page_result(r, &pg, "created_at", "order_id");
    CHECK(json_array_size(json_object_get(page, "items")) == 2);
    const char *next = json_string_value(json_object_get(page, "next_cursor"));
    CHECK(next != NULL);
    char key[128], id[256];
    CHECK(next && dash_cursor_decode(next, key, sizeof key, id, sizeof id) == 0);
    CHECK_STR(key, "2026-11-23T01:02:58.500000Z");
    CHECK_STR(id, "o-99");
    json_decref(page);

    /* the last page: no cursor */
    pg.limit = 3;
    page = dash_page_result(r, &pg, "created_at", "order_id");
    CHECK(json_array_size(json_object_get(page, "items")) == 3);
    CHECK(json_is_null(json_object_get(page, "next_cursor")));
    json_decref(page);

    /* an integer key works as well */
    pg.limit = 1;
    page = dash_page_result(r, &pg, "n", "order_id");
    next = json_string_value(json_object_get(page, "next_cursor"));
    CHECK(next && dash_cursor_decode(next, key, sizeof key, id, sizeof id) == 0);
    CHECK_STR(key, "0");
    json_decref(page);
    PQclear(r);

    r = fake_result(0);
    pg.limit = 50;
    page = dash_page_result(r, &pg, "created_at", "order_id");
    CHECK(json_array_size(json_object_get(page, "items")) == 0);
    CHECK(json_is_null(json_object_get(page, "next_cursor")));
    json_decref(page);
    PQclear(r);
}

/* ---- static files ---- */

static void test_static(void)
{
    CHECK_STR(dash_content_type("/index.html"), "text/html; charset=utf-8");
    CHECK_STR(dash_content_type("js/app.js"), "text/javascript; charset=utf-8");
    CHECK_STR(dash_content_type("/css/app.css"), "text/css; charset=utf-8");
    CHECK_STR(dash_content_type("i18n/zh-Hant.json"), "application/json; charset=utf-8");
    CHECK_STR(dash_content_type("/favicon.svg"), "image/svg+xml");
    CHECK_STR(dash_content_type("/logo.PNG"), "image/png");
    CHECK_STR(dash_content_type("/x.d/noext"), "application/octet-stream");
    CHECK(dash_static_path_ok("/"));
    CHECK(dash_static_path_ok("/js/app.js"));
    CHECK(dash_static_path_ok("/orders/o-17"));
    CHECK(dash_static_path_ok("/.well-known/x")); /* a dot file name is fine, "." is not */
    CHECK(!dash_static_path_ok("/../etc/passwd"));
    CHECK(!dash_static_path_ok("/js/../../etc/passwd"));
    CHECK(!dash_static_path_ok("/js/.."));
    CHECK(!dash_static_path_ok("/./x"));
    CHECK(!dash_static_path_ok("/a\\..\\b"));
    CHECK(!dash_static_path_ok("relative"));
    CHECK(!dash_static_path_ok("/a\nb"));
    CHECK(!dash_static_path_ok(NULL));
}

int main(void)
{
    test_password();
    test_cursor();
    test_route_match();
    test_route_table();
    test_auth_helpers();
    test_input();
    test_timestamps();
    test_values();
    test_rows_and_pages();
    test_static();
    return TEST_DONE();
}
