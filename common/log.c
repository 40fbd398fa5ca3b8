/* log.c — one-line JSON logging (see log.h). Lines are written with a single write(2) so
 * lines from several threads never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *log_service = "orderflow";
static of_log_level log_min = OF_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void of_log_init(const char *service, of_log_level min_level)
{
    log_service = service;
    log_min = min_level;
}

int of_log_level_parse(const char *s, of_log_level *out)
{
    for (int i = 0; i <= OF_LOG_ERROR; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (of_log_level)i;
            return 0;
        }
    }
    return -1;
}

int of_log_enabled(of_log_level level)
{
    return level >= log_min;
}

/* Appends s to buf as JSON string content (no quotes). Returns the new length. */
static size_t json_escape(char *buf, size_t len, size_t cap, const char *s)
{
    for (; *s && len + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[len++] = '\\';
            buf[len++] = (char)c;
        } else if (c == '\n') {
            buf[len++] = '\\';
            buf[len++] = 'n';
        } else if (c < 0x20) {
            len += (size_t)snprintf(buf + len, cap - len, "\\u%04x", c);
        } else {
            buf[len++] = (char)c;
        }
    }
    return len;
}

void of_log_write(of_log_level level, const char *fields, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    of_utf8_repair(msg); /* a log line is JSON: valid UTF-8 only */

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);

    char line[4096];
    size_t len =
        (size_t)snprintf(line, sizeof line,
                         "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\","
                         "\"svc\":\"%s\",\"msg\":\"",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], log_service);
    len = json_escape(line, len, sizeof line - 4, msg);
    line[len++] = '"';
    if (fields && *fields) {
        size_t fl = strlen(fields);
        if (len + fl + 4 < sizeof line) {
            line[len++] = ',';
            memcpy(line + len, fields, fl);
            len += fl;
        }
    }
    line[len++] = '}';
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void of_mask(const char *in, int keep_tail, char *out, size_t outsz)
{
    if (!outsz)
        return;
    out[0] = '\0';
    if (!in)
        return;
    /* count code points */
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++)
        if ((*p & 0xC0) != 0x80)
            n++;
    size_t keep_head = keep_tail ? 0 : (n > 1 ? 1 : 0);
    size_t keep_end = keep_tail ? (n > 6 ? 4 : (n > 2 ? 1 : 0)) : 0;
    size_t cp = 0, o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 5 < outsz;) {
        size_t clen = 1;
        while (clen < 4 && (p[clen] & 0xC0) == 0x80)
            clen++;
        if (cp < keep_head || cp >= n - keep_end) {
            if (o + clen + 1 > outsz)
                break;
            memcpy(out + o, p, clen);
            o += clen;
        } else {
            out[o++] = '*';
        }
        p += clen;
        cp++;
    }
    out[o] = '\0';
    of_utf8_repair(out);
}
