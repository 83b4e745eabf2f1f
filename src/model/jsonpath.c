/*
 * JSON paths (src/model/jsonpath_int.h): a hand-written parser of the
 * RedisJSON subset ($, .name, ['name'], [n], [-n], [*], .*, ..seg, and the
 * legacy form without '$') and an evaluator over jansson values.
 *
 * The parser never reads past the terminating NUL and reports the byte
 * position of the first thing it does not accept. The evaluator keeps its
 * working set as a match list; every match holds a reference on its parent
 * and its value (see the header), so callers may change the tree while
 * walking them.
 *
 * Layer: src/model, used by src/model/document.c and src/model/vector.c;
 * depends only on jansson and orbit_error_set.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "model/jsonpath_int.h"
#include "orbit/error.h"
#include "orbit/provider.h"

/* ---- parsing -------------------------------------------------------- */

typedef struct jp_parser {
    const char *s;
    size_t pos;
    orbit__jpath *p;
    size_t cap;
} jp_parser;

static int jp_err(jp_parser *ps, const char *what)
{
    return orbit_error_set(ORBIT_EINVAL, "JSON path \"%.64s\": %s at position %zu", ps->s, what,
                           ps->pos);
}

static int jp_push(jp_parser *ps, orbit__jp_seg seg)
{
    orbit__jpath *p = ps->p;
    if (p->n == ps->cap) {
        size_t nc = ps->cap ? ps->cap * 2 : 4;
        orbit__jp_seg *ns = realloc(p->segs, nc * sizeof *ns);
        if (!ns) {
            free(seg.key);
            return ORBIT_ENOMEM;
        }
        p->segs = ns;
        ps->cap = nc;
    }
    p->segs[p->n++] = seg;
    if (seg.kind == ORBIT__JP_WILD || seg.desc)
        p->definite = 0;
    return ORBIT_OK;
}

static int name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '$' || c >= 0x80;
}

/* A dotted member name (or '*') at ps->pos. */
static int jp_dotted(jp_parser *ps, int desc)
{
    orbit__jp_seg seg = {0};
    seg.desc = desc;
    if (ps->s[ps->pos] == '*') {
        ps->pos++;
        seg.kind = ORBIT__JP_WILD;
        return jp_push(ps, seg);
    }
    size_t start = ps->pos;
    while (name_char((unsigned char)ps->s[ps->pos]))
        ps->pos++;
    if (ps->pos == start)
        return jp_err(ps, ps->s[ps->pos] ? "a member name expected" : "the path ends after '.'");
    seg.kind = ORBIT__JP_KEY;
    seg.keylen = ps->pos - start;
    seg.key = malloc(seg.keylen + 1);
    if (!seg.key)
        return ORBIT_ENOMEM;
    memcpy(seg.key, ps->s + start, seg.keylen);
    seg.key[seg.keylen] = '\0';
    return jp_push(ps, seg);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Append the UTF-8 encoding of code point cp. */
static size_t utf8_put(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int jp_hex4(jp_parser *ps, unsigned *cp)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(ps->s[ps->pos]);
        if (h < 0)
            return jp_err(ps, "a bad \\u escape");
        v = v * 16 + (unsigned)h;
        ps->pos++;
    }
    *cp = v;
    return ORBIT_OK;
}

/* A quoted member name; ps->pos is at the quote. */
static int jp_quoted(jp_parser *ps, orbit__jp_seg *seg)
{
    char q = ps->s[ps->pos++];
    size_t start = ps->pos;
    /* The decoded name is never longer than its escaped form. */
    size_t end = start;
    while (ps->s[end] && ps->s[end] != q)
        end += (ps->s[end] == '\\' && ps->s[end + 1]) ? 2 : 1;
    char *name = malloc(end - start + 4);
    if (!name)
        return ORBIT_ENOMEM;
    size_t n = 0;
    for (;;) {
        char c = ps->s[ps->pos];
        if (!c) {
            free(name);
            return jp_err(ps, "an unterminated quoted name");
        }
        if (c == q) {
            ps->pos++;
            break;
        }
        if (c != '\\') {
            name[n++] = c;
            ps->pos++;
            continue;
        }
        ps->pos++;
        c = ps->s[ps->pos++];
        switch (c) {
        case '"': case '\'': case '\\': case '/': name[n++] = c; break;
        case 'n': name[n++] = '\n'; break;
        case 't': name[n++] = '\t'; break;
        case 'r': name[n++] = '\r'; break;
        case 'b': name[n++] = '\b'; break;
        case 'f': name[n++] = '\f'; break;
        case 'u': {
            unsigned cp = 0;
            int rc = jp_hex4(ps, &cp);
            if (!rc && cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo = 0;
                if (ps->s[ps->pos] != '\\' || ps->s[ps->pos + 1] != 'u')
                    rc = jp_err(ps, "a lone surrogate in a \\u escape");
                else {
                    ps->pos += 2;
                    rc = jp_hex4(ps, &lo);
                    if (!rc && (lo < 0xDC00 || lo > 0xDFFF))
                        rc = jp_err(ps, "a bad surrogate pair");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
            } else if (!rc && cp >= 0xDC00 && cp <= 0xDFFF)
                rc = jp_err(ps, "a lone surrogate in a \\u escape");
            if (!rc && cp == 0)
                rc = jp_err(ps, "a NUL in a member name");
            if (rc) {
                free(name);
                return rc;
            }
            n += utf8_put(name + n, cp);
            break;
        }
        default:
            ps->pos--;
            free(name);
            return jp_err(ps, "an unknown escape");
        }
    }
    name[n] = '\0';
    seg->kind = ORBIT__JP_KEY;
    seg->key = name;
    seg->keylen = n;
    return ORBIT_OK;
}

static void skip_ws(jp_parser *ps)
{
    while (ps->s[ps->pos] == ' ')
        ps->pos++;
}

/* A bracketed selector; ps->pos is at '['. */
static int jp_bracket(jp_parser *ps, int desc)
{
    orbit__jp_seg seg = {0};
    seg.desc = desc;
    ps->pos++;
    skip_ws(ps);
    char c = ps->s[ps->pos];
    int rc = ORBIT_OK;
    if (c == '*') {
        ps->pos++;
        seg.kind = ORBIT__JP_WILD;
    } else if (c == '\'' || c == '"') {
        rc = jp_quoted(ps, &seg);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        int neg = c == '-';
        if (neg)
            ps->pos++;
        if (ps->s[ps->pos] < '0' || ps->s[ps->pos] > '9')
            return jp_err(ps, "a digit expected");
        uint64_t v = 0;
        while (ps->s[ps->pos] >= '0' && ps->s[ps->pos] <= '9') {
            v = v * 10 + (uint64_t)(ps->s[ps->pos] - '0');
            if (v > (uint64_t)INT64_MAX)
                return jp_err(ps, "an index out of range");
            ps->pos++;
        }
        seg.kind = ORBIT__JP_INDEX;
        seg.index = neg ? -(int64_t)v : (int64_t)v;
    } else {
        return jp_err(ps, c ? "an index, a quoted name or '*' expected" : "the path ends inside '['");
    }
    if (rc)
        return rc;
    skip_ws(ps);
    if (ps->s[ps->pos] != ']') {
        free(seg.key);
        return jp_err(ps, "']' expected");
    }
    ps->pos++;
    return jp_push(ps, seg);
}

int orbit__jpath_parse(const char *s, orbit__jpath *out)
{
    memset(out, 0, sizeof *out);
    if (!s)
        return orbit_error_set(ORBIT_EINVAL, "JSON path: NULL");
    out->definite = 1;
    jp_parser ps = {s, 0, out, 0};
    int rc = ORBIT_OK;
    if (s[0] == '$') {
        ps.pos = 1;
    } else if (s[0] == '.' && s[1] == '\0') {
        return ORBIT_OK; /* legacy root */
    } else if (s[0] == '\0') {
        return jp_err(&ps, "an empty path");
    } else if (s[0] != '.' && s[0] != '[') {
        rc = jp_dotted(&ps, 0); /* legacy "a.b": an implied leading '.' */
    }
    while (!rc && s[ps.pos]) {
        char c = s[ps.pos];
        if (c == '.') {
            ps.pos++;
            int desc = 0;
            if (s[ps.pos] == '.') {
                desc = 1;
                ps.pos++;
            }
            if (desc && s[ps.pos] == '[')
                rc = jp_bracket(&ps, 1);
            else
                rc = jp_dotted(&ps, desc);
        } else if (c == '[') {
            rc = jp_bracket(&ps, 0);
        } else {
            rc = jp_err(&ps, "'.' or '[' expected");
        }
    }
    if (rc)
        orbit__jpath_release(out);
    return rc;
}

void orbit__jpath_release(orbit__jpath *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->segs[i].key);
    free(p->segs);
    memset(p, 0, sizeof *p);
}

/* ---- evaluation ----------------------------------------------------- */

static int m_push(orbit__jp_matches *m, json_t *parent, const char *key, size_t index,
                  json_t *value)
{
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 8;
        orbit__jp_match *nm = realloc(m->m, nc * sizeof *nm);
        if (!nm)
            return ORBIT_ENOMEM;
        m->m = nm;
        m->cap = nc;
    }
    char *k = NULL;
    if (key) {
        k = strdup(key);
        if (!k)
            return ORBIT_ENOMEM;
    }
    orbit__jp_match *x = &m->m[m->n++];
    x->parent = parent ? json_incref(parent) : NULL;
    x->key = k;
    x->index = index;
    x->value = json_incref(value);
    return ORBIT_OK;
}

void orbit__jp_matches_release(orbit__jp_matches *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        json_decref(m->m[i].parent);
        json_decref(m->m[i].value);
        free(m->m[i].key);
    }
    free(m->m);
    memset(m, 0, sizeof *m);
}

/* Apply a non-descendant selection to one node. */
static int select_one(const orbit__jp_seg *seg, json_t *node, orbit__jp_matches *out)
{
    int rc = ORBIT_OK;
    switch (seg->kind) {
    case ORBIT__JP_KEY:
        if (json_is_object(node)) {
            json_t *v = json_object_getn(node, seg->key, seg->keylen);
            if (v)
                rc = m_push(out, node, seg->key, 0, v);
        }
        break;
    case ORBIT__JP_INDEX:
        if (json_is_array(node)) {
            size_t sz = json_array_size(node);
            int64_t i = seg->index;
            if (i < 0)
                i += (int64_t)sz;
            if (i >= 0 && (uint64_t)i < sz)
                rc = m_push(out, node, NULL, (size_t)i, json_array_get(node, (size_t)i));
        }
        break;
    case ORBIT__JP_WILD:
        if (json_is_object(node)) {
            const char *k;
            json_t *v;
            json_object_foreach(node, k, v) {
                if ((rc = m_push(out, node, k, 0, v)))
                    break;
            }
        } else if (json_is_array(node)) {
            for (size_t i = 0; !rc && i < json_array_size(node); i++)
                rc = m_push(out, node, NULL, i, json_array_get(node, i));
        }
        break;
    }
    return rc;
}

/* Apply the selection to node and, in pre-order, to every value below. */
static int select_desc(const orbit__jp_seg *seg, json_t *node, orbit__jp_matches *out,
                       int depth)
{
    if (depth > 1024)
        return orbit_error_set(ORBIT_EINVAL, "JSON path: document nested too deeply");
    int rc = select_one(seg, node, out);
    if (rc)
        return rc;
    if (json_is_object(node)) {
        const char *k;
        json_t *v;
        json_object_foreach(node, k, v) {
            if ((rc = select_desc(seg, v, out, depth + 1)))
                return rc;
        }
    } else if (json_is_array(node)) {
        for (size_t i = 0; i < json_array_size(node); i++)
            if ((rc = select_desc(seg, json_array_get(node, i), out, depth + 1)))
                return rc;
    }
    return ORBIT_OK;
}

int orbit__jpath_eval(const orbit__jpath *p, size_t nsegs, json_t *root, orbit__jp_matches *out)
{
    if (nsegs > p->n)
        nsegs = p->n;
    orbit__jp_matches cur = {0};
    int rc = m_push(&cur, NULL, NULL, 0, root);
    for (size_t s = 0; !rc && s < nsegs; s++) {
        orbit__jp_matches next = {0};
        const orbit__jp_seg *seg = &p->segs[s];
        for (size_t i = 0; !rc && i < cur.n; i++)
            rc = seg->desc ? select_desc(seg, cur.m[i].value, &next, 0)
                           : select_one(seg, cur.m[i].value, &next);
        orbit__jp_matches_release(&cur);
        cur = next;
    }
    if (!rc) {
        for (size_t i = 0; !rc && i < cur.n; i++) {
            orbit__jp_match *x = &cur.m[i];
            rc = m_push(out, x->parent, x->key, x->index, x->value);
        }
    }
    orbit__jp_matches_release(&cur);
    return rc;
}

json_t *orbit__jpath_get1(const orbit__jpath *p, json_t *root)
{
    json_t *node = root;
    for (size_t s = 0; node && s < p->n; s++) {
        const orbit__jp_seg *seg = &p->segs[s];
        if (seg->kind == ORBIT__JP_KEY) {
            node = json_is_object(node) ? json_object_getn(node, seg->key, seg->keylen) : NULL;
        } else if (seg->kind == ORBIT__JP_INDEX) {
            if (!json_is_array(node))
                return NULL;
            int64_t i = seg->index;
            size_t sz = json_array_size(node);
            if (i < 0)
                i += (int64_t)sz;
            node = (i >= 0 && (uint64_t)i < sz) ? json_array_get(node, (size_t)i) : NULL;
        } else {
            return NULL;
        }
    }
    return node;
}
