/* log.h — one-line JSON logs on stderr: {"ts":"…","level":"info","svc":"order-worker",
 * "msg":"…", …}. The level is checked before anything is formatted. Personal data
 * (accounts, real names) must go through of_mask() before it reaches a log line. */
#ifndef OF_LOG_H
#define OF_LOG_H

#include <stddef.h>
#include "of_error.h"

typedef enum { OF_LOG_DEBUG, OF_LOG_INFO, OF_LOG_WARN, OF_LOG_ERROR } of_log_level;

void of_log_init(const char *service, of_log_level min_level);
int of_log_level_parse(const char *s, of_log_level *out);
int of_log_enabled(of_log_level level);

/* fields: NULL, or a pre-formatted JSON fragment such as "\"topic\":\"shop.orders\"". */
void of_log_write(of_log_level level, const char *fields, const char *fmt, ...) OF_PRINTF(3, 4);

#define OF_LOG(level, ...)                                                                         \
    do {                                                                                           \
        if (of_log_enabled(level))                                                                 \
            of_log_write(level, NULL, __VA_ARGS__);                                                \
    } while (0)
#define of_debug(...) OF_LOG(OF_LOG_DEBUG, __VA_ARGS__)
#define of_info(...) OF_LOG(OF_LOG_INFO, __VA_ARGS__)
#define of_warn(...) OF_LOG(OF_LOG_WARN, __VA_ARGS__)
#define of_err(...) OF_LOG(OF_LOG_ERROR, __VA_ARGS__)

/* Masks personal data for logs and non-supervisors: keeps the last 4 characters of an
 * account ("6222****1234"), the first of a name ("王**"). Works on UTF-8 code points. */
void of_mask(const char *in, int keep_tail, char *out, size_t outsz);

#endif
