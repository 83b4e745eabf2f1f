/*
 * RESP: the Redis protocol's request parser and reply encoder.
 *
 * The parser reads one command at a time from a caller's buffer: a
 * multibulk request ("*N\r\n$L\r\n...") or an inline one (a line split
 * into words, with Redis's quoting rules). It is incremental: when a
 * command is incomplete it remembers how far it got, and the next call,
 * given the same bytes plus more (the command still starting at buf[0],
 * wherever the caller moved it), continues from there. Limits are checked
 * on the declared sizes before anything is allocated: a bulk longer than
 * max_bulk, more than RESP_MAX_ARGS arguments or a header line longer
 * than RESP_MAX_INLINE is a protocol error with Redis's text. Nothing here
 * does I/O or touches a store, so fuzz/fuzz_resp.c runs it alone.
 *
 * Ownership: the parser owns its arrays (resp_parser_release frees them).
 * After RESP_OK, argv[i].data points into the caller's buffer (multibulk)
 * or into the parser (inline words) and stays valid until the next call.
 */
#ifndef ORBIT_SERVER_RESP_H
#define ORBIT_SERVER_RESP_H

#include <stddef.h>
#include <stdint.h>

#include "orbit/buf.h"
#include "orbit/kv.h"

#define RESP_MAX_INLINE (64 * 1024)  /* Redis's PROTO_INLINE_MAX_SIZE */
#define RESP_MAX_ARGS (1024 * 1024)  /* Redis's multibulk length limit */

enum {
    RESP_OK = 0,   /* a command (possibly argc 0: skip it) is complete */
    RESP_MORE = 1, /* incomplete: call again with more bytes */
    RESP_ERR = 2,  /* protocol error: reply err, close the connection */
};

typedef struct resp_parser {
    size_t max_bulk;   /* largest bulk accepted */
    /* progress through the current command */
    size_t pos;        /* bytes of the command parsed so far */
    long long mbulk;   /* arguments still expected; -1: no header read */
    long long bulklen; /* current bulk's length; -1: its header is next */
    size_t argc, cap;
    size_t *off, *len; /* argument i is buf[off[i] .. off[i]+len[i]) */
    int is_inline;
    orbit_buf inl;     /* inline words, unescaped */
    orbit_slice *argv; /* filled at RESP_OK */
    size_t argv_cap;
    char err[96];      /* the protocol error, "Protocol error: ..." */
} resp_parser;

void resp_parser_init(resp_parser *p, size_t max_bulk);
void resp_parser_release(resp_parser *p);
/* Forget a partly parsed command (after RESP_OK this is implicit). */
void resp_parser_reset(resp_parser *p);

/* Parse the command at buf[0..len). RESP_OK: *argc / *argv are set and
 * *consumed is the command's length in bytes; RESP_MORE; or RESP_ERR with
 * p->err set. An allocation failure is RESP_ERR too ("out of memory"). */
int resp_parse(resp_parser *p, const uint8_t *buf, size_t len, size_t *consumed,
               int *argc, const orbit_slice **argv);

/* Reply encoding, appended to out (0 or ORBIT_ENOMEM). */
int resp_add_raw(orbit_buf *out, const void *p, size_t n);
/* Append a string literal. */
#define RESP_RAW(out, lit) resp_add_raw((out), (lit), sizeof(lit) - 1)
int resp_add_line(orbit_buf *out, char type, const char *s, size_t n); /* "+s\r\n" */
int resp_add_header(orbit_buf *out, char type, long long n);          /* "*n\r\n" */
int resp_add_bulk(orbit_buf *out, const void *p, size_t n);

/* Strict decimal integer (Redis's string2ll): optional '-', no leading
 * zeros or spaces, fits long long. 1 on success. */
int resp_str2ll(const uint8_t *s, size_t n, long long *out);

#endif
