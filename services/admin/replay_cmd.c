/* replay_cmd.c — `orderflow-admin replay`: the operator's way to republish dead letters once
 * their cause is fixed (G4), the same code as the dashboard's replay (common/replay.c).
 *   --ids 1,2,3      these letters (dead_letters.dl_id)
 *   --source S       letters of events from source S  } not replayed yet; both may be given
 *   --type T         letters of events of type T      }
 *   --all            every letter not replayed yet
 * At most REPLAY_CAP letters per run; the rest is left for the next run (it says so). */
#include "replay_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "replay.h"

#define REPLAY_CAP 10000

static int usage(const char *why)
{
    fprintf(stderr,
            "%s\nusage: orderflow-admin replay [--source S] [--type T] [--ids 1,2] [--all]\n"
            "  --ids takes dead-letter ids (dl_id); --source/--type select letters not "
            "replayed yet; --all takes every letter not replayed yet\n",
            why);
    return 2;
}

/* "1,2,3" → ["1","2","3"] as JSON text (malloc'd), NULL when an id is not a number. */
static char *ids_json(const char *list)
{
    json_t *a = json_array();
    const char *p = list;
    while (*p) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v <= 0 || (*end && *end != ',')) {
            json_decref(a);
            return NULL;
        }
        char b[32];
        snprintf(b, sizeof b, "%lld", v);
        json_array_append_new(a, json_string(b));
        p = *end ? end + 1 : end;
    }
    char *s = json_array_size(a) ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return s;
}

int admin_replay(const of_config *cfg, int argc, char **argv)
{
    of_replay_filter f = {.replayed = 0, .cap = REPLAY_CAP};
    const char *ids = NULL;
    int all = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--all") == 0) {
            all = 1;
        } else if ((strcmp(a, "--source") == 0 || strcmp(a, "--type") == 0 ||
                    strcmp(a, "--ids") == 0) &&
                   i + 1 < argc && *argv[i + 1]) {
            const char *v = argv[++i];
            if (a[2] == 's')
                f.source = v;
            else if (a[2] == 't')
                f.type = v;
            else
                ids = v;
        } else {
            char why[256];
            snprintf(why, sizeof why, "unknown or incomplete argument %.64s", a);
            return usage(why);
        }
    }
    if (!ids && !all && !f.source && !f.type)
        return usage("say which letters: --ids, --source, --type or --all");
    if (ids && (all || f.source || f.type))
        return usage("--ids goes alone (it names the letters)");
    char *idj = NULL;
    if (ids) {
        if (!(idj = ids_json(ids)))
            return usage("--ids takes dead-letter ids separated by commas, e.g. 12,15");
        f.ids_json = idj;
        f.replayed = -1; /* named letters: one replayed before is reported, not hidden */
    }
    of_db *db = of_db_new(cfg->database_url, cfg->db_statement_timeout_ms, "orderflow-admin");
    of_error err;
    if (!db || of_db_ensure(db, &err)) {
        fprintf(stderr, "%s\n", db ? err.msg : "out of memory");
        of_db_free(db);
        free(idj);
        return 1;
    }
    of_replay_result res;
    int rc = of_replay_run(of_db_conn(db), cfg, &f, &res, &err);
    of_db_free(db);
    free(idj);
    if (rc) {
        fprintf(stderr, "replay failed: %s\n", err.msg);
        return 1;
    }
    printf("replayed %ld dead letter(s) of %ld selected\n", res.replayed, res.matched);
    size_t i;
    json_t *s;
    json_array_foreach(res.skipped, i, s) printf("skipped %" JSON_INTEGER_FORMAT ": %s\n",
                                                 json_integer_value(json_object_get(s, "dl_id")),
                                                 json_string_value(json_object_get(s, "reason")));
    if (res.capped)
        printf("more letters match: run it again for the next %d\n", REPLAY_CAP);
    of_replay_result_clear(&res);
    return 0;
}
