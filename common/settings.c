/* settings.c — reading a service's own table of settings (see settings.h). */
#include "settings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int of_settings_load(const of_setting *table, size_t n, void *cfg, of_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const of_setting *e = &table[i];
        char *field = (char *)cfg + e->offset;
        if (e->size)
            memset(field, 0, e->size);
        else
            *(int *)(void *)field = 0;
    }
    for (size_t i = 0; i < n; i++) {
        const of_setting *e = &table[i];
        const char *v = getenv(e->name);
        if (!v || !*v)
            v = e->def;
        char *field = (char *)cfg + e->offset;
        if (e->size) {
            if (strlen(v) >= e->size)
                return of_error_set(err, "%s is too long (at most %zu characters)", e->name,
                                    e->size - 1);
            memcpy(field, v, strlen(v) + 1);
            continue;
        }
        char *end;
        errno = 0;
        long num = strtol(v, &end, 10);
        if (errno || end == v || *end || num < e->min || num > e->max)
            return of_error_set(err, "%s must be a whole number from %ld to %ld (got \"%s\")",
                                e->name, e->min, e->max, v);
        *(int *)(void *)field = (int)num;
    }
    return 0;
}

void of_settings_print_help(const of_setting *table, size_t n, int defwidth)
{
    for (size_t i = 0; i < n; i++)
        printf("%-26s default %-*s %s\n", table[i].name, defwidth,
               *table[i].def ? table[i].def : "(empty)", table[i].help);
}
