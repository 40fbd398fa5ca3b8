/* test_examples.c — the shared contract examples (tests/events, see its README): every file
 * in valid/ must decode with of_event_decode and every file in invalid/ must not, exactly as
 * ajv judges them in tests/schema/check.mjs. Each refusal is printed with its file name, so
 * the reasons a shop would read can be reviewed in one place. Run from the repository root
 * (ctest does). */
#include <dirent.h>
#include <stdlib.h>

#include "event.h"
#include "of_test.h"

#define MAX_BYTES 262144

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.json names in dir, sorted; *n receives their count. */
static char **list(const char *dir, size_t *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cannot open %s (run from the repository root)\n", dir);
        return NULL;
    }
    size_t cap = 256;
    char **names = malloc(cap * sizeof *names);
    if (!names) {
        closedir(d);
        return NULL;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        if (*n == cap) {
            char **more = realloc(names, 2 * cap * sizeof *names);
            if (!more)
                break;
            names = more;
            cap *= 2;
        }
        names[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, *n, sizeof *names, by_name);
    return names;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(MAX_BYTES + 1);
    *len = buf ? fread(buf, 1, MAX_BYTES + 1, f) : 0;
    fclose(f);
    return buf;
}

/* Decodes dir/name; 0 when it is a valid event. reason receives the refusal. */
static int judge(const of_validator *v, const char *dir, const char *name, of_error *reason)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len = 0;
    char *text = slurp(path, &len);
    if (!text) {
        of_error_set(reason, "cannot read %s", path);
        return -1;
    }
    of_message_in m = {.value = text, .len = len, .max_bytes = MAX_BYTES};
    of_event ev;
    int rc = of_event_decode(v, &m, &ev, reason);
    if (rc == 0) {
        /* a valid example's subject is its order (remittance, day, buyer) */
        CHECK(ev.subject && *ev.subject);
        CHECK(ev.time_us != 0);
        of_event_clear(&ev);
    }
    free(text);
    return rc;
}

static size_t run(const of_validator *v, const char *dir, int want_valid)
{
    size_t n = 0;
    char **names = list(dir, &n);
    CHECK(names != NULL && n > 0);
    for (size_t i = 0; names && i < n; i++) {
        of_error reason = {{0}};
        int valid = judge(v, dir, names[i], &reason) == 0;
        CHECK(valid == want_valid);
        if (want_valid && !valid)
            fprintf(stderr, "%s/%s: refused, but it is a valid example: %s\n", dir, names[i],
                    reason.msg);
        else if (!want_valid && valid)
            fprintf(stderr, "%s/%s: accepted, but it is an invalid example\n", dir, names[i]);
        else if (!want_valid)
            printf("%-60s %s\n", names[i], reason.msg);
        free(names[i]);
    }
    free(names);
    return n;
}

int main(void)
{
    of_error err = {{0}};
    of_validator *v = of_validator_new(&err);
    if (!v) {
        fprintf(stderr, "of_validator_new: %s\n", err.msg);
        return 1;
    }
    size_t nvalid = run(v, "tests/events/valid", 1);
    size_t ninvalid = run(v, "tests/events/invalid", 0);
    printf("%zu valid and %zu invalid examples judged\n", nvalid, ninvalid);
    fflush(stdout);
    of_validator_free(v);
    return TEST_DONE();
}
