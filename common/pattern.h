/* pattern.h — a small matcher for the regular expressions of our JSON Schemas (see
 * json_schema.h: anchored ERE with literals, \. \- \+, bracket classes, groups,
 * alternation and ? * + {n,m}), used on ASCII strings, where it answers exactly what POSIX
 * regexec answers, several times faster. Anything outside that subset does not compile
 * (NULL) and the caller keeps using regexec. */
#ifndef OF_PATTERN_H
#define OF_PATTERN_H

#include <stddef.h>

typedef struct of_pattern of_pattern;

of_pattern *of_pattern_compile(const char *src); /* NULL: not in the subset */
void of_pattern_free(of_pattern *p);             /* NULL allowed */

/* 1 when s[0..len) matches (JSON Schema semantics: a search, so unanchored patterns may
 * match anywhere), 0 when it does not, -1 when the step budget ran out (ask regexec). */
int of_pattern_match(const of_pattern *p, const char *s, size_t len);

#endif
