/* consumer.h — the consumer loop, written once for every worker. It owns librdkafka's
 * consumer API: poll a batch, decode and validate each message (event.h), drop events
 * already applied (G2), hand the rest to the worker's apply function inside one PostgreSQL
 * transaction, record dead letters (G4), store the next offsets in the same transaction
 * (G1), publish dead letters to shop.deadletter, commit, and only then move on. A failed
 * batch is rolled back and retried with backoff (G5); SIGTERM finishes the batch first.
 * Partitions are assigned at the offsets stored in PostgreSQL, never Kafka's. */
#ifndef OF_CONSUMER_H
#define OF_CONSUMER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "db.h"
#include "event.h"
#include "of_error.h"

typedef enum {
    OF_ITEM_PENDING,   /* valid and new: the worker applies it */
    OF_ITEM_APPLIED,   /* the worker applied it */
    OF_ITEM_REJECTED,  /* valid, but a rule refused it: dead letter, nothing applied */
    OF_ITEM_INVALID,   /* not a valid event: dead letter */
    OF_ITEM_DUPLICATE, /* (source, id) was applied before: skipped */
} of_item_state;

/* A message's own bytes, copied when it is decoded so librdkafka's buffers (whole fetched
 * message sets) are given back at once: what its dead letter needs. One allocation. */
typedef struct of_raw_message {
    const void *key; /* NULL: the message had none */
    size_t key_len;
    const void *value;
    size_t len;
    of_header *headers; /* all of them, in order; a value may be NULL */
    size_t nheaders;
} of_raw_message;

typedef struct of_item {
    of_item_state state;
    of_event ev; /* decoded event, unless INVALID */
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t published_ms; /* the message's Kafka timestamp */
    char reason[OF_ERROR_MAX];
    void *msg;           /* the rd_kafka_message_t until it is decoded, then NULL */
    of_raw_message *raw; /* after decoding: the message's bytes (NULL if out of memory) */
} of_item;

typedef struct of_batch {
    of_item *items;
    size_t n;
    bool recorded; /* of_batch_record_start was called (reset for each attempt) */
} of_batch;

/* A rule refused this event: it is dead-lettered with the reason, nothing of it applied. */
void of_item_reject(of_item *it, const char *fmt, ...) OF_PRINTF(2, 3);

/* Applies the PENDING items of a batch, in order, inside the open transaction. Items left
 * PENDING count as applied. Returns 0, or -1 with err on a database error (the loop rolls
 * back and retries the whole batch, so the function must not keep state across calls). */
typedef int (*of_apply_fn)(void *ctx, of_db *db, of_batch *batch, of_error *err);

/* For an apply function that reads (and locks) what the batch needs, then computes in C
 * before it writes: called between the two, it records the batch's PENDING events in
 * applied_events with a COPY that PostgreSQL runs while the worker computes (the loop
 * otherwise records them after apply). Events the worker then rejects are taken out of
 * applied_events again before the commit. Not under a savepoint. 0, or -1 with err. */
int of_batch_record_start(of_db *db, of_batch *batch, of_error *err) OF_MUST_CHECK;

/* For workers that apply an event with plain statements: runs fn(ctx, db, it, err) under an
 * SQL savepoint, rolled back when fn rejected the item (nothing of it stays), released
 * otherwise. -1 only on a database error. */
typedef int (*of_item_fn)(void *ctx, of_db *db, of_item *it, of_error *err);
int of_item_under_savepoint(of_db *db, of_item *it, of_item_fn fn, void *ctx,
                            of_error *err) OF_MUST_CHECK;

typedef struct of_consumer_spec {
    const char *service; /* "order-worker": group orderflow-<service> unless KAFKA_GROUP_ID */
    const char *topic;
    of_apply_fn apply;
    void *ctx; /* shared by the lanes: apply must be safe to call from several threads */
    int lanes; /* lanes unless CONSUMER_LANES says otherwise; 0 means 1 */
} of_consumer_spec;

/* One batch's transaction exactly as the loop runs it (BEGIN, fence, dedupe, apply, dead
 * letters recorded, applied events and offsets, COMMIT), without Kafka: for benchmarks and
 * tests that feed decoded items directly. Dead letters are stored but not published. Items
 * end APPLIED, REJECTED, INVALID or DUPLICATE. 0, or -1 with err after a rollback. */
int of_batch_commit(of_db *db, const char *group, const char *topic, of_apply_fn apply, void *ctx,
                    of_batch *batch, of_error *err) OF_MUST_CHECK;

/* Runs the lanes (CONSUMER_LANES, else spec->lanes: consumers of the group, each a thread
 * with its own Kafka consumer and PostgreSQL session) until *stop becomes non-zero. 0 after
 * a clean stop (batches finished, committed, group left); -1 with err when start-up fails
 * or a last batch could not be committed. A lane that fails sets *stop for the others. */
int of_consumer_run(const of_config *cfg, const of_consumer_spec *spec, volatile sig_atomic_t *stop,
                    of_error *err);

#endif
