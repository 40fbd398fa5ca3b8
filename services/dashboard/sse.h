/* sse.h — live updates (GET /api/v1/live, Server-Sent Events). One poller thread with its
 * own PostgreSQL connection reads a cheap fingerprint of each part of the dashboard every
 * DASHBOARD_LIVE_POLL_MS (desk, alerts, breaches, tasks, deadletters); when one changes, its
 * version goes up and every stream sends `event: <part>` with `data: {"version":n,"at":…}`.
 * Streams send `: keepalive` every 15 s and end when the server shuts down. The poller's
 * connection is also the readiness probe (/readyz). */
#ifndef DASH_SSE_H
#define DASH_SSE_H

#include <stdbool.h>

#include "http.h"
#include "of_error.h"

struct MHD_Response;

int dash_live_start(dash_app *app, of_error *err) OF_MUST_CHECK;
/* Ends every stream (they answer end-of-stream at their next wake-up, at once). */
void dash_live_end_streams(void);
/* Ends the streams and joins the poller. */
void dash_live_stop(void);
/* Whether the poller's last query succeeded (PostgreSQL reachable). */
bool dash_live_db_ok(void);
/* A new stream response for a request whose handler set stream_sse (NULL when out of
 * memory). */
struct MHD_Response *dash_live_response(void);

#endif
