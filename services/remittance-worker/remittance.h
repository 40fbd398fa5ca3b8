/* remittance.h — the remittance flow of SPEC M1-M8 (rule book part 5, 匯款流程), applied
 * by remittance-worker: registration of a remittance order (M1) and the closing of its shop
 * order or of a duplicate one (M5), the buyer's notice (M2), the supervisor's verification
 * (M4), shipping (M6) and the supervisor's review of a day (M8). Each event runs under an
 * SQL savepoint: a rejected event leaves nothing behind. */
#ifndef REMITTANCE_H
#define REMITTANCE_H

#include "consumer.h"
#include "db.h"

/* The of_apply_fn of remittance-worker. */
int remittance_apply_batch(void *cfg, of_db *db, of_batch *batch, of_error *err);

/* ---- remittance_store.c: all SQL of remittance-worker ------------------------------ */

/* The remittance row as JSON (locked FOR UPDATE), NULL when unknown; -1 on a DB error. */
int rstore_get(of_db *db, const char *remit_id, json_t **row, of_error *err) OF_MUST_CHECK;
int rstore_insert(of_db *db, const of_item *it, of_error *err) OF_MUST_CHECK;
/* Sets columns of a remittance from a JSON object of column -> text value. */
int rstore_update(of_db *db, const char *remit_id, json_t *set, of_error *err) OF_MUST_CHECK;
/* The role of a staff member, or "" when not on the roster; -1 on a DB error. */
int rstore_role(of_db *db, const char *name, char *role, size_t rolesz,
                of_error *err) OF_MUST_CHECK;
/* Serializes work on one buyer across workers (their orders and remittances, M5). */
int rstore_lock_buyer(of_db *db, const char *buyer, of_error *err) OF_MUST_CHECK;
/* The shop order (locked) as JSON {order_id, buyer_id, state, closed}, NULL when unknown. */
int rstore_order(of_db *db, const char *order_id, json_t **row, of_error *err) OF_MUST_CHECK;
/* An open, unpaid shop order of the buyer with the same items (M5), NULL when none. */
int rstore_duplicate_order(of_db *db, const char *buyer, const json_t *items, json_t **row,
                           of_error *err) OF_MUST_CHECK;
/* Closes a shop order and notes it with a catalogue note (key, params stolen). */
int rstore_close_order(of_db *db, const of_item *it, const char *order_id, const char *reason,
                       const char *key, const char *author, json_t *params,
                       of_error *err) OF_MUST_CHECK;
int rstore_review(of_db *db, const char *day, const char *supervisor, const char *at,
                  char *already_by, size_t bysz, of_error *err) OF_MUST_CHECK;

#endif
