/* json_schema.h — a JSON Schema (2020-12) evaluator for the subset of keywords the schemas
 * under schemas/events/ use. The same files are judged by ajv in the test suite, so the C
 * workers and the published contract cannot drift apart.
 *
 * Supported keywords: $schema $id $defs $ref title description type properties required
 * additionalProperties items minItems maxItems enum const minLength maxLength pattern
 * minimum maximum exclusiveMinimum allOf anyOf oneOf not if then else. "format" is an
 * annotation (as in 2020-12's default) and is ignored. Any other keyword is refused when the
 * document is added, so a schema can never silently mean more to ajv than to us.
 *
 * $ref forms: "#/$defs/name", "file.json" and "file.json#/$defs/name"; a file name is
 * matched against the last path segment of each registered document's $id.
 * pattern: ECMA-262 patterns restricted to what POSIX ERE reads the same way (anchored with
 * ^...$, classes, groups, alternation, quantifiers; no \d \w, lookaround or '.').
 * minLength/maxLength count Unicode code points, like ajv. */
#ifndef OF_JSON_SCHEMA_H
#define OF_JSON_SCHEMA_H

#include <stdbool.h>
#include <jansson.h>
#include "of_error.h"

typedef struct of_schema_registry of_schema_registry;

of_schema_registry *of_schema_registry_new(void);
void of_schema_registry_free(of_schema_registry *reg); /* NULL allowed */

/* Adds a schema document; the registry takes its own reference (the caller keeps theirs)
 * and indexes its keywords: the document must not be changed afterwards.
 * Fails with a message when $id is missing, a keyword is unsupported or a pattern does not
 * compile. */
int of_schema_registry_add(of_schema_registry *reg, json_t *doc, of_error *err) OF_MUST_CHECK;

/* The document whose $id ends with "/" + name (e.g. "order.paid.json"), or NULL. Borrowed. */
const json_t *of_schema_registry_find(const of_schema_registry *reg, const char *name);

/* true when instance is valid against schema; otherwise false and err holds the first
 * failure as "<path>: <reason>", path written like data.items[0].qty ("(event)" for the
 * root), e.g. "data.amount: must be a decimal amount like 15.00 (got \"abc\")" (the reason
 * uses the failing subschema's "title" when it has one) or "data: missing required field
 * 'order_id'" or "data: unexpected field 'ammount'". */
bool of_schema_validate(const of_schema_registry *reg, const json_t *schema, const json_t *instance,
                        of_error *err);

/* Like of_schema_validate, for an instance already found valid against `given` (a schema of
 * the registry): wherever schema reaches given for the instance itself (e.g. an event type's
 * schema whose allOf $refs the envelope), that part is taken as passed instead of evaluated
 * again. */
bool of_schema_validate_given(const of_schema_registry *reg, const json_t *schema,
                              const json_t *instance, const json_t *given, of_error *err);

#endif
