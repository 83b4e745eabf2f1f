/*
 * JSON paths (library-private): the parser and evaluator behind the
 * document model's path operations (orbit/document.h gives the syntax) and
 * the vector model's metadata filter.
 *
 * A parsed path is a list of segments, each applied to the set of values
 * the previous ones matched (the root first). A segment selects an object
 * member by name, an array element by index (negative: from the end) or
 * every child (wildcard); a "descendant" segment (written "..") applies the
 * same selection to the node and to every value below it. A path with no
 * wildcard and no descendant segment is definite: it matches at most one
 * value.
 *
 * Matches carry what a write needs: the parent (NULL for the root), the
 * member name or the index in the parent, and the value. They hold a
 * reference on parent and value (jansson's refcounts), so a caller may
 * modify the tree while walking the matches; member names are copied.
 * Matches come in member and element order, a node's own matches before
 * those below it (each node is visited in pre-order); walking them backwards
 * visits children before their parents and later array elements before
 * earlier ones, which is the safe order for removals.
 */
#ifndef ORBIT_MODEL_JSONPATH_INT_H
#define ORBIT_MODEL_JSONPATH_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef enum orbit__jp_kind {
    ORBIT__JP_KEY = 0,   /* .name  ['name'] */
    ORBIT__JP_INDEX = 1, /* [n]  [-n] */
    ORBIT__JP_WILD = 2,  /* .*  [*] */
} orbit__jp_kind;

typedef struct orbit__jp_seg {
    orbit__jp_kind kind;
    int desc;      /* written after "..": node and every descendant */
    char *key;     /* KEY: the member name (malloc'd, NUL-terminated) */
    size_t keylen;
    int64_t index; /* INDEX */
} orbit__jp_seg;

typedef struct orbit__jpath {
    orbit__jp_seg *segs; /* malloc'd */
    size_t n;
    int definite;
} orbit__jpath;

typedef struct orbit__jp_match {
    json_t *parent; /* NULL: the match is the root */
    char *key;      /* parent is an object: the member name (malloc'd) */
    size_t index;   /* parent is an array: the position */
    json_t *value;
} orbit__jp_match;

typedef struct orbit__jp_matches {
    orbit__jp_match *m;
    size_t n, cap;
} orbit__jp_matches;

/* Parse the NUL-terminated path s (the "$" form or RedisJSON's legacy
 * form). 0, ORBIT_EINVAL (naming the position) or ORBIT_ENOMEM; on error
 * *out is empty. */
int orbit__jpath_parse(const char *s, orbit__jpath *out);
void orbit__jpath_release(orbit__jpath *p);

/* Every match of segments [0, nsegs) of p in root (nsegs may be less than
 * p->n, for the parent of the last segment), appended to out. 0 or
 * ORBIT_ENOMEM. */
int orbit__jpath_eval(const orbit__jpath *p, size_t nsegs, json_t *root,
                      orbit__jp_matches *out);
void orbit__jp_matches_release(orbit__jp_matches *m);

/* The single value a definite path selects in root (borrowed), or NULL. */
json_t *orbit__jpath_get1(const orbit__jpath *p, json_t *root);

#endif
