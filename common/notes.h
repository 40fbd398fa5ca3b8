/* notes.h — the annotations of SPEC 4.2-4.3 as data: a note is a catalogue entry
 * (common/note_templates.json, compiled in), its parameters, its author and its time; rendered in
 * the rule book's Traditional Chinese, and in Simplified Chinese and English for the
 * dashboard. A note parameter that is blank rejects the event (nothing is written). */
#ifndef NOTES_H
#define NOTES_H

#include <jansson.h>

#include "consumer.h"
#include "of_error.h"

/* Loads the catalogue; call once at start-up. */
int notes_init(of_error *err) OF_MUST_CHECK;

/* Renders template `key` ("A5.zero") in locale 0 (zh-Hant), 1 (zh-Hans) or 2 (en).
 * params: string values; {date} must be among them. Returns a malloc'd string or NULL with
 * err naming the missing parameter. */
char *notes_render(const char *key, int locale, const json_t *params, of_error *err);

/* The rule ID of a template ("A5" for "A5.zero"), or NULL for an unknown key. */
const char *notes_rule(const char *key);

/* Checks the parameters of a note: every value a non-blank string. On failure rejects the
 * item ("data.staff: must not be blank (it is written into the A2 note)") and returns -1. */
int notes_check(of_item *it, const char *key, const json_t *params);

#endif
