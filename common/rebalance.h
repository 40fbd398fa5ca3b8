/* rebalance.h — how a consumer hands partitions back and forth in the group's rebalances:
 * by whole assignments (EAGER protocol) or by increments (COOPERATIVE), whichever the group
 * chose. */
#ifndef OF_REBALANCE_H
#define OF_REBALANCE_H

#include <librdkafka/rdkafka.h>

typedef enum { OF_REBALANCE_EAGER, OF_REBALANCE_COOPERATIVE } of_rebalance_protocol;

/* The protocol named by rd_kafka_rebalance_protocol(), kept in *last; when it names none,
 * *last. librdkafka names "NONE" before the consumer has joined, and NULL once the group
 * handle has terminated, which happens inside rd_kafka_consumer_close while the close still
 * serves a revoke (or a late assignment): there the protocol seen last holds. */
of_rebalance_protocol of_rebalance_protocol_of(const char *name, of_rebalance_protocol *last);

/* Takes the assigned partitions (rd_kafka_assign or rd_kafka_incremental_assign, as *last
 * says after the call). 0, or -1 when librdkafka refused (logged). */
int of_rebalance_assign(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *parts,
                        of_rebalance_protocol *last);

/* Gives the revoked partitions up (all of them, or the increment); likewise. */
int of_rebalance_revoke(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *parts,
                        of_rebalance_protocol *last);

#endif
