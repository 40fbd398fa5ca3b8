/* copy_rows.h — rows for PostgreSQL's COPY ... FROM STDIN (text format) and array literals
 * ('{"a","b"}') built in one growing buffer: the cheap way to hand a batch's rows to the
 * server (no JSON to build here nor to parse there). Values are escaped, never interpreted:
 * data stays data. An allocation failure is remembered and reported by of_rows_ok. */
#ifndef OF_COPY_ROWS_H
#define OF_COPY_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

typedef struct of_rows {
    char *buf;
    size_t len, cap;
    size_t rows;  /* rows ended (COPY) or elements added (array) */
    bool mid_row; /* a field was written in the current row / array */
    bool failed;  /* out of memory */
} of_rows;

void of_rows_init(of_rows *r);
void of_rows_free(of_rows *r);
void of_rows_reset(of_rows *r); /* empty, keeping the buffer */
bool of_rows_ok(const of_rows *r);

/* ---- COPY text format: fields separated by tabs, rows ended by of_rows_end ---- */
void of_rows_text(of_rows *r, const char *s); /* NULL: SQL NULL */
void of_rows_textn(of_rows *r, const char *s, size_t n);
void of_rows_int(of_rows *r, int64_t v);
void of_rows_null(of_rows *r);
/* A JSON value as a column: NULL or null → SQL NULL, string → its text, number → digits,
 * true/false → t/f, object/array → compact JSON text (for json/jsonb columns). */
void of_rows_json(of_rows *r, const json_t *v);
void of_rows_end(of_rows *r);

/* ---- array literal: of_rows_array_begin, elements, of_rows_array_end ---- */
void of_rows_array_begin(of_rows *r);
void of_rows_array_text(of_rows *r, const char *s); /* NULL: NULL element */
void of_rows_array_int(of_rows *r, int64_t v);
/* A JSON value as an element: NULL or null → NULL, string → itself, number → digits,
 * true/false → t/f, object/array → compact JSON text (for jsonb[]); quoted and escaped. */
void of_rows_array_json(of_rows *r, const json_t *v);
void of_rows_array_end(of_rows *r); /* NUL-terminates: r->buf is the literal */

#endif
