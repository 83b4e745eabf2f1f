/*
 * What the model command families of orbitd share (models.c): the default
 * actor, a thread-safe cache of open model handles, the mapping of model
 * errors to replies, argument copies, double formatting, and the jansson
 * calls that read and write the compact JSON text the models hand out.
 *
 * Every model command works on the models actor (the models-actor setting,
 * config.h; by default ("orbit", "default"), the keyspace of the Redis
 * keys), on the provider placement gives it, opened once. Handles
 * of model objects (the JSON collection, vector collections, tables,
 * graphs, series) are opened by name and cached for the life of the
 * process (models_cache_*): the model handles are thread-safe, and a cached
 * handle is never closed while the server runs, so it outlives every
 * transaction that wrote through it (orbit/document.h, vector.h). Only
 * handles opened on committed data (no transaction) are cached; a handle
 * that exists only inside a caller's transaction is used for one command
 * and closed.
 *
 * Replies: a model error that leaves the transaction usable (ORBIT_EINVAL,
 * EEXIST, NOTFOUND, ECONSTRAINT, ETOOBIG before a write, ENOTSUP) is a
 * "-ERR ..." reply naming the model's detail; any other error is returned
 * to the dispatcher (commands.c), which rolls back and retries a conflict.
 */
#ifndef ORBIT_SERVER_T_MODELS_H
#define ORBIT_SERVER_T_MODELS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "orbit/model.h"
#include "orbit/txn.h"
#include "server/server.h"

/* The default actor, opened at first use. 0 or the store's error. *out is
 * borrowed (lives until exit). */
int models_actor(const orbit_actor **out);

/* Kinds of cached handles. */
enum { MC_DOC = 1, MC_VEC = 2, MC_TABLE = 3, MC_GRAPH = 4, MC_SERIES = 5 };

/* The cached handle of (kind, name), or NULL. */
void *models_cache_get(int kind, const char *name);
/* Cache h under (kind, name). If another thread cached one first, h is
 * closed and that one is returned. NULL on ENOMEM (h closed). */
void *models_cache_put(int kind, const char *name, void *h);

/* After a handle was opened and cached for the first time while x runs in
 * a transaction: that transaction's snapshot may predate the object
 * (created by this or another client), so the command must run again in a
 * fresh one. Returns ORBIT_ECONFLICT (the dispatcher reruns the command,
 * nothing applied) when x has a transaction, else 0. */
int models_rerun(srv_call *x, const char *what);

/* A NUL-terminated copy of argument a (malloc'd; NULL on ENOMEM or when a
 * holds a NUL byte, *bad then set). */
char *models_cstr(const srv_arg *a, int *bad);

/* Reply for a model call's result rc < 0 or NOTFOUND: 0 (an -ERR reply
 * was written: prefix names the command, e.g. "TS.ADD") or rc (the
 * dispatcher's business). */
int models_fail(srv_call *x, int rc, const char *what);

/* The shortest text that reads back as d ("1.5", "0.1", "3"). */
int models_fmt_double(char *buf, size_t n, double d);
void models_reply_double(srv_call *x, double d);

/* Parse a strict double / int64 argument. 1 ok, 0 bad. */
int models_arg_double(const srv_arg *a, double *out);
int models_arg_i64(const srv_arg *a, int64_t *out);

/* ---- JSON (jansson) ----------------------------------------------------
 * The models hand out JSON text that jansson dumped with
 * MODELS_JSON_OUT (orbit/document.h results, vector metadata).
 * Re-dumping a value parsed from such text with the same flags gives the
 * same bytes: members keep their order (jansson objects iterate and dump
 * in insertion order) and real numbers print as jansson's "%.17g" both
 * times. */
#define MODELS_JSON_OUT (JSON_COMPACT | JSON_ENCODE_ANY)

/* Parse n bytes of JSON text (any value; strings may hold NUL bytes).
 * The new value (the caller owns it: json_decref), or NULL when the text
 * is malformed or on ENOMEM (then *nomem, if not NULL, says which). */
json_t *models_json_load(const void *p, size_t n, int *nomem);
/* Parse the JSON array text a model returned into *out (the caller owns
 * it). 0, ORBIT_ECORRUPT (not a JSON array; *out NULL) or ORBIT_ENOMEM. */
int models_json_array(const orbit_buf *text, json_t **out);
/* Append v's MODELS_JSON_OUT text to out. v's strings must be UTF-8
 * (parsed, or made by models_json_string). 0 or ORBIT_ENOMEM. */
int models_json_append(orbit_buf *out, const json_t *v);
/* A new JSON string holding s[0..n) (NUL bytes allowed) into *out (the
 * caller owns it). 0, ORBIT_EINVAL (s is not UTF-8) or ORBIT_ENOMEM. */
int models_json_string(const void *s, size_t n, json_t **out);
/* Append s[0..n) to out as a JSON string, quoted and escaped as jansson
 * dumps it. 0, ORBIT_EINVAL (s is not UTF-8; out unchanged) or
 * ORBIT_ENOMEM. */
int models_json_quote(orbit_buf *out, const void *s, size_t n);

#endif
