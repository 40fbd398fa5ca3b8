/* test_rebalance.c — common/rebalance.c against librdkafka's own group protocol (its mock
 * cluster, in process): a cooperative group takes and gives up increments, an eager one
 * whole assignments; after rd_kafka_consumer_close librdkafka names no protocol (NULL), and
 * the calls still answer with the protocol seen last (a worker crashed on that NULL when a
 * revoke reached a lane inside its close); a refused call is reported. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "of_test.h"
#include "rebalance.h"

#define TOPIC "orders"
#define PARTITIONS 4

typedef struct member {
    rd_kafka_t *rk;
    of_rebalance_protocol last;
    int assigns, revokes, failures;
} member;

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    member *m = opaque;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        m->assigns++;
        m->failures += of_rebalance_assign(rk, parts, &m->last) != 0;
    } else {
        m->revokes++;
        m->failures += of_rebalance_revoke(rk, parts, &m->last) != 0;
    }
}

static int assigned(rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(rk, &parts) || !parts)
        return -1;
    int n = parts->cnt;
    rd_kafka_topic_partition_list_destroy(parts);
    return n;
}

/* A member of `group` subscribed to TOPIC with `strategy`; last starts at the other
 * protocol than the group will name, so the check below sees librdkafka's name win. */
static void join(member *m, const char *bootstraps, const char *group, const char *strategy,
                 of_rebalance_protocol start)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *props[][2] = {{"bootstrap.servers", bootstraps},
                              {"group.id", group},
                              {"partition.assignment.strategy", strategy},
                              {"auto.offset.reset", "earliest"},
                              {"session.timeout.ms", "6000"},
                              {"heartbeat.interval.ms", "500"}};
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
        CHECK(rd_kafka_conf_set(conf, props[i][0], props[i][1], err, sizeof err) ==
              RD_KAFKA_CONF_OK);
    *m = (member){.last = start};
    rd_kafka_conf_set_opaque(conf, m);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    m->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    CHECK(m->rk != NULL);
    rd_kafka_poll_set_consumer(m->rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, TOPIC, RD_KAFKA_PARTITION_UA);
    CHECK(rd_kafka_subscribe(m->rk, topics) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(topics);
    int64_t deadline = of_mono_ms() + 30000;
    while (assigned(m->rk) < PARTITIONS && of_mono_ms() < deadline) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(m->rk, 100);
        if (msg)
            rd_kafka_message_destroy(msg);
    }
}

static rd_kafka_topic_partition_list_t *partition_list(int partition)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, TOPIC, partition);
    return parts;
}

static void test_protocol_names(void)
{
    of_rebalance_protocol last = OF_REBALANCE_EAGER;
    CHECK(of_rebalance_protocol_of("COOPERATIVE", &last) == OF_REBALANCE_COOPERATIVE);
    CHECK(last == OF_REBALANCE_COOPERATIVE);
    CHECK(of_rebalance_protocol_of("NONE", &last) == OF_REBALANCE_COOPERATIVE); /* not joined */
    CHECK(of_rebalance_protocol_of(NULL, &last) == OF_REBALANCE_COOPERATIVE);   /* closed */
    CHECK(of_rebalance_protocol_of("EAGER", &last) == OF_REBALANCE_EAGER);
    CHECK(last == OF_REBALANCE_EAGER);
    CHECK(of_rebalance_protocol_of(NULL, &last) == OF_REBALANCE_EAGER);
    CHECK(of_rebalance_protocol_of("", &last) == OF_REBALANCE_EAGER);
}

/* A cooperative member takes all partitions by increments, gives them up in its close, and
 * answers a revoke after the close (no protocol named any more) as it did before. */
static void test_cooperative(const char *bootstraps)
{
    member m;
    join(&m, bootstraps, "coop", "cooperative-sticky", OF_REBALANCE_EAGER);
    CHECK(assigned(m.rk) == PARTITIONS);
    CHECK(m.assigns >= 1);
    CHECK(m.last == OF_REBALANCE_COOPERATIVE);
    CHECK_STR(rd_kafka_rebalance_protocol(m.rk), "COOPERATIVE");

    /* refused: giving up a partition the member does not hold */
    rd_kafka_topic_partition_list_t *stranger = partition_list(PARTITIONS + 3);
    CHECK(of_rebalance_revoke(m.rk, stranger, &m.last) == -1);
    rd_kafka_topic_partition_list_destroy(stranger);

    CHECK(rd_kafka_consumer_close(m.rk) == RD_KAFKA_RESP_ERR_NO_ERROR);
    CHECK(m.revokes >= 1);
    CHECK(m.failures == 0);
    CHECK(assigned(m.rk) <= 0);                       /* nothing held, or no group left to ask */
    CHECK(rd_kafka_rebalance_protocol(m.rk) == NULL); /* what crashed the worker */
    rd_kafka_topic_partition_list_t *late = partition_list(0);
    CHECK(of_rebalance_revoke(m.rk, late, &m.last) == 0);
    CHECK(of_rebalance_assign(m.rk, late, &m.last) == 0);
    CHECK(m.last == OF_REBALANCE_COOPERATIVE);
    rd_kafka_topic_partition_list_destroy(late);
    rd_kafka_destroy(m.rk);
}

/* An eager member takes and gives up whole assignments, before and after its close. */
static void test_eager(const char *bootstraps)
{
    member m;
    join(&m, bootstraps, "eager", "range", OF_REBALANCE_COOPERATIVE);
    CHECK(assigned(m.rk) == PARTITIONS);
    CHECK(m.last == OF_REBALANCE_EAGER);
    CHECK_STR(rd_kafka_rebalance_protocol(m.rk), "EAGER");
    CHECK(rd_kafka_consumer_close(m.rk) == RD_KAFKA_RESP_ERR_NO_ERROR);
    CHECK(m.revokes >= 1);
    CHECK(m.failures == 0);
    CHECK(assigned(m.rk) <= 0); /* nothing held, or no group left to ask */
    CHECK(rd_kafka_rebalance_protocol(m.rk) == NULL);
    rd_kafka_topic_partition_list_t *late = partition_list(1);
    CHECK(of_rebalance_revoke(m.rk, late, &m.last) == 0);
    CHECK(m.last == OF_REBALANCE_EAGER);
    rd_kafka_topic_partition_list_destroy(late);
    rd_kafka_destroy(m.rk);
}

int main(void)
{
    of_log_init("test_rebalance", OF_LOG_ERROR);
    test_protocol_names();

    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "4", err, sizeof err); /* it has no brokers to reach */
    rd_kafka_t *owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    CHECK(owner != NULL);
    rd_kafka_mock_cluster_t *cluster = owner ? rd_kafka_mock_cluster_new(owner, 1) : NULL;
    CHECK(cluster != NULL);
    if (cluster) {
        CHECK(rd_kafka_mock_topic_create(cluster, TOPIC, PARTITIONS, 1) ==
              RD_KAFKA_RESP_ERR_NO_ERROR);
        const char *bootstraps = rd_kafka_mock_cluster_bootstraps(cluster);
        test_cooperative(bootstraps);
        test_eager(bootstraps);
        rd_kafka_mock_cluster_destroy(cluster);
    }
    if (owner)
        rd_kafka_destroy(owner);
    return TEST_DONE();
}
