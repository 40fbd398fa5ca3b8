/* static.h — the front end's files (every file below services/dashboard/www/): embedded in the
 * binary at build time, or read from DASHBOARD_WWW_DIR when set (for working on the front end
 * without rebuilding). Any GET outside /api that names no file gets index.html (the page routes).
 */
#ifndef DASH_STATIC_H
#define DASH_STATIC_H

#include <stdbool.h>

#include "http.h"
#include "of_error.h"

/* Start-up: dir "" serves the embedded files; otherwise the folder must exist. */
int dash_static_setup(const char *dir, of_error *err) OF_MUST_CHECK;
/* Answers GET/HEAD of rq->path (decoded) with the file, index.html, or 404. */
void dash_static_serve(dash_req *rq, dash_resp *rs);

/* Content-Type by the file name's extension. */
const char *dash_content_type(const char *path);
/* Whether a decoded URL path is safe to map to a file: starts with '/', no "." or ".."
 * segment, no backslash, no control character. */
bool dash_static_path_ok(const char *path);

#endif
