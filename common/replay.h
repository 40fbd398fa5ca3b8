/* replay.h — replaying dead letters (G4): once the cause of a rejection is fixed (the order
 * it needed now exists, the supervisor is on the roster…), the letter is republished
 * unchanged to the topic it came from, with its key and its headers, and marked replayed
 * (dead_letters.replayed_at). The worker then judges it again like any event: applied, or
 * dead-lettered again as a new letter with the new reason. (source, id) keeps it from
 * applying twice (G2).
 *
 * Used by the dashboard (POST /api/v1/dead-letters/replay) and `orderflow-admin replay`.
 * A letter is skipped, with the reason, when it has been replayed before (its newer letter,
 * if rejected again, is the one to replay), when its event was applied meanwhile, when its
 * payload is not JSON or its topic not an event topic (replaying it could only fail the
 * same way), or when Kafka did not take it. */
#ifndef OF_REPLAY_H
#define OF_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "config.h"
#include "of_error.h"

/* Which letters: ids_json (a JSON array of dl_id strings or numbers) when not NULL, else
 * the filter (each NULL field matches all). */
typedef struct of_replay_filter {
    const char *ids_json;
    const char *topic;
    const char *type;   /* event_type */
    const char *source; /* event_source */
    const char *reason; /* a substring of the reason */
    int replayed;       /* -1 any, 0 not replayed yet, 1 replayed */
    const char *from;   /* received_at >= from (timestamptz text), or NULL */
    const char *to;     /* received_at < to, or NULL */
    long cap;           /* letters taken at most */
} of_replay_filter;

typedef struct of_replay_result {
    long matched;    /* letters selected (≤ cap) */
    long replayed;   /* republished and marked */
    json_t *skipped; /* [{"dl_id": n, "reason": "…"}] — owned; of_replay_result_clear */
    bool capped;     /* more letters matched than cap */
} of_replay_result;

/* Replays the selected letters on conn (in one transaction; the letters are locked so two
 * replays never publish one letter twice) through a producer of its own made from cfg.
 * 0 with *out filled, or -1 with err (nothing marked). */
int of_replay_run(PGconn *conn, const of_config *cfg, const of_replay_filter *f,
                  of_replay_result *out, of_error *err) OF_MUST_CHECK;

void of_replay_result_clear(of_replay_result *out);

#endif
