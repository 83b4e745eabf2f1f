/*
 * RedisJSON commands on the document model (orbit/document.h): JSON.SET,
 * JSON.GET, JSON.DEL (and its alias JSON.FORGET), JSON.TYPE, JSON.MGET,
 * JSON.NUMINCRBY, JSON.ARRAPPEND, JSON.OBJKEYS.
 *
 * A key is one document of the default actor's collection "json" (the
 * document id is the key's bytes). Replies follow RedisJSON: a path that
 * starts with '$' (JSONPath) answers per match (a JSON array text, or an
 * array reply with nil where a match has the wrong type); any other path
 * is RedisJSON's legacy form and answers the first match's value alone
 * (an error if nothing matches). JSON.GET with several paths answers a
 * JSON object keyed by path (JSONPath style if any path starts with '$').
 *
 * Keyspaces: the documents are not Redis keys of the server's keyspace
 * (db.h). A JSON write to a key that holds a Redis string, hash or set is
 * refused with WRONGTYPE; the other way round is not checked (SET k over
 * a JSON document leaves both, TYPE k of a JSON-only key is "none", DEL
 * does not remove documents: JSON.DEL does).
 *
 * Writes are CMD_WRITE and run in the dispatcher's cross-model
 * transaction (call->tx), so MULTI/EXEC mixes them atomically with string
 * commands; multi-read commands are CMD_TXREAD (one view).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orbit/document.h"
#include "orbit/provider.h"
#include "server/db.h"
#include "server/t_models.h"

#define JSON_COLL "json"
#define KEY(i) x->argv[i].data, x->argv[i].len

/* The collection, created (in a transaction of its own) and cached at
 * first use; that first use reruns the command in a fresh transaction
 * (models_rerun), whose snapshot has the collection. */
static int json_coll(srv_call *x, orbit_doc_coll **out)
{
    orbit_doc_coll *c = models_cache_get(MC_DOC, JSON_COLL);
    if (c) {
        *out = c;
        return 0;
    }
    const orbit_actor *a;
    int rc = models_actor(&a);
    if (!rc)
        rc = orbit_doc_coll_open(a, JSON_COLL, 1, &c);
    if (rc)
        return rc;
    c = models_cache_put(MC_DOC, JSON_COLL, c);
    if (!c)
        return ORBIT_ENOMEM;
    *out = c;
    return models_rerun(x, "JSON");
}

static int is_legacy(const char *path)
{
    return path[0] != '$';
}

/* 0 ok; 1 the key holds a Redis value (WRONGTYPE replied); or an error. */
static int check_type(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = db_lookup(x, KEY(1), 0, &m);
    int type = m.type;
    db_meta_release(&m);
    if (rc)
        return rc;
    if (type != DB_NONE) {
        reply_wrongtype(x);
        return 1;
    }
    return 0;
}

/* Copy argument i as a path; NULL and an error replied on a NUL byte. */
static char *path_arg(srv_call *x, int i, int *rc)
{
    int bad;
    char *p = models_cstr(&x->argv[i], &bad);
    *rc = 0;
    if (!p) {
        if (bad)
            reply_error(x, "JSON path must not contain NUL bytes");
        else
            *rc = ORBIT_ENOMEM;
    }
    return p;
}

/* The text of the first element of a model's result array text into out
 * (contents replaced): 1, 0 when the array is empty, or an error. */
static int first_elem(const orbit_buf *arr, orbit_buf *out)
{
    json_t *a;
    int rc = models_json_array(arr, &a);
    if (rc)
        return rc;
    int found = json_array_size(a) > 0;
    out->len = 0;
    if (found)
        rc = models_json_append(out, json_array_get(a, 0));
    json_decref(a);
    return rc ? rc : found;
}

static int path_missing(srv_call *x, const char *path)
{
    reply_error(x, "Path '%s' does not exist", path);
    return 0;
}

/* ---- JSON.SET ----------------------------------------------------------- */

static int cmd_json_set(srv_call *x)
{
    orbit_doc_cond cond = ORBIT_DOC_ALWAYS;
    if (x->argc == 5) {
        if (arg_eq(&x->argv[4], "NX"))
            cond = ORBIT_DOC_NX;
        else if (arg_eq(&x->argv[4], "XX"))
            cond = ORBIT_DOC_XX;
        else {
            reply_error(x, ERR_SYNTAX);
            return 0;
        }
    } else if (x->argc > 5) {
        reply_error(x, ERR_SYNTAX);
        return 0;
    }
    int rc = check_type(x);
    if (rc)
        return rc > 0 ? 0 : rc;
    orbit_doc_coll *c;
    if ((rc = json_coll(x, &c)))
        return rc;
    char *path = path_arg(x, 2, &rc);
    if (!path)
        return rc;
    size_t applied = 0;
    rc = orbit_doc_set(x->tx, c, KEY(1), path, (const char *)x->argv[3].data, x->argv[3].len,
                       cond, &applied);
    if (rc == ORBIT_NOTFOUND) {
        rc = 0;
        if (cond == ORBIT_DOC_XX)
            reply_null(x);
        else
            reply_error(x, "new objects must be created at the root");
    } else if (rc) {
        rc = models_fail(x, rc, "JSON.SET");
    } else if (applied == 0) {
        reply_null(x);
    } else {
        x->wrote = 1;
        reply_ok(x);
    }
    free(path);
    return rc;
}

/* ---- JSON.GET ----------------------------------------------------------- */

static int cmd_json_get(srv_call *x)
{
    orbit_doc_coll *c;
    int rc = json_coll(x, &c);
    if (rc)
        return rc;
    for (int i = 2; i < x->argc; i++)
        if (arg_eq(&x->argv[i], "INDENT") || arg_eq(&x->argv[i], "NEWLINE") ||
            arg_eq(&x->argv[i], "SPACE")) {
            reply_error(x, "JSON.GET: INDENT, NEWLINE and SPACE formatting is not supported");
            return 0;
        }
    orbit_buf out = ORBIT_BUF_INIT, one = ORBIT_BUF_INIT, first = ORBIT_BUF_INIT;
    if (x->argc == 2) {
        rc = orbit_doc_get(x->tx, c, KEY(1), &out);
        if (rc == ORBIT_NOTFOUND) {
            reply_null(x);
            rc = 0;
        } else if (rc) {
            rc = models_fail(x, rc, "JSON.GET");
        } else {
            reply_bulk(x, out.data, out.len);
        }
        orbit_buf_release(&out);
        return rc;
    }
    int npaths = x->argc - 2, legacy = 1;
    char **paths = calloc((size_t)npaths, sizeof *paths);
    if (!paths)
        return ORBIT_ENOMEM;
    for (int i = 0; i < npaths; i++) {
        paths[i] = path_arg(x, i + 2, &rc);
        if (!paths[i])
            goto done;
        if (!is_legacy(paths[i]))
            legacy = 0;
    }
    if (npaths > 1)
        rc = orbit_buf_append(&out, "{", 1);
    for (int i = 0; i < npaths && !rc; i++) {
        rc = orbit_doc_get_path(x->tx, c, KEY(1), paths[i], &one);
        if (rc == ORBIT_NOTFOUND) {
            reply_null(x);
            rc = 0;
            goto done;
        }
        if (rc) {
            rc = models_fail(x, rc, "JSON.GET");
            goto done;
        }
        const char *v = (const char *)one.data;
        size_t vl = one.len;
        if (legacy) {
            rc = first_elem(&one, &first);
            if (rc <= 0) {
                if (rc == 0)
                    rc = path_missing(x, paths[i]);
                goto done;
            }
            rc = 0;
            v = (const char *)first.data;
            vl = first.len;
        }
        if (npaths == 1) {
            reply_bulk(x, v, vl);
            goto done;
        }
        if (i > 0)
            rc = orbit_buf_append(&out, ",", 1);
        if (!rc)
            rc = models_json_quote(&out, paths[i], strlen(paths[i]));
        if (rc == ORBIT_EINVAL) {
            reply_error(x, "JSON.GET: a path is not valid UTF-8");
            rc = 0;
            goto done;
        }
        if (!rc)
            rc = orbit_buf_append(&out, ":", 1);
        if (!rc)
            rc = orbit_buf_append(&out, v, vl);
    }
    if (!rc)
        rc = orbit_buf_append(&out, "}", 1);
    if (!rc)
        reply_bulk(x, out.data, out.len);
done:
    for (int i = 0; i < npaths; i++)
        free(paths[i]);
    free(paths);
    orbit_buf_release(&out);
    orbit_buf_release(&one);
    orbit_buf_release(&first);
    return rc;
}

/* ---- JSON.DEL ----------------------------------------------------------- */

static int cmd_json_del(srv_call *x)
{
    if (x->argc > 3) {
        reply_error(x, "wrong number of arguments for '%s' command", x->cmd->name);
        return 0;
    }
    orbit_doc_coll *c;
    int rc = json_coll(x, &c);
    if (rc)
        return rc;
    char *path = x->argc == 3 ? path_arg(x, 2, &rc) : strdup("$");
    if (!path)
        return rc ? rc : (x->argc == 3 ? 0 : ORBIT_ENOMEM);
    size_t deleted = 0;
    rc = orbit_doc_del_path(x->tx, c, KEY(1), path, &deleted);
    if (rc) {
        rc = models_fail(x, rc, "JSON.DEL");
    } else {
        if (deleted)
            x->wrote = 1;
        reply_int(x, (long long)deleted);
    }
    free(path);
    return rc;
}

/* ---- JSON.TYPE, JSON.OBJKEYS ------------------------------------------- */

/* Reply one JSON value of a result array: a string as a bulk, null as
 * nil, an integer as an integer (as_int), an array as an array of those
 * replies, anything else as its JSON text (tmp is scratch). */
static int reply_value(srv_call *x, const json_t *v, int as_int, orbit_buf *tmp)
{
    if (json_is_null(v)) {
        reply_null(x);
        return 0;
    }
    if (json_is_string(v)) {
        reply_bulk(x, json_string_value(v), json_string_length(v));
        return 0;
    }
    if (as_int && json_is_integer(v)) {
        reply_int(x, (long long)json_integer_value(v));
        return 0;
    }
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        reply_array(x, (long long)json_array_size(v));
        json_array_foreach(v, i, e) {
            int rc = reply_value(x, e, as_int, tmp);
            if (rc)
                return rc;
        }
        return 0;
    }
    tmp->len = 0;
    int rc = models_json_append(tmp, v);
    if (!rc)
        reply_bulk(x, tmp->data, tmp->len);
    return rc;
}

/* Reply a model's result array all per RedisJSON: JSONPath -> an array
 * of each match; legacy -> the first match (or `none` reply when
 * absent). */
static int reply_matches(srv_call *x, const json_t *all, const char *path, int as_int,
                         int legacy_missing_err)
{
    orbit_buf tmp = ORBIT_BUF_INIT;
    int rc = 0;
    if (is_legacy(path)) {
        const json_t *e = json_array_get(all, 0);
        if (!e || (legacy_missing_err && json_is_null(e))) {
            if (legacy_missing_err)
                path_missing(x, path);
            else
                reply_null(x);
        } else {
            rc = reply_value(x, e, as_int, &tmp);
        }
    } else {
        rc = reply_value(x, all, as_int, &tmp);
    }
    orbit_buf_release(&tmp);
    return rc;
}

typedef int (*doc_read_fn)(orbit_tx *, orbit_doc_coll *, const void *, size_t, const char *,
                           orbit_buf *);

static int read_cmd(srv_call *x, doc_read_fn fn, const char *what)
{
    if (x->argc > 3) {
        reply_error(x, "wrong number of arguments for '%s' command", x->cmd->name);
        return 0;
    }
    orbit_doc_coll *c;
    int rc = json_coll(x, &c);
    if (rc)
        return rc;
    char *path = x->argc == 3 ? path_arg(x, 2, &rc) : strdup(".");
    if (!path)
        return rc ? rc : (x->argc == 3 ? 0 : ORBIT_ENOMEM);
    orbit_buf out = ORBIT_BUF_INIT;
    rc = fn(x->tx, c, KEY(1), path, &out);
    if (rc == ORBIT_NOTFOUND) {
        reply_null(x);
        rc = 0;
    } else if (rc) {
        rc = models_fail(x, rc, what);
    } else {
        json_t *all;
        rc = models_json_array(&out, &all);
        if (!rc)
            rc = reply_matches(x, all, path, 0, 0);
        json_decref(all);
    }
    orbit_buf_release(&out);
    free(path);
    return rc;
}

static int cmd_json_type(srv_call *x)
{
    return read_cmd(x, orbit_doc_type, "JSON.TYPE");
}

static int cmd_json_objkeys(srv_call *x)
{
    return read_cmd(x, orbit_doc_obj_keys, "JSON.OBJKEYS");
}

/* ---- JSON.MGET ---------------------------------------------------------- */

static int cmd_json_mget(srv_call *x)
{
    orbit_doc_coll *c;
    int rc = json_coll(x, &c);
    if (rc)
        return rc;
    char *path = path_arg(x, x->argc - 1, &rc);
    if (!path)
        return rc;
    size_t n = (size_t)x->argc - 2;
    const void **ids = calloc(n, sizeof *ids);
    size_t *lens = calloc(n, sizeof *lens);
    orbit_buf *outs = calloc(n, sizeof *outs), first = ORBIT_BUF_INIT;
    int *status = calloc(n, sizeof *status);
    if (!ids || !lens || !outs || !status) {
        rc = ORBIT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        ids[i] = x->argv[i + 1].data;
        lens[i] = x->argv[i + 1].len;
    }
    rc = orbit_doc_mget(x->tx, c, n, (const void *const *)ids, lens, path, outs, status);
    if (rc) {
        rc = models_fail(x, rc, "JSON.MGET");
        goto out;
    }
    reply_array(x, (long long)n);
    for (size_t i = 0; i < n; i++) {
        if (status[i]) {
            reply_null(x);
            continue;
        }
        if (!is_legacy(path)) {
            reply_bulk(x, outs[i].data, outs[i].len);
            continue;
        }
        rc = first_elem(&outs[i], &first);
        if (rc < 0)
            goto out;
        if (rc == 0)
            reply_null(x);
        else
            reply_bulk(x, first.data, first.len);
        rc = 0;
    }
out:
    if (outs)
        for (size_t i = 0; i < n; i++)
            orbit_buf_release(&outs[i]);
    free(ids);
    free(lens);
    free(outs);
    free(status);
    free(path);
    orbit_buf_release(&first);
    return rc;
}

/* ---- JSON.NUMINCRBY, JSON.ARRAPPEND ------------------------------------ */

static int doc_missing(srv_call *x)
{
    reply_error(x, "could not perform this operation on a key that doesn't exist");
    return 0;
}

/* 1 if every element of the result array is null (nothing applied). */
static int all_null(const json_t *arr)
{
    size_t i;
    const json_t *e;
    json_array_foreach(arr, i, e) {
        if (!json_is_null(e))
            return 0;
    }
    return 1;
}

static int cmd_json_numincrby(srv_call *x)
{
    int rc = check_type(x);
    if (rc)
        return rc > 0 ? 0 : rc;
    orbit_doc_coll *c;
    if ((rc = json_coll(x, &c)))
        return rc;
    char *path = path_arg(x, 2, &rc);
    if (!path)
        return rc;
    orbit_buf out = ORBIT_BUF_INIT;
    json_t *all = NULL;
    rc = orbit_doc_num_incr(x->tx, c, KEY(1), path, (const char *)x->argv[3].data,
                            x->argv[3].len, &out);
    if (rc == ORBIT_NOTFOUND) {
        rc = doc_missing(x);
    } else if (rc) {
        rc = models_fail(x, rc, "JSON.NUMINCRBY");
    } else if (!(rc = models_json_array(&out, &all))) {
        int none = all_null(all);
        if (!none)
            x->wrote = 1;
        if (!is_legacy(path)) {
            reply_bulk(x, out.data, out.len);
        } else if (json_array_size(all) == 0 || none) {
            reply_error(x, "Path '%s' does not exist or is not a number", path);
        } else {
            out.len = 0;
            rc = models_json_append(&out, json_array_get(all, 0));
            if (!rc)
                reply_bulk(x, out.data, out.len);
        }
    }
    json_decref(all);
    orbit_buf_release(&out);
    free(path);
    return rc;
}

static int cmd_json_arrappend(srv_call *x)
{
    int rc = check_type(x);
    if (rc)
        return rc > 0 ? 0 : rc;
    orbit_doc_coll *c;
    if ((rc = json_coll(x, &c)))
        return rc;
    char *path = path_arg(x, 2, &rc);
    if (!path)
        return rc;
    size_t n = (size_t)x->argc - 3;
    const char **vals = calloc(n, sizeof *vals);
    size_t *lens = calloc(n, sizeof *lens);
    orbit_buf out = ORBIT_BUF_INIT;
    json_t *all = NULL;
    if (!vals || !lens) {
        rc = ORBIT_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        vals[i] = (const char *)x->argv[i + 3].data;
        lens[i] = x->argv[i + 3].len;
    }
    rc = orbit_doc_arr_append(x->tx, c, KEY(1), path, n, vals, lens, &out);
    if (rc == ORBIT_NOTFOUND) {
        rc = doc_missing(x);
    } else if (rc) {
        rc = models_fail(x, rc, "JSON.ARRAPPEND");
    } else if (!(rc = models_json_array(&out, &all))) {
        if (!all_null(all))
            x->wrote = 1;
        if (is_legacy(path)) {
            const json_t *e = json_array_get(all, 0);
            if (!e || json_is_null(e))
                reply_error(x, "Path '%s' does not exist or is not an array", path);
            else
                rc = reply_matches(x, all, path, 1, 1);
        } else {
            rc = reply_matches(x, all, path, 1, 0);
        }
    }
done:
    json_decref(all);
    orbit_buf_release(&out);
    free(vals);
    free(lens);
    free(path);
    return rc;
}

#define W CMD_WRITE
#define R CMD_READONLY
#define T CMD_TXREAD

const srv_command srv_json_commands[] = {
    {"json.set", cmd_json_set, -4, W, 1, 1, 1, "json",
     "Set the JSON value at path of a document (created at the root)",
     "key path value [NX|XX]", NULL},
    {"json.get", cmd_json_get, -2, R | T, 1, 1, 1, "json",
     "The JSON value at each path of a document", "key [path ...]", NULL},
    {"json.del", cmd_json_del, -2, W, 1, 1, 1, "json",
     "Delete the values at path (default: the document)", "key [path]", NULL},
    {"json.forget", cmd_json_del, -2, W, 1, 1, 1, "json", "Alias of JSON.DEL", "key [path]",
     NULL},
    {"json.type", cmd_json_type, -2, R, 1, 1, 1, "json",
     "The JSON type of the values at path", "key [path]", NULL},
    {"json.mget", cmd_json_mget, -3, R, 1, -2, 1, "json",
     "The value at path of several documents", "key [key ...] path", NULL},
    {"json.numincrby", cmd_json_numincrby, 4, W, 1, 1, 1, "json",
     "Add a number to the numbers at path", "key path value", NULL},
    {"json.arrappend", cmd_json_arrappend, -4, W, 1, 1, 1, "json",
     "Append values to the arrays at path", "key path value [value ...]", NULL},
    {"json.objkeys", cmd_json_objkeys, -2, R, 1, 1, 1, "json",
     "The member names of the objects at path", "key [path]", NULL},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL},
};
