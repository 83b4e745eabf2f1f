/*
 * The RESP request parser and reply encoder (resp.h).
 *
 * Invariants of the parser between calls on one command:
 *   - p->pos bytes of buf are parsed; p->argc arguments are complete, each
 *     an (offset, length) pair relative to buf[0], so the caller may move
 *     the unparsed command in memory between calls;
 *   - p->mbulk is the number of arguments still expected (-1 before the
 *     "*N" header), p->bulklen the length of the bulk whose body is next
 *     (-1 when its "$L" header is next);
 *   - nothing is allocated from a declared length: the argument arrays
 *     grow with arguments actually received (doubling), and a body is
 *     never copied (it is referenced in the caller's buffer).
 * The error texts are Redis's (networking.c), so clients see the same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/resp.h"

void resp_parser_init(resp_parser *p, size_t max_bulk)
{
    memset(p, 0, sizeof *p);
    p->max_bulk = max_bulk;
    p->mbulk = -1;
    p->bulklen = -1;
}

void resp_parser_release(resp_parser *p)
{
    free(p->off);
    free(p->len);
    free(p->argv);
    orbit_buf_release(&p->inl);
    p->off = p->len = NULL;
    p->argv = NULL;
    p->cap = p->argv_cap = 0;
}

void resp_parser_reset(resp_parser *p)
{
    p->pos = 0;
    p->mbulk = -1;
    p->bulklen = -1;
    p->argc = 0;
    p->is_inline = 0;
    p->inl.len = 0;
}

int resp_str2ll(const uint8_t *s, size_t n, long long *out)
{
    size_t i = 0;
    int neg = 0;
    unsigned long long v = 0;
    if (n == 0 || n > 20)
        return 0;
    if (s[0] == '-') {
        neg = 1;
        i = 1;
        if (n == 1)
            return 0;
    }
    if (s[i] == '0' && n > i + 1)
        return 0; /* leading zero */
    if (s[i] == '0' && neg)
        return 0; /* "-0" */
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (18446744073709551615ULL - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > 9223372036854775808ULL)
            return 0;
        *out = v == 9223372036854775808ULL ? (-9223372036854775807LL - 1) : -(long long)v;
    } else {
        if (v > 9223372036854775807ULL)
            return 0;
        *out = (long long)v;
    }
    return 1;
}

static int perr(resp_parser *p, const char *msg)
{
    snprintf(p->err, sizeof p->err, "Protocol error: %s", msg);
    return RESP_ERR;
}

static int add_arg(resp_parser *p, size_t off, size_t len)
{
    if (p->argc == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 8;
        size_t *o = realloc(p->off, ncap * sizeof *o);
        if (!o)
            return -1;
        p->off = o;
        size_t *l = realloc(p->len, ncap * sizeof *l);
        if (!l)
            return -1;
        p->len = l;
        p->cap = ncap;
    }
    p->off[p->argc] = off;
    p->len[p->argc] = len;
    p->argc++;
    return 0;
}

static int finish(resp_parser *p, const uint8_t *base, size_t consumed_len, size_t *consumed,
                  int *argc, const orbit_slice **argv)
{
    if (p->argc > p->argv_cap) {
        orbit_slice *a = realloc(p->argv, p->argc * sizeof *a);
        if (!a) {
            snprintf(p->err, sizeof p->err, "out of memory");
            return RESP_ERR;
        }
        p->argv = a;
        p->argv_cap = p->argc;
    }
    for (size_t i = 0; i < p->argc; i++) {
        /* base is NULL only when every argument is empty (no bytes held) */
        p->argv[i].data = base ? base + p->off[i] : NULL;
        p->argv[i].len = p->len[i];
    }
    *argc = (int)p->argc;
    *argv = p->argv;
    *consumed = consumed_len;
    /* the next command starts afresh; argv stays valid until then */
    p->pos = 0;
    p->mbulk = -1;
    p->bulklen = -1;
    p->argc = 0;
    p->is_inline = 0;
    return RESP_OK;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Split an inline line into words as Redis's sdssplitargs does. 0, -1 on
 * unbalanced quotes, -2 out of memory. */
static int split_inline(resp_parser *p, const uint8_t *s, size_t n)
{
    size_t i = 0;
    p->inl.len = 0;
    p->argc = 0;
    for (;;) {
        while (i < n && is_space(s[i]))
            i++;
        if (i >= n)
            return 0;
        size_t start = p->inl.len;
        int inq = 0, insq = 0, done = 0;
        while (!done) {
            uint8_t ch;
            if (inq) {
                if (i >= n)
                    return -1;
                if (s[i] == '\\' && i + 3 < n && s[i + 1] == 'x' && hexval(s[i + 2]) >= 0 &&
                    hexval(s[i + 3]) >= 0) {
                    ch = (uint8_t)(hexval(s[i + 2]) * 16 + hexval(s[i + 3]));
                    i += 4;
                } else if (s[i] == '\\' && i + 1 < n) {
                    i++;
                    switch (s[i]) {
                    case 'n': ch = '\n'; break;
                    case 'r': ch = '\r'; break;
                    case 't': ch = '\t'; break;
                    case 'b': ch = '\b'; break;
                    case 'a': ch = '\a'; break;
                    default: ch = s[i]; break;
                    }
                    i++;
                } else if (s[i] == '"') {
                    /* the closing quote must be followed by a space or the end */
                    if (i + 1 < n && !is_space(s[i + 1]))
                        return -1;
                    i++;
                    done = 1;
                    continue;
                } else {
                    ch = s[i++];
                }
            } else if (insq) {
                if (i >= n)
                    return -1;
                if (s[i] == '\\' && i + 1 < n && s[i + 1] == '\'') {
                    ch = '\'';
                    i += 2;
                } else if (s[i] == '\'') {
                    if (i + 1 < n && !is_space(s[i + 1]))
                        return -1;
                    i++;
                    done = 1;
                    continue;
                } else {
                    ch = s[i++];
                }
            } else {
                if (i >= n || is_space(s[i])) {
                    done = 1;
                    continue;
                }
                if (s[i] == '"') {
                    inq = 1;
                    i++;
                    continue;
                }
                if (s[i] == '\'') {
                    insq = 1;
                    i++;
                    continue;
                }
                ch = s[i++];
            }
            if (orbit_buf_append(&p->inl, &ch, 1))
                return -2;
        }
        if (p->argc >= RESP_MAX_ARGS)
            return -1;
        if (add_arg(p, start, p->inl.len - start))
            return -2;
    }
}

static const uint8_t *find_crlf(const uint8_t *s, size_t n)
{
    const uint8_t *nl = memchr(s, '\r', n);
    while (nl) {
        size_t at = (size_t)(nl - s);
        if (at + 1 >= n)
            return NULL;
        if (nl[1] == '\n')
            return nl;
        nl = memchr(nl + 1, '\r', n - at - 1);
    }
    return NULL;
}

static int parse_inline(resp_parser *p, const uint8_t *buf, size_t len, size_t *consumed,
                        int *argc, const orbit_slice **argv)
{
    const uint8_t *nl = memchr(buf, '\n', len);
    if (!nl) {
        if (len > RESP_MAX_INLINE)
            return perr(p, "too big inline request");
        return RESP_MORE;
    }
    size_t linelen = (size_t)(nl - buf);
    if (linelen > RESP_MAX_INLINE)
        return perr(p, "too big inline request");
    size_t end = linelen;
    if (end > 0 && buf[end - 1] == '\r')
        end--;
    int rc = split_inline(p, buf, end);
    if (rc == -1) {
        p->argc = 0;
        return perr(p, "unbalanced quotes in request");
    }
    if (rc == -2) {
        snprintf(p->err, sizeof p->err, "out of memory");
        return RESP_ERR;
    }
    return finish(p, p->inl.data, linelen + 1, consumed, argc, argv);
}

int resp_parse(resp_parser *p, const uint8_t *buf, size_t len, size_t *consumed, int *argc,
               const orbit_slice **argv)
{
    if (p->mbulk < 0 && p->pos == 0) {
        if (len == 0)
            return RESP_MORE;
        if (buf[0] != '*')
            return parse_inline(p, buf, len, consumed, argc, argv);
        const uint8_t *cr = find_crlf(buf, len);
        if (!cr) {
            if (len > RESP_MAX_INLINE)
                return perr(p, "too big mbulk count string");
            return RESP_MORE;
        }
        long long n;
        if (!resp_str2ll(buf + 1, (size_t)(cr - buf) - 1, &n) || n > RESP_MAX_ARGS)
            return perr(p, "invalid multibulk length");
        p->pos = (size_t)(cr - buf) + 2;
        if (n <= 0) {
            p->argc = 0;
            return finish(p, buf, p->pos, consumed, argc, argv);
        }
        p->mbulk = n;
        p->bulklen = -1;
        p->argc = 0;
    }
    while (p->mbulk > 0) {
        if (p->bulklen < 0) {
            if (p->pos >= len)
                return RESP_MORE;
            const uint8_t *s = buf + p->pos;
            size_t avail = len - p->pos;
            const uint8_t *cr = find_crlf(s, avail);
            if (!cr) {
                if (avail > RESP_MAX_INLINE)
                    return perr(p, "too big bulk count string");
                if (s[0] != '$')
                    goto expected_dollar;
                return RESP_MORE;
            }
            if (s[0] != '$') {
            expected_dollar:
                snprintf(p->err, sizeof p->err, "Protocol error: expected '$', got '%c'",
                         (s[0] >= 32 && s[0] < 127) ? s[0] : '?');
                return RESP_ERR;
            }
            long long bl;
            if (!resp_str2ll(s + 1, (size_t)(cr - s) - 1, &bl) || bl < 0 ||
                (unsigned long long)bl > p->max_bulk)
                return perr(p, "invalid bulk length");
            p->bulklen = bl;
            p->pos += (size_t)(cr - s) + 2;
        }
        /* the body and its CRLF */
        if (len - p->pos < (size_t)p->bulklen + 2)
            return RESP_MORE;
        if (add_arg(p, p->pos, (size_t)p->bulklen)) {
            snprintf(p->err, sizeof p->err, "out of memory");
            return RESP_ERR;
        }
        p->pos += (size_t)p->bulklen + 2;
        p->bulklen = -1;
        p->mbulk--;
    }
    return finish(p, buf, p->pos, consumed, argc, argv);
}

/* ---- replies --------------------------------------------------------- */

int resp_add_raw(orbit_buf *out, const void *p, size_t n)
{
    return orbit_buf_append(out, p, n);
}

int resp_add_line(orbit_buf *out, char type, const char *s, size_t n)
{
    if (orbit_buf_reserve(out, n + 3))
        return ORBIT_ENOMEM;
    out->data[out->len++] = (uint8_t)type;
    for (size_t i = 0; i < n; i++) /* a status line cannot hold CR or LF */
        out->data[out->len++] = (s[i] == '\r' || s[i] == '\n') ? ' ' : (uint8_t)s[i];
    out->data[out->len++] = '\r';
    out->data[out->len++] = '\n';
    return 0;
}

int resp_add_header(orbit_buf *out, char type, long long n)
{
    char tmp[32];
    int k = snprintf(tmp, sizeof tmp, "%c%lld\r\n", type, n);
    return orbit_buf_append(out, tmp, (size_t)k);
}

int resp_add_bulk(orbit_buf *out, const void *p, size_t n)
{
    char tmp[32];
    int k = snprintf(tmp, sizeof tmp, "$%zu\r\n", n);
    if (orbit_buf_reserve(out, (size_t)k + n + 2))
        return ORBIT_ENOMEM;
    memcpy(out->data + out->len, tmp, (size_t)k);
    out->len += (size_t)k;
    if (n)
        memcpy(out->data + out->len, p, n);
    out->len += n;
    out->data[out->len++] = '\r';
    out->data[out->len++] = '\n';
    return 0;
}
