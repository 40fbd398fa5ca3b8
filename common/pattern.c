/* pattern.c — the schema pattern matcher (see pattern.h): a recursive-descent parser into a
 * tree of sequences, and a backtracking matcher with continuations that explores every way
 * to match, so a boolean answer is the same as any regex engine's. A step budget bounds the
 * work on pathological input. */
#include "pattern.h"

#include <stdlib.h>
#include <string.h>

enum { N_BYTES, N_GROUP };

typedef struct seq seq;

typedef struct node {
    int kind;
    unsigned char set[32]; /* N_BYTES: the bytes it accepts */
    seq *alts;             /* N_GROUP: alternatives */
    int nalts;
    int min, max; /* repetitions; max -1 = unbounded */
} node;

struct seq {
    node *el;
    int len;
};

struct of_pattern {
    node top; /* a group of the top-level alternatives, once */
    int anchored_start, anchored_end;
};

typedef struct parser {
    const char *p;
    int depth;
} parser;

static void set_byte(unsigned char *set, unsigned c)
{
    set[c >> 3] |= (unsigned char)(1u << (c & 7));
}

static int has_byte(const unsigned char *set, unsigned char c)
{
    return set[c >> 3] & (1u << (c & 7));
}

static void free_seq(seq *q);

static void free_node(node *n)
{
    for (int i = 0; i < n->nalts; i++)
        free_seq(&n->alts[i]);
    free(n->alts);
}

static void free_seq(seq *q)
{
    for (int i = 0; i < q->len; i++)
        free_node(&q->el[i]);
    free(q->el);
}

static int parse_alts(parser *ps, node *group);

static int parse_class(parser *ps, node *n)
{
    n->kind = N_BYTES;
    int neg = 0;
    if (*ps->p == '^') {
        neg = 1;
        ps->p++;
    }
    int first = 1;
    while (*ps->p && (*ps->p != ']' || first)) {
        unsigned char lo = (unsigned char)*ps->p++;
        if (lo == '[' || lo == '\\')
            return -1; /* [: [. [= and escapes: leave to regexec */
        unsigned char hi = lo;
        if (ps->p[0] == '-' && ps->p[1] && ps->p[1] != ']') {
            hi = (unsigned char)ps->p[1];
            ps->p += 2;
            if (hi < lo || hi == '[' || hi == '\\')
                return -1;
        }
        for (unsigned c = lo; c <= hi; c++)
            set_byte(n->set, c);
        first = 0;
    }
    if (*ps->p != ']')
        return -1;
    ps->p++;
    if (neg)
        for (int i = 0; i < 32; i++)
            n->set[i] = (unsigned char)~n->set[i];
    return 0;
}

static int parse_number(parser *ps, int *out)
{
    if (*ps->p < '0' || *ps->p > '9')
        return -1;
    int v = 0;
    while (*ps->p >= '0' && *ps->p <= '9') {
        v = v * 10 + (*ps->p++ - '0');
        if (v > 1000)
            return -1;
    }
    *out = v;
    return 0;
}

static int parse_quantifier(parser *ps, node *n)
{
    n->min = n->max = 1;
    switch (*ps->p) {
    case '?':
        n->min = 0;
        ps->p++;
        break;
    case '*':
        n->min = 0;
        n->max = -1;
        ps->p++;
        break;
    case '+':
        n->max = -1;
        ps->p++;
        break;
    case '{':
        ps->p++;
        if (parse_number(ps, &n->min))
            return -1;
        n->max = n->min;
        if (*ps->p == ',') {
            ps->p++;
            n->max = -1;
            if (*ps->p != '}' && (parse_number(ps, &n->max) || n->max < n->min))
                return -1;
        }
        if (*ps->p++ != '}')
            return -1;
        break;
    default:
        return 0;
    }
    /* a quantifier on a quantifier is not in the subset */
    return *ps->p && strchr("?*+{", *ps->p) ? -1 : 0;
}

static int parse_seq(parser *ps, seq *q)
{
    int cap = 0;
    while (*ps->p && *ps->p != '|' && *ps->p != ')') {
        if (q->len == cap) {
            cap = cap ? cap * 2 : 8;
            node *el = realloc(q->el, (size_t)cap * sizeof *el);
            if (!el)
                return -1;
            q->el = el;
        }
        node *n = &q->el[q->len];
        memset(n, 0, sizeof *n);
        q->len++;
        char c = *ps->p++;
        if (c == '(') {
            if (++ps->depth > 16 || parse_alts(ps, n) || *ps->p++ != ')')
                return -1;
            ps->depth--;
        } else if (c == '[') {
            if (parse_class(ps, n))
                return -1;
        } else if (c == '\\') {
            if (*ps->p != '.' && *ps->p != '-' && *ps->p != '+')
                return -1;
            set_byte(n->set, (unsigned char)*ps->p++);
        } else if (strchr("^$.*+?{}]", c)) {
            return -1; /* anchors inside, '.', stray operators: not in the subset */
        } else {
            set_byte(n->set, (unsigned char)c);
        }
        if (parse_quantifier(ps, n))
            return -1;
    }
    return 0;
}

static int parse_alts(parser *ps, node *group)
{
    group->kind = N_GROUP;
    for (;;) {
        seq *alts = realloc(group->alts, (size_t)(group->nalts + 1) * sizeof *alts);
        if (!alts)
            return -1;
        group->alts = alts;
        seq *q = &group->alts[group->nalts++];
        memset(q, 0, sizeof *q);
        if (parse_seq(ps, q))
            return -1;
        if (*ps->p != '|')
            return 0;
        ps->p++;
    }
}

of_pattern *of_pattern_compile(const char *src)
{
    of_pattern *pat = calloc(1, sizeof *pat);
    if (!pat)
        return NULL;
    size_t len = strlen(src);
    char *body = malloc(len + 1);
    if (!body) {
        free(pat);
        return NULL;
    }
    memcpy(body, src, len + 1);
    char *b = body;
    if (*b == '^') {
        pat->anchored_start = 1;
        b++;
        len--;
    }
    if (len && b[len - 1] == '$' && (len < 2 || b[len - 2] != '\\')) {
        pat->anchored_end = 1;
        b[--len] = '\0';
    }
    parser ps = {b, 0};
    pat->top.min = pat->top.max = 1;
    int bad = parse_alts(&ps, &pat->top) || *ps.p != '\0';
    /* "^a|b$" anchors only one alternative: not in the subset */
    if (pat->top.nalts > 1 && (pat->anchored_start || pat->anchored_end))
        bad = 1;
    free(body);
    if (bad) {
        of_pattern_free(pat);
        return NULL;
    }
    return pat;
}

void of_pattern_free(of_pattern *p)
{
    if (!p)
        return;
    free_node(&p->top);
    free(p);
}

/* ---- matching ------------------------------------------------------------------------ */

enum { K_SEQ, K_REP };

typedef struct cont {
    int kind;
    const seq *q; /* K_SEQ: continue with q from i */
    int i;
    const node *rep; /* K_REP: after one more iteration of rep */
    int count;
    size_t start;
    const struct cont *next;
} cont;

typedef struct matcher {
    const char *s;
    size_t n;
    int anchored_end;
    long budget;
} matcher;

static int m_seq(matcher *m, const seq *q, int i, size_t pos, const cont *k);
static int m_rep(matcher *m, const node *e, int count, size_t pos, const cont *after);

static int resume(matcher *m, const cont *k, size_t pos)
{
    if (!k)
        return !m->anchored_end || pos == m->n;
    if (k->kind == K_SEQ)
        return m_seq(m, k->q, k->i, pos, k->next);
    if (pos == k->start && k->rep->max < 0) /* an empty iteration: stop repeating */
        return k->count >= k->rep->min ? resume(m, k->next, pos) : 0;
    return m_rep(m, k->rep, k->count, pos, k->next);
}

static int m_rep(matcher *m, const node *e, int count, size_t pos, const cont *after)
{
    if (--m->budget < 0)
        return 0;
    if (e->max < 0 || count < e->max) { /* greedy: one more iteration first */
        cont k = {K_REP, NULL, 0, e, count + 1, pos, after};
        for (int a = 0; a < e->nalts; a++)
            if (m_seq(m, &e->alts[a], 0, pos, &k))
                return 1;
    }
    return count >= e->min ? resume(m, after, pos) : 0;
}

static int m_seq(matcher *m, const seq *q, int i, size_t pos, const cont *k)
{
    if (--m->budget < 0)
        return 0;
    if (i == q->len)
        return resume(m, k, pos);
    const node *e = &q->el[i];
    if (e->kind == N_GROUP) {
        cont next = {K_SEQ, q, i + 1, NULL, 0, 0, k};
        return m_rep(m, e, 0, pos, &next);
    }
    size_t max = e->max < 0 ? m->n - pos : (size_t)e->max, c = 0;
    while (c < max && pos + c < m->n && has_byte(e->set, (unsigned char)m->s[pos + c]))
        c++;
    for (;;) {
        if (c < (size_t)e->min)
            return 0;
        if (m_seq(m, q, i + 1, pos + c, k))
            return 1;
        if (c == 0)
            return 0;
        c--;
    }
}

int of_pattern_match(const of_pattern *p, const char *s, size_t len)
{
    matcher m = {s, len, p->anchored_end, 200000};
    for (size_t start = 0; start <= len; start++) {
        if (m_rep(&m, &p->top, 0, start, NULL))
            return 1;
        if (m.budget < 0)
            return -1;
        if (p->anchored_start)
            break;
    }
    return m.budget < 0 ? -1 : 0;
}
