/* settings.h — a service's own table of settings read from the environment (the common ones
 * are config.h's): each row names a variable, the field of the service's config struct it
 * fills, its default, its range (whole numbers) and its meaning. recharge-worker's
 * RECHARGE_* and the dashboard's DASHBOARD_* tables are such tables. */
#ifndef OF_SETTINGS_H
#define OF_SETTINGS_H

#include <stddef.h>

#include "of_error.h"

typedef struct of_setting {
    const char *name;
    size_t offset;
    size_t size; /* a char array of this size; 0: an int */
    const char *def;
    long min, max; /* for an int */
    const char *help;
} of_setting;

/* The offset and size of a char-array field, or of an int field, of config type T. */
#define OF_SETTING_STR(T, f) offsetof(T, f), sizeof(((T *)0)->f)
#define OF_SETTING_INT(T, f) offsetof(T, f), 0

/* Zeroes cfg and fills it from the environment (defaults where unset or empty). Returns -1
 * with a message naming the variable on a value out of range or too long. */
int of_settings_load(const of_setting *table, size_t n, void *cfg, of_error *err) OF_MUST_CHECK;

/* Prints the table (name, default, meaning) for --help-config; defwidth pads the defaults. */
void of_settings_print_help(const of_setting *table, size_t n, int defwidth);

#endif
