/* orderflow-admin — operator commands.
 *   orderflow-admin create-topics [--partitions N]   create the topics of SPEC §2 (idempotent) */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_types.h"
#include "kafka_conf.h"
#include "log.h"

static int create_topics(const of_config *cfg, int partitions)
{
    struct {
        const char *name;
        int partitions;
    } topics[] = {{OF_TOPIC_ORDERS, partitions},
                  {OF_TOPIC_RECHARGES, partitions},
                  {OF_TOPIC_REMITTANCES, partitions},
                  {OF_TOPIC_DEADLETTER, partitions},
                  {OF_TOPIC_ALERTS, 1}};
    enum { NT = sizeof topics / sizeof topics[0] };
    of_error err;
    rd_kafka_conf_t *conf = of_kafka_conf_new(cfg, NULL, &err);
    if (!conf) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "cannot create a Kafka client: %s\n", errstr);
        return 1;
    }
    rd_kafka_NewTopic_t *nt[NT];
    for (int i = 0; i < NT; i++) {
        nt[i] =
            rd_kafka_NewTopic_new(topics[i].name, topics[i].partitions, 1, errstr, sizeof errstr);
        if (strcmp(topics[i].name, OF_TOPIC_DEADLETTER) == 0)
            rd_kafka_NewTopic_set_config(nt[i], "max.message.bytes", "2097152");
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opt, 30000, errstr, sizeof errstr);
    rd_kafka_CreateTopics(rk, nt, NT, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    int rc = 0;
    if (!ev || rd_kafka_event_error(ev)) {
        fprintf(stderr, "create-topics failed: %s\n",
                ev ? rd_kafka_event_error_string(ev) : "no answer from Kafka within 60 s");
        rc = 1;
    } else {
        size_t cnt;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        for (size_t i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
            const char *name = rd_kafka_topic_result_name(res[i]);
            if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                printf("topic %s exists\n", name);
            else if (e) {
                fprintf(stderr, "topic %s: %s\n", name, rd_kafka_topic_result_error_string(res[i]));
                rc = 1;
            } else
                printf("topic %s created\n", name);
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_NewTopic_destroy_array(nt, NT);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

int main(int argc, char **argv)
{
    of_log_init("admin", OF_LOG_WARN);
    of_config cfg;
    of_error err;
    if (of_config_load(&cfg, &err)) {
        fprintf(stderr, "bad configuration: %s\n", err.msg);
        return 2;
    }
    if (argc >= 2 && strcmp(argv[1], "create-topics") == 0) {
        int partitions = 6;
        if (argc == 4 && strcmp(argv[2], "--partitions") == 0)
            partitions = atoi(argv[3]);
        if (partitions < 1 || partitions > 1000) {
            fprintf(stderr, "--partitions takes a number from 1 to 1000\n");
            return 2;
        }
        return create_topics(&cfg, partitions);
    }
    fprintf(stderr, "usage: orderflow-admin create-topics [--partitions N]\n");
    return 2;
}
