/* test_log.c — one-line JSON logs and the masking of personal data (common/log.c): each line
 * written by of_log_write is read back from a temporary file standing in for stderr and
 * parsed with jansson. */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "log.h"
#include "of_test.h"

static const char *mask(const char *in, int keep_tail)
{
    static char out[256];
    of_mask(in, keep_tail, out, sizeof out);
    return out;
}

static void test_mask(void)
{
    /* accounts keep their last 4 characters (1 when short, none when tiny) */
    CHECK_STR(mask("6222021234567890", 1), "************7890");
    CHECK_STR(mask("1234567", 1), "***4567");
    CHECK_STR(mask("123456", 1), "*****6");
    CHECK_STR(mask("123", 1), "**3");
    CHECK_STR(mask("12", 1), "**");
    CHECK_STR(mask("1", 1), "*");
    CHECK_STR(mask("", 1), "");
    CHECK_STR(mask("buyer@example.com", 1), "*************.com");
    CHECK_STR(mask("賬戶號碼12345678", 1), "********5678"); /* counted in characters */
    CHECK_STR(mask("12345678賬戶號碼", 1), "********賬戶號碼");

    /* names keep their first character */
    CHECK_STR(mask("王小明", 0), "王**");
    CHECK_STR(mask("歐陽娜娜", 0), "歐***");
    CHECK_STR(mask("王明", 0), "王*");
    CHECK_STR(mask("王", 0), "*");
    CHECK_STR(mask("Li Lei", 0), "L*****");
    CHECK_STR(mask("\xF0\x9F\x98\x80"
                   "ab",
                   0),
              "\xF0\x9F\x98\x80**"); /* 4-byte first char */
    CHECK_STR(mask("", 0), "");

    /* NULL input, no room */
    char out[8] = "xxxxxxx";
    of_mask(NULL, 0, out, sizeof out);
    CHECK_STR(out, "");
    memcpy(out, "xxxxxxx", 8);
    of_mask("王小明", 0, out, 0);
    CHECK_STR(out, "xxxxxxx"); /* outsz 0: nothing written */

    /* any buffer size: NUL-terminated, within the buffer, whole characters only */
    static const char *const inputs[] = {"王小明", "6222021234567890", "歐陽娜娜娜娜娜娜",
                                         "\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        for (size_t sz = 1; sz <= 40; sz++) {
            for (int tail = 0; tail <= 1; tail++) {
                char buf[48];
                memset(buf, '#', sizeof buf);
                of_mask(inputs[i], tail, buf, sz);
                size_t len = strnlen(buf, sz);
                CHECK(len < sz);
                CHECK(buf[sz] == '#'); /* nothing past the buffer */
                CHECK(of_utf8_invalid_at(buf, len) == -1);
            }
        }
    }
}

static void test_levels(void)
{
    of_log_level l = OF_LOG_ERROR;
    CHECK(of_log_level_parse("debug", &l) == 0 && l == OF_LOG_DEBUG);
    CHECK(of_log_level_parse("info", &l) == 0 && l == OF_LOG_INFO);
    CHECK(of_log_level_parse("warn", &l) == 0 && l == OF_LOG_WARN);
    CHECK(of_log_level_parse("error", &l) == 0 && l == OF_LOG_ERROR);
    CHECK(of_log_level_parse("DEBUG", &l) == 0 && l == OF_LOG_DEBUG);
    CHECK(of_log_level_parse("Warn", &l) == 0 && l == OF_LOG_WARN);
    l = OF_LOG_INFO;
    CHECK(of_log_level_parse("warning", &l) == -1);
    CHECK(of_log_level_parse("", &l) == -1);
    CHECK(of_log_level_parse("err", &l) == -1);
    CHECK(of_log_level_parse("debug ", &l) == -1);
    CHECK(l == OF_LOG_INFO); /* untouched on failure */

    of_log_init("test", OF_LOG_WARN);
    CHECK(!of_log_enabled(OF_LOG_DEBUG));
    CHECK(!of_log_enabled(OF_LOG_INFO));
    CHECK(of_log_enabled(OF_LOG_WARN));
    CHECK(of_log_enabled(OF_LOG_ERROR));
    of_log_init("test", OF_LOG_DEBUG);
    CHECK(of_log_enabled(OF_LOG_DEBUG));
}

/* ---- of_log_write, read back -------------------------------------------------------------- */

static char captured[16384];
static size_t captured_len;
static int capture_fd = -1, saved_stderr = -1;

static void capture_start(void)
{
    char path[] = "/tmp/of_test_log.XXXXXX";
    capture_fd = mkstemp(path);
    if (capture_fd < 0)
        return;
    unlink(path);
    saved_stderr = dup(STDERR_FILENO);
    dup2(capture_fd, STDERR_FILENO);
}

/* Restores stderr; returns what was written. */
static const char *capture_end(void)
{
    captured[0] = '\0';
    captured_len = 0;
    if (capture_fd < 0)
        return captured;
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    ssize_t n = pread(capture_fd, captured, sizeof captured - 1, 0);
    close(capture_fd);
    capture_fd = -1;
    captured_len = n > 0 ? (size_t)n : 0;
    captured[captured_len] = '\0';
    return captured;
}

/* What one of_log_write call wrote, as a JSON object (the caller decrefs) — NULL unless it
 * is exactly one line of valid JSON. */
static json_t *one_line(void)
{
    const char *nl = memchr(captured, '\n', captured_len);
    if (!nl || (size_t)(nl - captured) != captured_len - 1) {
        fprintf(stderr, "not one line: %s\n", captured);
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loadb(captured, captured_len - 1, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        fprintf(stderr, "not JSON (%s): %s\n", jerr.text, captured);
    return j;
}

static const char *s(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void test_write(void)
{
    of_log_init("order-worker", OF_LOG_DEBUG);
    struct timespec before;
    clock_gettime(CLOCK_REALTIME, &before);
    capture_start();
    of_log_write(OF_LOG_INFO, NULL, "batch of %d applied in %s", 12, "3 ms");
    capture_end();
    json_t *j = one_line();
    CHECK(j != NULL);
    CHECK(json_object_size(j) == 4);
    CHECK_STR(s(j, "level"), "info");
    CHECK_STR(s(j, "svc"), "order-worker");
    CHECK_STR(s(j, "msg"), "batch of 12 applied in 3 ms");
    const char *ts = s(j, "ts");
    CHECK(ts && strlen(ts) == 24 && ts[23] == 'Z' && ts[19] == '.');
    int64_t us = 0;
    CHECK(ts && of_parse_rfc3339(ts, &us) == 0);
    int64_t now_us = (int64_t)before.tv_sec * 1000000 + before.tv_nsec / 1000;
    CHECK(us >= now_us - 1000 && us < now_us + 60 * 1000000LL);
    json_decref(j);

    /* quotes, backslashes, newlines and other control characters are escaped */
    const char *tricky = "say \"hi\" \\ back\nnext line\ttab\r\x01\x1f end 王小明 🚚";
    capture_start();
    of_log_write(OF_LOG_WARN, NULL, "%s", tricky);
    capture_end();
    CHECK(strchr(captured, '\t') == NULL && strchr(captured, '\r') == NULL);
    CHECK_HAS(captured, "\\n");
    CHECK_HAS(captured, "\\u0001");
    j = one_line();
    CHECK_STR(s(j, "msg"), tricky);
    CHECK_STR(s(j, "level"), "warn");
    json_decref(j);

    /* extra fields */
    capture_start();
    of_log_write(OF_LOG_ERROR, "\"topic\":\"shop.orders\",\"partition\":3", "commit failed");
    capture_end();
    j = one_line();
    CHECK_STR(s(j, "level"), "error");
    CHECK_STR(s(j, "topic"), "shop.orders");
    CHECK(json_integer_value(json_object_get(j, "partition")) == 3);
    json_decref(j);
    capture_start();
    of_log_write(OF_LOG_DEBUG, "", "empty fields");
    capture_end();
    j = one_line();
    CHECK_STR(s(j, "level"), "debug");
    CHECK(json_object_size(j) == 4);
    json_decref(j);

    /* long messages are cut, and the line stays JSON */
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    capture_start();
    of_log_write(OF_LOG_INFO, NULL, "%s", big);
    capture_end();
    j = one_line();
    CHECK(j && strlen(s(j, "msg")) == 2047);
    json_decref(j);
    memset(big, '"', sizeof big - 1); /* escaping doubles it past the line's buffer */
    capture_start();
    of_log_write(OF_LOG_INFO, "\"k\":1", "%s", big);
    capture_end();
    CHECK(captured_len <= 4096);
    j = one_line();
    CHECK(j && strlen(s(j, "msg")) > 1000 && strspn(s(j, "msg"), "\"") == strlen(s(j, "msg")));
    json_decref(j);
    memset(big, '\x02', sizeof big - 1); /* six bytes each once escaped */
    capture_start();
    of_log_write(OF_LOG_INFO, NULL, "%s", big);
    capture_end();
    j = one_line();
    CHECK(j != NULL);
    json_decref(j);
    /* fields too long for the line are left out, not cut */
    char fields[4100];
    snprintf(fields, sizeof fields, "\"f\":\"%04090d\"", 0);
    capture_start();
    of_log_write(OF_LOG_INFO, fields, "short");
    capture_end();
    j = one_line();
    CHECK_STR(s(j, "msg"), "short");
    CHECK(json_object_get(j, "f") == NULL);
    json_decref(j);

    /* the macros check the level first */
    of_log_init("order-worker", OF_LOG_WARN);
    capture_start();
    of_debug("hidden %d", 1);
    of_info("hidden %d", 2);
    of_warn("shown %d", 3);
    capture_end();
    j = one_line();
    CHECK_STR(s(j, "msg"), "shown 3");
    json_decref(j);
    capture_start();
    of_err("a");
    of_err("b");
    capture_end();
    CHECK(captured_len > 0 && captured[captured_len - 1] == '\n');
    CHECK(strchr(captured, '\n') != captured + captured_len - 1); /* two lines */
}

int main(void)
{
    test_mask();
    test_levels();
    test_write();
    return TEST_DONE();
}
