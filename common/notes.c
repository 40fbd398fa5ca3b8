/* notes.c — the note catalogue and its rendering (see notes.h). */
#include "notes.h"

#include <stdlib.h>
#include <string.h>

#include "schemas_embedded.h"

extern const of_embedded_file of_note_catalogue[];
extern const size_t of_note_catalogue_count;

static json_t *catalogue;
static const char *const locales[] = {"zh-Hant", "zh-Hans", "en"};

int notes_init(of_error *err)
{
    if (catalogue)
        return 0;
    if (of_note_catalogue_count != 1)
        return of_error_set(err, "note_templates.json is not embedded");
    json_error_t jerr;
    catalogue = json_loads(of_note_catalogue[0].text, 0, &jerr);
    if (!catalogue)
        return of_error_set(err, "note_templates.json: %s (line %d)", jerr.text, jerr.line);
    return 0;
}

const char *notes_rule(const char *key)
{
    return json_string_value(json_object_get(json_object_get(catalogue, key), "rule"));
}

/* The rendering of one parameter value: via, kind and channel go through _values. */
static const char *param_text(const char *name, const char *value, int locale)
{
    json_t *table = json_object_get(json_object_get(catalogue, "_values"), name);
    json_t *row = json_object_get(table, value);
    const char *t = json_string_value(json_array_get(row, (size_t)locale));
    return t ? t : value;
}

char *notes_render(const char *key, int locale, const json_t *params, of_error *err)
{
    const char *tpl =
        json_string_value(json_object_get(json_object_get(catalogue, key), locales[locale]));
    if (!tpl) {
        of_error_set(err, "no note template %s", key);
        return NULL;
    }
    size_t cap = strlen(tpl) + 256, len = 0;
    char *out = malloc(cap);
    if (!out) {
        of_error_set(err, "out of memory");
        return NULL;
    }
    for (const char *p = tpl; *p;) {
        const char *piece = p;
        size_t n = 1;
        const char *close = *p == '{' ? strchr(p, '}') : NULL;
        if (close) {
            char name[48];
            size_t nl = (size_t)(close - p - 1);
            if (nl == 0 || nl >= sizeof name) {
                free(out);
                of_error_set(err, "template %s is malformed", key);
                return NULL;
            }
            memcpy(name, p + 1, nl);
            name[nl] = '\0';
            const char *v = json_string_value(json_object_get(params, name));
            if (!v) {
                free(out);
                of_error_set(err, "the %s note needs {%s}", key, name);
                return NULL;
            }
            piece = param_text(name, v, locale);
            n = strlen(piece);
            p = close + 1;
        } else {
            p++;
        }
        if (len + n + 1 > cap) {
            cap = 2 * (len + n + 1);
            char *bigger = realloc(out, cap);
            if (!bigger) {
                free(out);
                of_error_set(err, "out of memory");
                return NULL;
            }
            out = bigger;
        }
        memcpy(out + len, piece, n);
        len += n;
    }
    out[len] = '\0';
    return out;
}

int notes_check(of_item *it, const char *key, const json_t *params)
{
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)params, name, v)
    {
        const char *s = json_string_value(v);
        size_t blank = 0, n = s ? strlen(s) : 0;
        while (blank < n &&
               (s[blank] == ' ' || s[blank] == '\t' || s[blank] == '\n' || s[blank] == '\r'))
            blank++;
        if (!s || blank == n) {
            of_item_reject(it, "data.%s: must not be blank (it is written into the %s note)", name,
                           notes_rule(key) ? notes_rule(key) : key);
            return -1;
        }
    }
    return 0;
}
