/* rebalance.c — the calls that answer a rebalance (see rebalance.h). */
#include "rebalance.h"

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

static int refused(const char *what, const char *reason)
{
    of_warn("kafka refused to %s partitions in a rebalance: %s", what, reason);
    return -1;
}

int of_rebalance_assign(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *parts,
                        of_rebalance_protocol *last)
{
    int rc = 0;
    if (of_rebalance_protocol_of(rd_kafka_rebalance_protocol(rk), last) ==
        OF_REBALANCE_COOPERATIVE) {
        rd_kafka_error_t *ke = rd_kafka_incremental_assign(rk, parts);
        if (ke) {
            rc = refused("take", rd_kafka_error_string(ke));
            rd_kafka_error_destroy(ke);
        }
    } else {
        rd_kafka_resp_err_t e = rd_kafka_assign(rk, parts);
        if (e)
            rc = refused("take", rd_kafka_err2str(e));
    }
    return rc;
}

int of_rebalance_revoke(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *parts,
                        of_rebalance_protocol *last)
{
    int rc = 0;
    if (of_rebalance_protocol_of(rd_kafka_rebalance_protocol(rk), last) ==
        OF_REBALANCE_COOPERATIVE) {
        rd_kafka_error_t *ke = rd_kafka_incremental_unassign(rk, parts);
        if (ke) {
            rc = refused("give up", rd_kafka_error_string(ke));
            rd_kafka_error_destroy(ke);
        }
    } else {
        rd_kafka_resp_err_t e = rd_kafka_assign(rk, NULL);
        if (e)
            rc = refused("give up", rd_kafka_err2str(e));
    }
    return rc;
}
