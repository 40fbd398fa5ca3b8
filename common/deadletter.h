/* deadletter.h — the dead-letter path (G4): a message that is not applied is recorded in
 * the dead_letters table (in the batch's transaction, once per topic/partition/offset) and
 * republished unchanged to shop.deadletter with headers saying why (of_reason) and where it
 * came from (of_topic, of_partition, of_offset), its own headers kept so it can be replayed. */
#ifndef OF_DEADLETTER_H
#define OF_DEADLETTER_H

#include "config.h"
#include "consumer.h"
#include "db.h"
#include "of_error.h"

typedef struct of_deadletter of_deadletter;

of_deadletter *of_deadletter_new(const of_config *cfg, of_error *err);
void of_deadletter_free(of_deadletter *dl); /* flushes; NULL allowed */

/* Inserts the item (INVALID or REJECTED) into dead_letters: 1 when the row is new, 0 when the
 * message was recorded before (a redelivery), -1 with err on a database error. */
int of_deadletter_store(of_db *db, const of_item *it, of_error *err) OF_MUST_CHECK;

/* Queues the item on shop.deadletter; of_deadletter_flush waits for the broker's acks. */
int of_deadletter_publish(of_deadletter *dl, const of_item *it, of_error *err) OF_MUST_CHECK;
int of_deadletter_flush(of_deadletter *dl, int timeout_ms, of_error *err) OF_MUST_CHECK;

#endif
