/* static.c — serving the front end (see static.h). The embedded files come from
 * common/embed_files.cmake (RECURSE mode: names relative to www/, e.g. "js/app.js", and a
 * parallel array of sizes so binary files such as PNGs keep their NUL bytes). */
#include "static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "schemas_embedded.h"

extern const of_embedded_file dash_www_files[];
extern const size_t dash_www_files_count;
extern const size_t dash_www_files_sizes[];

static char www_root[PATH_MAX]; /* "" = embedded */

static const struct {
    const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
    {".woff2", "font/woff2"},
    {".webmanifest", "application/manifest+json"},
};

const char *dash_content_type(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (dot)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

bool dash_static_path_ok(const char *path)
{
    if (!path || path[0] != '/')
        return false;
    for (const char *p = path; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '\\' || *p == 0x7f)
            return false;
    for (const char *seg = path + 1; *seg;) {
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return false;
        if (!end)
            break;
        seg = end + 1;
    }
    return true;
}

int dash_static_setup(const char *dir, of_error *err)
{
    www_root[0] = '\0';
    if (!dir || !*dir) {
        of_info("front end: %zu embedded files", dash_www_files_count);
        return 0;
    }
    if (!realpath(dir, www_root)) {
        www_root[0] = '\0';
        return of_error_set(err, "DASHBOARD_WWW_DIR %s: %s", dir, strerror(errno));
    }
    struct stat st;
    if (stat(www_root, &st) || !S_ISDIR(st.st_mode)) {
        of_error_set(err, "DASHBOARD_WWW_DIR %s is not a folder", dir);
        www_root[0] = '\0';
        return -1;
    }
    of_info("front end: serving files from %s", www_root);
    return 0;
}

static int embedded(const char *name, dash_resp *rs)
{
    for (size_t i = 0; i < dash_www_files_count; i++) {
        if (strcmp(dash_www_files[i].name, name) != 0)
            continue;
        size_t len = dash_www_files_sizes[i];
        char *copy = malloc(len ? len : 1);
        if (!copy) {
            dash_error(rs, 503, "out of memory");
            return 1;
        }
        memcpy(copy, dash_www_files[i].text, len);
        dash_raw(rs, 200, dash_content_type(name), copy, len);
        return 1;
    }
    return 0;
}

/* 1 when answered (the file, or an error), 0 when there is no such regular file */
static int from_disk(const char *rel, dash_resp *rs)
{
    char path[PATH_MAX], real[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", www_root, rel) >= sizeof path)
        return 0;
    if (!realpath(path, real))
        return 0;
    size_t rl = strlen(www_root);
    if (strncmp(real, www_root, rl) != 0 || real[rl] != '/') /* a link out of the folder */
        return 0;
    int fd = open(real, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > 64 * 1024 * 1024) {
        close(fd);
        return 0;
    }
    size_t len = (size_t)st.st_size, got = 0;
    char *buf = malloc(len ? len : 1);
    while (buf && got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (!buf || got != len) {
        free(buf);
        dash_error(rs, 500, "cannot read %s", rel);
        return 1;
    }
    dash_raw(rs, 200, dash_content_type(real), buf, len);
    return 1;
}

static int serve_file(const char *rel, dash_resp *rs)
{
    return www_root[0] ? from_disk(rel, rs) : embedded(rel, rs);
}

void dash_static_serve(dash_req *rq, dash_resp *rs)
{
    const char *path = rq->path;
    if (!dash_static_path_ok(path)) {
        dash_error(rs, 404, "no such file");
        return;
    }
    const char *rel = path + 1;
    if (*rel && rel[strlen(rel) - 1] != '/' && serve_file(rel, rs))
        return;
    if (serve_file("index.html", rs))
        return;
    dash_error(rs, 404, "the front end is missing (no index.html)");
}
