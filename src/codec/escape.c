/*
 * Printable escaping of arbitrary bytes (orbit/codec.h), for error details
 * and the CLI, where keys and values may hold ':', spaces, 0x00 or 0xFF.
 *
 * Invariants: orbit_escape writes only printable ASCII, and
 * orbit_unescape(orbit_escape(x)) == x for every byte string x. The escape
 * alphabet is exactly: printable ASCII other than '\\' as itself, "\\\\",
 * and "\xHH" (lowercase hex on output, either case on input); unescape
 * additionally accepts "\0", "\n", "\t" and "\r". On failure `out` is
 * restored to its length on entry.
 *
 * Layer: src/codec; no dependency beyond orbit_buf.
 */
#include "orbit/codec.h"
#include "orbit/provider.h"

static const char hexdigits[] = "0123456789abcdef";

int orbit_escape(orbit_buf *out, const void *p, size_t n)
{
    if (n > 0 && !p)
        return orbit_error_set(ORBIT_EINVAL, "escape: NULL data of length %zu", n);
    const uint8_t *s = p;
    size_t need = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\')
            need += 2;
        else if (s[i] >= 0x20 && s[i] < 0x7F)
            need += 1;
        else
            need += 4;
    }
    if (need == 0)
        return ORBIT_OK; /* out->data may still be NULL: no pointer arithmetic on it */
    int rc = orbit_buf_reserve(out, need);
    if (rc)
        return rc;
    uint8_t *dst = out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c == '\\') {
            *dst++ = '\\';
            *dst++ = '\\';
        } else if (c >= 0x20 && c < 0x7F) {
            *dst++ = c;
        } else {
            *dst++ = '\\';
            *dst++ = 'x';
            *dst++ = (uint8_t)hexdigits[c >> 4];
            *dst++ = (uint8_t)hexdigits[c & 0xF];
        }
    }
    out->len += need;
    return ORBIT_OK;
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

static int bad_escape(orbit_buf *out, size_t mark, size_t at, const char *why)
{
    out->len = mark;
    return orbit_error_set(ORBIT_EINVAL, "malformed escape at offset %zu: %s", at, why);
}

int orbit_unescape(orbit_buf *out, const char *s, size_t n)
{
    if (n > 0 && !s)
        return orbit_error_set(ORBIT_EINVAL, "unescape: NULL text of length %zu", n);
    if (n == 0)
        return ORBIT_OK; /* out->data may still be NULL: no pointer arithmetic on it */
    size_t mark = out->len;
    /* The output is never longer than the input. */
    int rc = orbit_buf_reserve(out, n);
    if (rc)
        return rc;
    uint8_t *dst = out->data + out->len;
    size_t i = 0;
    while (i < n) {
        char c = s[i];
        if (c != '\\') {
            *dst++ = (uint8_t)c;
            i++;
            continue;
        }
        if (i + 1 >= n)
            return bad_escape(out, mark, i, "trailing backslash");
        switch (s[i + 1]) {
        case '\\': *dst++ = '\\'; i += 2; break;
        case '0': *dst++ = 0x00; i += 2; break;
        case 'n': *dst++ = '\n'; i += 2; break;
        case 't': *dst++ = '\t'; i += 2; break;
        case 'r': *dst++ = '\r'; i += 2; break;
        case 'x': {
            int hi = i + 2 < n ? hexval(s[i + 2]) : -1;
            int lo = i + 3 < n ? hexval(s[i + 3]) : -1;
            if (hi < 0 || lo < 0)
                return bad_escape(out, mark, i, "\\x needs two hex digits");
            *dst++ = (uint8_t)(hi << 4 | lo);
            i += 4;
            break;
        }
        default:
            return bad_escape(out, mark, i, "unknown escape character");
        }
    }
    out->len = (size_t)(dst - out->data);
    return ORBIT_OK;
}
