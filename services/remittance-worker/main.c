/* remittance-worker — applies shop.remittances events (SPEC M1-M8) to PostgreSQL. main()
 * only wires remittance-worker's apply function to the common worker. */
#include "remittance.h"
#include "worker_main.h"

int main(int argc, char **argv)
{
    return of_worker_main(argc, argv, "remittance-worker", OF_TOPIC_REMITTANCES,
                          remittance_apply_batch, 1);
}
