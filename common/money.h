/* money.h — amounts as exact integers of cents. Events carry money as decimal strings
 * ("15.00", "15", "15.5", "-3.00"); notes render amounts as given, and computed amounts
 * (a remaining balance) with two decimals. Never a double. */
#ifndef OF_MONEY_H
#define OF_MONEY_H

#include <stddef.h>
#include <stdint.h>

#include "of_error.h"

/* Parses a decimal string with at most two decimals into cents; -1 when it is not one or
 * is beyond ±10^15. */
int of_money_parse(const char *s, int64_t *cents) OF_MUST_CHECK;

/* Formats cents as "15.00" / "-3.50" into out (at least 32 bytes). Returns out. */
char *of_money_format(int64_t cents, char *out, size_t outsz);

#endif
