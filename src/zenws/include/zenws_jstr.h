/* zenws_jstr.h - the JSON string escape/unescape primitives (RFC 8259 §7) that
 * the decoder (zenws_json.c), the JSON-RPC scanner (zenws_scan.c), the encoder
 * (zenws_jsonenc.c) and the JSONL writer (zenws_jsonl.h) share, so every one of
 * them writes and reads strings the same way.  Stateless: static inline tables
 * and functions, no kernel choice.  No Python API here.
 *
 * Escaping writes '"' and '\\' as \" and \\, the five controls with a short
 * form as \b \t \n \f \r, the other controls as \u00xx (lowercase hex, as
 * orjson and CPython's json do), and everything else as it is. */
#ifndef ZENWS_JSTR_H
#define ZENWS_JSTR_H

#include <stdint.h>

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

#endif /* ZENWS_JSTR_H */
