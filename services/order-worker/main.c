/* order-worker — applies shop.orders events to PostgreSQL (SPEC A0-A21, F1-F4, T1-T2 and
 * the lifecycle). main() only wires order-worker's apply function to the common worker. */
#include "order_apply.h"
#include "worker_main.h"

int main(int argc, char **argv)
{
    /* two lanes: while one waits on PostgreSQL, the other's rules run (tests/bench/run) */
    return of_worker_main(argc, argv, "order-worker", OF_TOPIC_ORDERS, order_apply_batch, 2);
}
