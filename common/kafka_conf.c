/* kafka_conf.c — librdkafka configuration from the environment (see kafka_conf.h). */
#include "kafka_conf.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

extern char **environ;

int of_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, of_error *err)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        return of_error_set(err, "Kafka property %s: %s", name, errstr);
    return 0;
}

static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= 3)
        of_err("kafka %s: %s", fac, buf);
    else if (level <= 4)
        of_warn("kafka %s: %s", fac, buf);
    else
        of_debug("kafka %s: %s", fac, buf);
}

rd_kafka_t *of_producer_new(const of_config *cfg, const char *const *defaults, of_delivery_fn dr,
                            void *opaque, const char *what, of_error *err)
{
    rd_kafka_conf_t *conf = of_kafka_conf_new(cfg, defaults, err);
    if (!conf)
        return NULL;
    rd_kafka_conf_set_opaque(conf, opaque);
    if (dr)
        rd_kafka_conf_set_dr_msg_cb(conf, dr);
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf); /* not taken by a failed rd_kafka_new */
        of_error_set(err, "cannot create %s: %s", what, errstr);
        return NULL;
    }
    return rk; /* conf is now owned by rk */
}

rd_kafka_conf_t *of_kafka_conf_new(const of_config *cfg, const char *const *defaults, of_error *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    if (of_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka_bootstrap, err))
        goto fail;
    for (const char *const *d = defaults; d && d[0] && d[1]; d += 2)
        if (of_kafka_conf_set(conf, d[0], d[1], err))
            goto fail;
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "KAFKA_", 6) != 0 || strncmp(*e, "KAFKA_BOOTSTRAP=", 16) == 0 ||
            strncmp(*e, "KAFKA_GROUP_ID=", 15) == 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (!eq || eq - *e - 6 <= 0 || eq - *e - 6 >= 128)
            continue;
        char name[128];
        size_t n = (size_t)(eq - *e - 6);
        for (size_t i = 0; i < n; i++) {
            char c = (*e)[6 + i];
            name[i] = c == '_' ? '.' : (char)tolower((unsigned char)c);
        }
        name[n] = '\0';
        /* An unknown name is skipped, not fatal: the environment holds KAFKA_* variables
         * that are not ours (Kubernetes' service links such as KAFKA_PORT, the broker's
         * KAFKA_HEAP_OPTS). A known property with a bad value is fatal. */
        char errstr[512];
        rd_kafka_conf_res_t res = rd_kafka_conf_set(conf, name, eq + 1, errstr, sizeof errstr);
        if (res == RD_KAFKA_CONF_UNKNOWN) {
            of_warn("ignoring %.*s: %s is not a librdkafka property", (int)(eq - *e), *e, name);
            continue;
        }
        if (res != RD_KAFKA_CONF_OK) {
            of_error_set(err, "from %.*s: Kafka property %s: %s", (int)(eq - *e), *e, name, errstr);
            goto fail;
        }
        of_info("kafka property %s set from the environment", name);
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}
