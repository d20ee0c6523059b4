/* zenws_jstr.h - the one JSON string escape/unescape unit (RFC 8259 §7):
 * ext/zenws_jstr.c, compiled into zenws.fast.jsonrpc only, and the inline
 * primitives below.  The decoder (zenws_json.c), the JSON-RPC scanner
 * (zenws_scan.c) and the encoder (zenws_jsonenc.c) call it directly; the JSONL
 * writer (zenws.fast.jsonl) through the cdef functions of jsonrpc.pxd.  So
 * every one of them writes and reads strings the same way, with the same SIMD
 * copy loops.  No Python API here (Py_ssize_t only).
 *
 * Escaping writes '"' and '\\' as \" and \\, the five controls with a short
 * form as \b \t \n \f \r, the other controls as \u00xx (lowercase hex, as
 * orjson and CPython's json do), and everything else as it is. */
#ifndef ZENWS_JSTR_H
#define ZENWS_JSTR_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "zenws_compat.h"

/* The unit's functions are called only from inside zenws.fast.jsonrpc (other
 * extensions get cdef function pointers): direct calls, no PLT. */
#if defined(__GNUC__) && !defined(_WIN32)
#  define ZENWS_JSTR_API __attribute__((visibility("hidden")))
#else
#  define ZENWS_JSTR_API
#endif

/* Forced inline: these sit inside the encoders' copy loops. */
#if defined(_MSC_VER) && !defined(__clang__)
#  define ZENWS_JSTR_FN static __forceinline
#else
#  define ZENWS_JSTR_FN static inline __attribute__((always_inline))
#endif

/* The escape letter of each byte: 'u' for \u00xx, a short-form letter, '"' or
 * '\\'; 0 when the byte goes out as it is (every byte >= 0x20 but '"' '\\'). */
static const char zenws_jstr_esc[256] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    0, 0, '"', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '\\', 0, 0, 0,
    /* 0x60..0xFF: 0 */
};

static const char zenws_jstr_hexdig[16] = "0123456789abcdef";

/* Write the escape of c (zenws_jstr_esc[c] != 0) at o; returns its length (2 or 6). */
ZENWS_JSTR_FN int zenws_jstr_escape(char *o, unsigned char c) {
    const char e = zenws_jstr_esc[c];
    o[0] = '\\';
    if (e != 'u') {
        o[1] = e;
        return 2;
    }
    o[1] = 'u';
    o[2] = '0';
    o[3] = '0';
    o[4] = zenws_jstr_hexdig[c >> 4];
    o[5] = zenws_jstr_hexdig[c & 15];
    return 6;
}

#define ZENWS_JSTR_ONES 0x0101010101010101ULL
#define ZENWS_JSTR_HIGH 0x8080808080808080ULL

/* Non-zero when the 8-byte word holds '"', '\\' or a byte < 0x20.  Exact as a
 * yes/no answer (bytes >= 0x80 are not flagged): the classic "has zero byte"
 * and "has byte less than" tests of Hacker's Delight / Bit Twiddling Hacks. */
ZENWS_JSTR_FN uint64_t zenws_jstr_stop8(uint64_t w) {
    const uint64_t q = w ^ (ZENWS_JSTR_ONES * '"'), b = w ^ (ZENWS_JSTR_ONES * '\\');
    return (((q - ZENWS_JSTR_ONES) & ~q) | ((b - ZENWS_JSTR_ONES) & ~b) |
            ((w - ZENWS_JSTR_ONES * 0x20) & ~w)) &
           ZENWS_JSTR_HIGH;
}

/* Hex digit value, or -1. */
static const signed char zenws_jstr_hexval[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -1, -1, -1, -1, -1,
    -1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

/* Value of the 4 hex digits at p (the caller checked 4 bytes exist), or -1. */
ZENWS_JSTR_FN long zenws_jstr_hex4(const char *p) {
    const unsigned char *u = (const unsigned char *)p;
    int a = zenws_jstr_hexval[u[0]], b = zenws_jstr_hexval[u[1]];
    int c = zenws_jstr_hexval[u[2]], d = zenws_jstr_hexval[u[3]];
    if ((a | b | c | d) < 0) return -1;
    return ((long)a << 12) | (b << 8) | (c << 4) | d;
}

/* ---- copying the plain part of a string ---- */

/* Byte loop: copy s[i..n) to o[i..) up to the first byte to escape. */
ZENWS_JSTR_FN Py_ssize_t zenws_jstr_copy_bytes(char *o, const char *s, Py_ssize_t i,
                                               Py_ssize_t n) {
    while (i < n && !zenws_jstr_esc[(unsigned char)s[i]]) {
        o[i] = s[i];
        i++;
    }
    return i;
}

ZENWS_JSTR_FN uint32_t zenws_jstr_stop4(uint32_t w) {
    const uint32_t ones = 0x01010101U, high = 0x80808080U;
    uint32_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    return (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w)) & high;
}

/* Copy s[0..n) to o[0..n) up to the first byte that needs an escape (bytes
 * >= 0x80 are plain); returns its index, or n.  Stores only inside o[0..n).
 * Over 16 bytes: zenws_jstr_copy_long(), the SIMD kernel the JSON string kernel
 * (ZENWS_KERNEL_JSON) names. */
ZENWS_JSTR_API Py_ssize_t zenws_jstr_copy_long(char *o, const char *s, Py_ssize_t n);

/* n <= 16: two overlapping words cover the string. */
ZENWS_JSTR_FN Py_ssize_t zenws_jstr_copy(char *o, const char *s, Py_ssize_t n) {
    if (n > 16) return zenws_jstr_copy_long(o, s, n);
    if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        if (ZENWS_UNLIKELY(zenws_jstr_stop8(a) | zenws_jstr_stop8(b)))
            return zenws_jstr_copy_bytes(o, s, 0, n);
        memcpy(o, &a, 8);
        memcpy(o + n - 8, &b, 8);
        return n;
    }
    if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        if (ZENWS_UNLIKELY(zenws_jstr_stop4(a) | zenws_jstr_stop4(b)))
            return zenws_jstr_copy_bytes(o, s, 0, n);
        memcpy(o, &a, 4);
        memcpy(o + n - 4, &b, 4);
        return n;
    }
    return zenws_jstr_copy_bytes(o, s, 0, n);
}

/* ---- a whole string, for the JSONL writer ---- */

/* The last harmless keys of up to 16 bytes (direct-mapped, 64 entries), owned by one
 * consumer: see zenws_jstr_quote(). */
#define ZENWS_KC_SLOTS 64
typedef struct {
    uint8_t key[ZENWS_KC_SLOTS][16];
    uint8_t len[ZENWS_KC_SLOTS];
} zenws_keycache;

/* s[0:k] as a quoted JSON string at out, escaped as orjson does.  With check,
 * multi-byte sequences are validated (RFC 3629 §4: no overlongs, surrogates or
 * code points above U+10FFFF).  With keys, the text is also read for
 * credential-looking keys in the same pass, exactly as zenws_jstr_has_secret_key()
 * reads it.  Returns the bytes written, -1 for invalid UTF-8, -2 for a suspicious
 * key (kc: a key cache owned by the caller, or NULL).  out must have room for
 * 6 * k + 18 bytes (16-byte stores may run past the last byte written). */
ZENWS_JSTR_API Py_ssize_t zenws_jstr_quote(char *out, const uint8_t *s, Py_ssize_t k, int check,
                                          int keys, zenws_keycache *kc);

/* True if some JSON string followed by ':' (a key) in s[0:k] looks credential-like
 * (token, secret, sig, pass, key, credential, cookie, auth, session, jwt; any case;
 * or an escaped key).  False means no key needs redaction. */
ZENWS_JSTR_API int zenws_jstr_has_secret_key(const uint8_t *s, Py_ssize_t k);

/* ---- unescaping ---- */

/* What zenws_jstr_unescape() returns for a bad escape (strict only). */
#define ZENWS_JSTR_BAD_ESCAPE (-1)    /* \ followed by a byte JSON does not allow */
#define ZENWS_JSTR_BAD_U (-2)         /* \u not followed by 4 hex digits */
#define ZENWS_JSTR_LONE_SURROGATE (-3)

/* Decode the escapes of the string body s[0..n) into out (at most n bytes: no
 * escape is shorter than its UTF-8); returns the length written.  strict: a bad
 * escape or a lone surrogate (RFC 8259 §7: not a Unicode scalar value, orjson
 * agrees) returns one of the negative codes above with *bad at its backslash.
 * Otherwise (text already validated by the scanner) an unknown escape gives its
 * byte, and a lone surrogate is kept as its 3-byte form, as json.loads keeps it.
 * *wide is set when an escape wrote a non-ASCII character. */
ZENWS_JSTR_API Py_ssize_t zenws_jstr_unescape(const char *s, Py_ssize_t n, char *out,
                                              int strict, const char **bad, int *wide);

#endif /* ZENWS_JSTR_H */
