/* rebalance.c — the calls that answer a rebalance (see rebalance.h). */
#include "rebalance.h"

#include <stdbool.h>
#include <string.h>

#include "log.h"

of_rebalance_protocol of_rebalance_protocol_of(const char *name, of_rebalance_protocol *last)
{
    if (name && strcmp(name, "COOPERATIVE") == 0)
        *last = OF_REBALANCE_COOPERATIVE;
    else if (name && strcmp(name, "EAGER") == 0)
        *last = OF_REBALANCE_EAGER;
    return *last;
}

/* Takes (take) or gives up the partitions, by the protocol in use. */
static int hand_over(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *parts, bool take,
                     of_rebalance_protocol *last)
{
    const char *reason = NULL;
    rd_kafka_error_t *ke = NULL;
    if (of_rebalance_protocol_of(rd_kafka_rebalance_protocol(rk), last) ==
        OF_REBALANCE_COOPERATIVE) {
        ke = take ? rd_kafka_incremental_assign(rk, parts)
                  : rd_kafka_incremental_unassign(rk, parts);
        reason = ke ? rd_kafka_error_string(ke) : NULL;
    } else {
        rd_kafka_resp_err_t e = rd_kafka_assign(rk, take ? parts : NULL); /* NULL: all */
        reason = e ? rd_kafka_err2str(e) : NULL;
    }
    if (reason)
        of_warn("kafka refused to %s partitions in a rebalance: %s", take ? "take" : "give up",
                reason);
    if (ke)
        rd_kafka_error_destroy(ke);
    return reason ? -1 : 0;
}

int of_rebalance_assign(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *parts,
                        of_rebalance_protocol *last)
{
    return hand_over(rk, parts, true, last);
}

int of_rebalance_revoke(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *parts,
                        of_rebalance_protocol *last)
{
    return hand_over(rk, parts, false, last);
}
