/* zenws_scan.c - top-level JSON-RPC member scanner (see zenws_scan.h).
 *
 * Two scanners with the same result on every valid document:
 *   - zenws_scan_strict(): a byte-level RFC 8259 parser of the whole input,
 *     one token at a time; strings skipped 16 bytes at a time (SSE2) or 8 at a
 *     time (SWAR), stopping only at '"', '\\' or a raw control character.
 *     Used for messages shorter than ZENWS_SCAN_STRICT_BELOW bytes.
 *   - scan_blocks() (zenws_scan() for longer messages): SIMD masks of each
 *     64-byte block, tokens found by bit iteration; the top-level object and
 *     a top-level "params" object are grammar-checked, every other container
 *     is skipped by structure (strings, brackets, truncation).
 * Both are iterative (explicit container stack bounded by
 * ZENWS_SCAN_MAX_DEPTH), look only at the top-level keys (and params'), and
 * guard every read by `end`: truncated input can only end a loop. */
#include "zenws_scan.h"
#include "zenws_compat.h"

#include <string.h>

/* ZENWS_SCAN_NO_SIMD=1 forces the portable SWAR path (used to test it). */
#if !defined(ZENWS_SCAN_NO_SIMD) && \
    (defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2))
#  include <emmintrin.h>
#  define ZENWS_SCAN_SSE2 1
#else
#  define ZENWS_SCAN_SSE2 0
#endif

#if defined(_MSC_VER) && !defined(__clang__)
#  include <intrin.h>
static inline int zenws_ctz32(unsigned int x) {
    unsigned long i;
    _BitScanForward(&i, x);
    return (int)i;
}
#else
#  define zenws_ctz32(x) __builtin_ctz(x)
#endif

/* Bytes that end the fast part of a string: '"', '\\' and the control
 * characters U+0000..U+001F that RFC 8259 §7 forbids unescaped. */
static const unsigned char zenws_str_stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20: '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50: '\\' */
    /* 0x60..0xFF: zero */
};

/* Hex digit value, or -1. */
static const signed char zenws_hexval[256] = {
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

#define ZENWS_IS_WS(c) ((c) == ' ' || (c) == '\n' || (c) == '\r' || (c) == '\t')
#define ZENWS_IS_DIGIT(c) ((unsigned char)((c) - '0') < 10)

/* Value of 4 hex digits at p (caller checked 4 bytes exist), or -1. */
ZENWS_INLINE long hex4(const char *p) {
    const unsigned char *u = (const unsigned char *)p;
    int a = zenws_hexval[u[0]], b = zenws_hexval[u[1]];
    int c = zenws_hexval[u[2]], d = zenws_hexval[u[3]];
    if ((a | b | c | d) < 0) return -1;
    return ((long)a << 12) | (b << 8) | (c << 4) | d;
}

/* p points just after an opening quote.  Returns a pointer to the closing
 * quote, or NULL for an unterminated string, a raw control character or an
 * invalid escape (RFC 8259 §7).  Sets *escaped when a backslash occurs. */
static const char *scan_string(const char *p, const char *end, int *escaped) {
    for (;;) {
#if ZENWS_SCAN_SSE2
        const __m128i quote = _mm_set1_epi8('"');
        const __m128i bslash = _mm_set1_epi8('\\');
        const __m128i ctl = _mm_set1_epi8(0x1F);
        while (end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
            /* max_epu8(v, 0x1F) == 0x1F exactly when v <= 0x1F (unsigned). */
            __m128i hit = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl));
            int mask = _mm_movemask_epi8(hit);
            if (mask) {
                p += zenws_ctz32((unsigned int)mask);
                goto stop;
            }
            p += 16;
        }
#else
        /* SWAR: a word holds a stop byte when it has a '"' or '\\' byte or a
         * byte < 0x20; the exact position is then found byte by byte. */
        while (end - p >= 8) {
            const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
            uint64_t w, q, b;
            memcpy(&w, p, 8);
            q = w ^ (ones * '"');
            b = w ^ (ones * '\\');
            if ((((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w)) & high) break;
            p += 8;
        }
#endif
        while (p < end && !zenws_str_stop[(unsigned char)*p]) p++;
        if (ZENWS_UNLIKELY(p >= end)) return NULL;
#if ZENWS_SCAN_SSE2
    stop:
#endif
        if (ZENWS_LIKELY(*p == '"')) return p;
        if (*p != '\\') return NULL; /* raw control character */
        *escaped = 1;
        if (end - p < 2) return NULL;
        switch (p[1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            p += 2;
            break;
        case 'u':
            if (end - p < 6 || hex4(p + 2) < 0) return NULL;
            p += 6;
            break;
        default:
            return NULL;
        }
    }
}

/* Length of the run of ASCII digits at p (bounded by end). */
ZENWS_INLINE Py_ssize_t digit_run(const char *p, const char *end) {
    const char *s = p;
#if ZENWS_SCAN_SSE2
    const __m128i zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8('9');
    while (end - p >= 16) {
        /* Signed compares: bytes >= 0x80 are negative, so non-digits too. */
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        int m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpgt_epi8(zero, v), _mm_cmpgt_epi8(v, nine)));
        if (m) return (p - s) + zenws_ctz32((unsigned int)m);
        p += 16;
    }
#endif
    while (p < end && ZENWS_IS_DIGIT(*p)) p++;
    return p - s;
}

/* RFC 8259 §6 number at p ('-' or a digit).  Returns its end or NULL. */
ZENWS_INLINE const char *skip_number(const char *p, const char *end) {
    Py_ssize_t n;
    if (*p == '-') p++;
    n = digit_run(p, end);
    if (n == 0 || (*p == '0' && n > 1)) return NULL; /* no leading zeros */
    p += n;
    if (p < end && *p == '.') {
        n = digit_run(++p, end);
        if (n == 0) return NULL;
        p += n;
    }
    if (p < end && (*p | 0x20) == 'e') {
        if (++p < end && (*p == '+' || *p == '-')) p++;
        n = digit_run(p, end);
        if (n == 0) return NULL;
        p += n;
    }
    return p;
}

/* End quote of the string whose content starts at p, or NULL.  The common
 * case (a stop byte within 16 bytes and it is the closing quote) is inline;
 * long strings, escapes and the last 16 bytes go to scan_string(). */
ZENWS_INLINE const char *string_end(const char *p, const char *end, int *escaped) {
#if ZENWS_SCAN_SSE2
    if (ZENWS_LIKELY(end - p >= 16)) {
        const __m128i ctl = _mm_set1_epi8(0x1F);
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i hit = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                         _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
            _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl));
        int mask = _mm_movemask_epi8(hit);
        if (ZENWS_LIKELY(mask)) {
            const char *q = p + zenws_ctz32((unsigned int)mask);
            if (ZENWS_LIKELY(*q == '"')) return q;
            return scan_string(q, end, escaped);
        }
        return scan_string(p + 16, end, escaped);
    }
#endif
    return scan_string(p, end, escaped);
}

ZENWS_INLINE const char *skip_ws(const char *p, const char *end) {
    /* Compact JSON (what exchanges send) has none: one compare per call. */
    while (p < end && (unsigned char)*p <= ' ' && ZENWS_IS_WS(*p)) p++;
    return p;
}

ZENWS_INLINE const char *skip_literal(const char *p, const char *end, const char *lit, size_t n) {
    if ((size_t)(end - p) < n || memcmp(p, lit, n) != 0) return NULL;
    return p + n;
}

/* Bit i of each mask describes byte i of a 64-byte block. */
typedef struct {
    uint64_t quote, bslash, bracket, ctl;
} zenws_block_t;

ZENWS_INLINE void classify64(const char *p, zenws_block_t *m) {
#if ZENWS_SCAN_SSE2
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i lower = _mm_set1_epi8(0x20), ctl = _mm_set1_epi8(0x1F);
    const __m128i open = _mm_set1_epi8(0x7B), close = _mm_set1_epi8(0x7D);
    __m128i v[4], bs[4], cc[4];
    uint64_t q = 0, k = 0;
    int i;
    for (i = 0; i < 4; i++) {
        __m128i f;
        v[i] = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i));
        /* '{' | 0x20 == '[' | 0x20 == 0x7B, '}' | 0x20 == ']' | 0x20 == 0x7D */
        f = _mm_or_si128(v[i], lower);
        q |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v[i], quote)) << (16 * i);
        k |= (uint64_t)(unsigned)_mm_movemask_epi8(
                 _mm_or_si128(_mm_cmpeq_epi8(f, open), _mm_cmpeq_epi8(f, close)))
             << (16 * i);
        bs[i] = _mm_cmpeq_epi8(v[i], bslash);
        cc[i] = _mm_cmpeq_epi8(_mm_max_epu8(v[i], ctl), ctl);
    }
    m->quote = q;
    m->bracket = k;
    m->bslash = m->ctl = 0;
    /* Backslashes and control bytes are rare: one test for the whole block. */
    if (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(bs[0], bs[1]), _mm_or_si128(bs[2], bs[3])))) {
        for (i = 0; i < 4; i++)
            m->bslash |= (uint64_t)(unsigned)_mm_movemask_epi8(bs[i]) << (16 * i);
    }
    if (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(cc[0], cc[1]), _mm_or_si128(cc[2], cc[3])))) {
        for (i = 0; i < 4; i++)
            m->ctl |= (uint64_t)(unsigned)_mm_movemask_epi8(cc[i]) << (16 * i);
    }
#else
    int i;
    m->quote = m->bslash = m->bracket = m->ctl = 0;
    for (i = 0; i < 64; i++) {
        unsigned char x = (unsigned char)p[i];
        uint64_t bit = (uint64_t)1 << i;
        if (x == '"') m->quote |= bit;
        else if (x == '\\') m->bslash |= bit;
        else if ((x | 0x20) == 0x7B || (x | 0x20) == 0x7D) m->bracket |= bit;
        else if (x < 0x20) m->ctl |= bit;
    }
#endif
}

/* ':' and ',' of a 64-byte block. */
ZENWS_INLINE uint64_t punct64(const char *p) {
    uint64_t n = 0;
    int i;
#if ZENWS_SCAN_SSE2
    const __m128i colon = _mm_set1_epi8(':'), comma = _mm_set1_epi8(',');
    for (i = 0; i < 4; i++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i));
        n |= (uint64_t)(unsigned)_mm_movemask_epi8(
                 _mm_or_si128(_mm_cmpeq_epi8(v, colon), _mm_cmpeq_epi8(v, comma)))
             << (16 * i);
    }
#else
    for (i = 0; i < 64; i++)
        if (p[i] == ':' || p[i] == ',') n |= (uint64_t)1 << i;
#endif
    return n;
}

/* Bit i becomes the XOR of bits 0..i: with quote bits as input, 1 from an
 * opening quote up to (not including) its closing quote. */
ZENWS_INLINE uint64_t prefix_xor(uint64_t x) {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}

ZENWS_INLINE int zenws_ctz64(uint64_t x) {
#if defined(_MSC_VER) && !defined(__clang__)
    unsigned long i;
    _BitScanForward64(&i, x);
    return (int)i;
#else
    return __builtin_ctzll(x);
#endif
}

/* Mark the bytes escaped by a backslash in this block (bit i+1 for an
 * unescaped backslash at i; *carry moves bit 64 into the next block) and
 * check each escape against RFC 8259 §7.  Returns -1 for a bad escape. */
static int block_escapes(const char *p, const char *end, uint64_t bs, uint64_t *escaped,
                         uint64_t *carry) {
    uint64_t e = *carry;
    *carry = 0;
    while (bs) {
        int i = zenws_ctz64(bs);
        const char *x = p + i + 1;
        bs &= bs - 1;
        if ((e >> i) & 1) continue; /* this backslash is itself escaped */
        if (x >= end) return -1;
        switch (*x) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            break;
        case 'u':
            if (end - x < 5 || hex4(x + 1) < 0) return -1;
            break;
        default:
            return -1;
        }
        if (i == 63)
            *carry = 1;
        else
            e |= (uint64_t)1 << (i + 1);
    }
    *escaped = e;
    return 0;
}

enum { K_OTHER, K_ID, K_METHOD, K_RESULT, K_ERROR, K_PARAMS, K_CHANNEL };

/* Decode an escaped key into tmp[8] for comparison.  Every key we look for
 * is short ASCII, so anything longer or non-ASCII returns -1 (no match). */
static Py_ssize_t decode_short_key(const char *s, Py_ssize_t n, char *tmp) {
    Py_ssize_t i = 0, o = 0;
    while (i < n) {
        char c = s[i];
        if (o == 8) return -1;
        if (c != '\\') {
            tmp[o++] = c;
            i++;
            continue;
        }
        switch (s[i + 1]) { /* scan_string validated the escape */
        case 'u': {
            long cp = hex4(s + i + 2);
            if (cp < 0 || cp >= 0x80) return -1;
            tmp[o++] = (char)cp;
            i += 6;
            continue;
        }
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        default: c = s[i + 1]; break; /* '"', '\\', '/' */
        }
        tmp[o++] = c;
        i += 2;
    }
    return o;
}

static int classify_key(const char *s, Py_ssize_t n, int escaped) {
    char tmp[8];
    if (ZENWS_UNLIKELY(escaped)) {
        n = decode_short_key(s, n, tmp);
        s = tmp;
    }
    switch (n) {
    case 2:
        if (s[0] == 'i' && s[1] == 'd') return K_ID;
        break;
    case 5:
        if (memcmp(s, "error", 5) == 0) return K_ERROR;
        break;
    case 6:
        if (memcmp(s, "method", 6) == 0) return K_METHOD;
        if (memcmp(s, "result", 6) == 0) return K_RESULT;
        if (memcmp(s, "params", 6) == 0) return K_PARAMS;
        break;
    case 7:
        if (memcmp(s, "channel", 7) == 0) return K_CHANNEL;
        break;
    default:
        break;
    }
    return K_OTHER;
}

/* An integer id span [p, q) (grammar already checked) into out->id_int;
 * returns 0 when it has a fraction/exponent or does not fit in int64. */
static int parse_i64(const char *p, const char *q, int64_t *v) {
    uint64_t u = 0;
    int neg = (*p == '-');
    const char *d = p + neg;
    if (q - d > 19) return 0; /* no leading zeros, so >= 1e19 */
    for (; d < q; d++) {
        if (!ZENWS_IS_DIGIT(*d)) return 0;
        u = u * 10 + (uint64_t)(*d - '0');
    }
    if (neg ? u > (uint64_t)INT64_MAX + 1 : u > (uint64_t)INT64_MAX) return 0;
    *v = neg ? (int64_t)(0 - u) : (int64_t)u;
    return 1;
}

/* UTF-8 check of a returned string span.  Surrogate code points (ED A0..BF)
 * are accepted because json.loads decodes bytes with "surrogatepass". */
static int utf8_ok(const char *s, Py_ssize_t n) {
    const unsigned char *u = (const unsigned char *)s, *e = u + n;
    while (u < e) {
        unsigned char c = *u;
        int need;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            u++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return 0;
        }
        if (e - u <= need || u[1] < lo || u[1] > hi) return 0;
        if (need >= 2 && (u[2] & 0xC0) != 0x80) return 0;
        if (need == 3 && (u[3] & 0xC0) != 0x80) return 0;
        u += need + 1;
    }
    return 1;
}

/* Field by field: a memset of the struct compiles to `rep stos`, whose
 * start-up cost alone was a third of a small message's scan time. */
ZENWS_INLINE void clear_result(zenws_scan_t *out) {
    out->kind = ZENWS_KIND_OTHER;
    out->id_type = ZENWS_ID_NONE;
    out->id_int = 0;
    out->id_off = out->id_len = 0;
    out->method_off = out->method_len = 0;
    out->channel_off = out->channel_len = 0;
    out->id_escaped = out->method_escaped = out->channel_escaped = 0;
    out->has_result = out->has_error = 0;
}

/* Kind rules and final checks shared by both scanners (see the header). */
static int finish(const char *buf, zenws_scan_t *out, int top_object, int has_method,
                  int has_channel) {
    int has_id, kind;
    if (!top_object) return out->kind = ZENWS_KIND_OTHER; /* valid, not JSON-RPC */
    if (out->id_type == ZENWS_ID_INVALID) goto invalid;
    has_id = out->id_type != ZENWS_ID_NONE;
    if (has_id && (out->has_result || out->has_error))
        kind = ZENWS_KIND_RESPONSE;
    else if (has_method && !has_id)
        kind = ZENWS_KIND_NOTIFICATION;
    else if (has_method)
        kind = ZENWS_KIND_REQUEST;
    else if (out->has_error)
        kind = ZENWS_KIND_ERROR_NO_ID;
    else
        kind = ZENWS_KIND_OTHER;
    if (!has_method) {
        out->method_off = out->method_len = 0;
        out->method_escaped = 0;
    }
    if (!has_channel || kind != ZENWS_KIND_NOTIFICATION) {
        out->channel_off = out->channel_len = 0;
        out->channel_escaped = 0;
    }
    if (!utf8_ok(buf + out->method_off, out->method_len) ||
        !utf8_ok(buf + out->channel_off, out->channel_len) ||
        (out->id_type == ZENWS_ID_STRING && !utf8_ok(buf + out->id_off, out->id_len)))
        goto invalid;
    return out->kind = kind;
invalid:
    clear_result(out);
    return out->kind = ZENWS_KIND_INVALID;
}

/* Gap between two tokens that must hold only whitespace. */
ZENWS_INLINE int gap_ws(const char *a, const char *b) {
    for (; a < b; a++)
        if (!ZENWS_IS_WS(*a)) return 0;
    return 1;
}

/* Gap that must hold exactly one number or literal (whitespace around it).
 * Sets [*s, *e) to the token; returns 0 if the gap is anything else. */
ZENWS_INLINE int gap_scalar(const char *a, const char *b, const char **s, const char **e) {
    const char *q;
    a = skip_ws(a, b);
    if (a >= b) return 0;
    switch (*a) {
    case 't': q = skip_literal(a, b, "true", 4); break;
    case 'f': q = skip_literal(a, b, "false", 5); break;
    case 'n': q = skip_literal(a, b, "null", 4); break;
    default:
        if (*a != '-' && !ZENWS_IS_DIGIT(*a)) return 0;
        q = skip_number(a, b);
        break;
    }
    if (!q || skip_ws(q, b) != b) return 0;
    *s = a;
    *e = q;
    return 1;
}

/* Walker states of zenws_scan(). */
enum { S_VALUE, S_OBJECT_START, S_KEY, S_KEY_END, S_COLON, S_STRING_END, S_AFTER };

/* The strict scanner: a byte-level RFC 8259 parser of the whole document
 * (every nested value is grammar-checked), one token at a time. */
int zenws_scan_strict(const char *buf, Py_ssize_t len, zenws_scan_t *out) {
    const char *p = buf, *end = buf + (len > 0 ? len : 0), *q;
    /* stack[d] = 1 when the container at depth d is an object, 0 an array.
     * Depth 1 is the top-level value; params is the object at depth 2. */
    unsigned char stack[ZENWS_SCAN_MAX_DEPTH + 1];
    int depth = 0, key = K_OTHER, esc;
    int top_object, has_method = 0, has_channel = 0, params_next = 0, params_open = 0;

    clear_result(out);
    p = skip_ws(p, end);
    if (p >= end) goto invalid;
    top_object = (*p == '{');

value: /* p < end, at the first byte of a value; `key` names its member */
    if (ZENWS_UNLIKELY(key != K_OTHER)) {
        switch (key) {
        case K_ID:
            out->id_off = out->id_len = 0;
            out->id_escaped = 0;
            out->id_int = 0;
            if (*p == '"') {
                esc = 0;
                q = string_end(p + 1, end, &esc);
                if (!q) goto invalid;
                out->id_type = ZENWS_ID_STRING;
                out->id_off = (p + 1) - buf;
                out->id_len = q - (p + 1);
                out->id_escaped = esc;
                p = q + 1;
                goto after;
            }
            if (*p == '-' || ZENWS_IS_DIGIT(*p)) {
                q = skip_number(p, end);
                if (!q) goto invalid;
                out->id_type = parse_i64(p, q, &out->id_int) ? ZENWS_ID_INT : ZENWS_ID_INVALID;
                p = q;
                goto after;
            }
            /* JSON-RPC 2.0 §5: a null id is no id; bool/object/array: invalid */
            out->id_type = (*p == 'n') ? ZENWS_ID_NONE : ZENWS_ID_INVALID;
            break;
        case K_METHOD:
            has_method = (*p == '"');
            if (has_method) {
                esc = 0;
                q = string_end(p + 1, end, &esc);
                if (!q) goto invalid;
                out->method_off = (p + 1) - buf;
                out->method_len = q - (p + 1);
                out->method_escaped = esc;
                p = q + 1;
                goto after;
            }
            break;
        case K_CHANNEL:
            has_channel = (*p == '"');
            if (has_channel) {
                esc = 0;
                q = string_end(p + 1, end, &esc);
                if (!q) goto invalid;
                out->channel_off = (p + 1) - buf;
                out->channel_len = q - (p + 1);
                out->channel_escaped = esc;
                p = q + 1;
                goto after;
            }
            break;
        case K_PARAMS:
            has_channel = 0; /* a later "params" replaces an earlier one */
            params_next = (*p == '{');
            break;
        case K_RESULT:
            out->has_result = 1;
            break;
        case K_ERROR:
            out->has_error = 1;
            break;
        }
        key = K_OTHER;
    }
    switch (*p) {
    case '"':
        esc = 0;
        p = string_end(p + 1, end, &esc);
        if (!p) goto invalid;
        p++;
        goto after;
    case '{':
        if (depth >= ZENWS_SCAN_MAX_DEPTH) goto invalid;
        stack[++depth] = 1;
        if (depth == 2) params_open = params_next;
        params_next = 0;
        p = skip_ws(p + 1, end);
        if (p >= end) goto invalid;
        if (*p == '}') {
            p++;
            goto close;
        }
        goto member;
    case '[':
        if (depth >= ZENWS_SCAN_MAX_DEPTH) goto invalid;
        stack[++depth] = 0;
        if (depth == 2) params_open = 0;
        p = skip_ws(p + 1, end);
        if (p >= end) goto invalid;
        if (*p == ']') {
            p++;
            goto close;
        }
        goto value;
    case 't':
        p = skip_literal(p, end, "true", 4);
        break;
    case 'f':
        p = skip_literal(p, end, "false", 5);
        break;
    case 'n':
        p = skip_literal(p, end, "null", 4);
        break;
    default:
        if (*p != '-' && !ZENWS_IS_DIGIT(*p)) goto invalid;
        p = skip_number(p, end);
        break;
    }
    if (!p) goto invalid;

after: /* a value ended at p */
    if (depth == 0) goto done;
    p = skip_ws(p, end);
    if (p >= end) goto invalid;
    if (*p == ',') {
        p = skip_ws(p + 1, end);
        if (p >= end) goto invalid;
        if (stack[depth]) goto member;
        goto value;
    }
    if (*p != (stack[depth] ? '}' : ']')) goto invalid;
    p++;

close: /* the container at `depth` ended just before p */
    if (depth == 2) params_open = 0;
    depth--;
    goto after;

member: /* p < end, at the opening quote of a key */
    if (*p != '"') goto invalid;
    esc = 0;
    q = string_end(p + 1, end, &esc);
    if (!q) goto invalid;
    key = K_OTHER;
    if (depth == 1) {
        key = classify_key(p + 1, q - (p + 1), esc);
        if (key == K_CHANNEL) key = K_OTHER;
    } else if (depth == 2 && params_open &&
               classify_key(p + 1, q - (p + 1), esc) == K_CHANNEL) {
        key = K_CHANNEL;
    }
    p = skip_ws(q + 1, end);
    if (p >= end || *p != ':') goto invalid;
    p = skip_ws(p + 1, end);
    if (p >= end) goto invalid;
    goto value;

done:
    if (skip_ws(p, end) != end) goto invalid; /* trailing data */
    return finish(buf, out, top_object, has_method, has_channel);

invalid:
    clear_result(out);
    return out->kind = ZENWS_KIND_INVALID;
}

/* The fast scanner.  Stage 1 (per 64-byte block, SIMD): masks of quotes,
 * backslashes, brackets, ':' ',' and control bytes, then the inside-string
 * mask, so every token is found by bit iteration instead of a chain of
 * dependent byte loads.  Stage 2 walks the tokens: the top-level object and
 * a top-level "params" object are checked against the RFC 8259 grammar (the
 * bytes between tokens must be whitespace or one valid number/literal);
 * every other container is skipped by structure: its strings are exact
 * (escapes, no raw control characters), its brackets must balance and match,
 * but its scalars, commas and colons are not checked. */
static int scan_blocks(const char *buf, Py_ssize_t len, zenws_scan_t *out) {
    const char *end = buf + (len > 0 ? len : 0), *vs, *ve;
    unsigned char stack[ZENWS_SCAN_MAX_DEPTH + 1];
    int depth = 0, skip = 0, state = S_VALUE, key = K_OTHER, top_object = 0;
    int has_method = 0, has_channel = 0, params_next = 0, seen_bslash = 0;
    Py_ssize_t base, prev = 0, open_quote = 0;
    uint64_t in_string = 0, esc_carry = 0;

    clear_result(out);
    for (base = 0; base < end - buf; base += 64) {
        zenws_block_t m;
        uint64_t escaped = 0, strings, quotes, all = 0, brackets, tokens;
        Py_ssize_t avail = (end - buf) - base;
        /* The last partial block is classified as the 64 bytes that end at
         * `end` (len >= 64 here), shifted so nothing past `end` is read. */
        const char *blk = avail >= 64 ? buf + base : end - 64;
        int shift = avail >= 64 ? 0 : (int)(64 - avail);
        classify64(blk, &m);
        if (ZENWS_UNLIKELY(shift)) {
            m.quote >>= shift;
            m.bslash >>= shift;
            m.bracket >>= shift;
            m.ctl >>= shift;
        }
        if (ZENWS_UNLIKELY(m.bslash | esc_carry)) {
            seen_bslash = 1;
            if (block_escapes(buf + base, end, m.bslash, &escaped, &esc_carry) < 0) goto invalid;
        }
        quotes = m.quote & ~escaped;
        /* Opening quote inside, closing quote outside; flipped when a string
         * crosses the block edge. */
        strings = prefix_xor(quotes) ^ in_string;
        in_string = (uint64_t)((int64_t)strings >> 63);
        if (m.ctl & strings) goto invalid; /* RFC 8259 §7: raw control character */
        brackets = m.bracket & ~strings;
        /* ':' and ',' matter only outside skipped containers: a block that
         * starts inside one (most of a big payload) never computes them. */
        if (!skip) all = quotes | brackets | ((punct64(blk) >> shift) & ~strings);
        tokens = skip ? brackets : all;
        while (tokens) {
            int bit = zenws_ctz64(tokens);
            Py_ssize_t i = base + bit;
            char c = buf[i];
            tokens &= tokens - 1;
            if (skip) {
                /* Inside a container nobody asked about: brackets only. */
                if (c == '{' || c == '[') {
                    if (depth >= ZENWS_SCAN_MAX_DEPTH) goto invalid;
                    stack[++depth] = (c == '{');
                    skip++;
                    continue;
                }
                if (stack[depth] != (c == '}')) goto invalid;
                depth--;
                if (--skip == 0) {
                    state = S_AFTER;
                    prev = i + 1;
                    if (!all) all = quotes | brackets | ((punct64(blk) >> shift) & ~strings);
                    tokens = all & ((~(uint64_t)0 << bit) << 1);
                }
                continue;
            }
            switch (state) {
            case S_VALUE:
                if (c == '"' || c == '{' || c == '[') {
                    if (!gap_ws(buf + prev, buf + i)) goto invalid;
                    if (c == '"') {
                        open_quote = i;
                        state = S_STRING_END;
                        break;
                    }
                    switch (key) { /* a container as the member's value */
                    case K_ID: out->id_type = ZENWS_ID_INVALID; break;
                    case K_METHOD: has_method = 0; break;
                    case K_CHANNEL: has_channel = 0; break;
                    case K_RESULT: out->has_result = 1; break;
                    case K_ERROR: out->has_error = 1; break;
                    case K_PARAMS:
                        has_channel = 0;
                        params_next = (c == '{');
                        break;
                    }
                    key = K_OTHER;
                    if (depth >= ZENWS_SCAN_MAX_DEPTH) goto invalid;
                    stack[++depth] = (c == '{');
                    if (depth == 1 && c == '{') {
                        top_object = 1;
                        state = S_OBJECT_START;
                    } else if (depth == 2 && params_next) {
                        /* the only depth-2 object walked: channel lives there */
                        params_next = 0;
                        state = S_OBJECT_START;
                    } else {
                        skip = 1;
                        tokens &= brackets;
                    }
                    break;
                }
                /* ',' ']' '}' or ':' end a number or literal */
                if (!gap_scalar(buf + prev, buf + i, &vs, &ve)) goto invalid;
                switch (key) {
                case K_ID:
                    out->id_off = out->id_len = 0;
                    out->id_escaped = 0;
                    out->id_int = 0;
                    if (*vs == 'n')
                        out->id_type = ZENWS_ID_NONE; /* JSON-RPC 2.0 §5: null id */
                    else if (*vs != 't' && *vs != 'f' && parse_i64(vs, ve, &out->id_int))
                        out->id_type = ZENWS_ID_INT;
                    else
                        out->id_type = ZENWS_ID_INVALID;
                    break;
                case K_METHOD: has_method = 0; break;
                case K_CHANNEL: has_channel = 0; break;
                case K_RESULT: out->has_result = 1; break;
                case K_ERROR: out->has_error = 1; break;
                case K_PARAMS: has_channel = 0; break;
                }
                key = K_OTHER;
                goto after_value;
            case S_OBJECT_START:
            case S_KEY:
                if (!gap_ws(buf + prev, buf + i)) goto invalid;
                if (c == '"') {
                    open_quote = i;
                    state = S_KEY_END;
                    break;
                }
                if (c != '}' || state != S_OBJECT_START) goto invalid;
                goto close;
            case S_KEY_END: { /* c is the closing quote: nothing else is a token in a string */
                const char *k = buf + open_quote + 1;
                Py_ssize_t n = i - open_quote - 1;
                int esc = seen_bslash && memchr(k, '\\', (size_t)n) != NULL;
                if (depth == 1) {
                    key = classify_key(k, n, esc);
                    if (key == K_CHANNEL) key = K_OTHER;
                } else if (classify_key(k, n, esc) == K_CHANNEL) { /* params, depth 2 */
                    key = K_CHANNEL;
                }
                state = S_COLON;
                break;
            }
            case S_COLON:
                if (c != ':' || !gap_ws(buf + prev, buf + i)) goto invalid;
                state = S_VALUE;
                break;
            case S_STRING_END: { /* closing quote of a string value */
                Py_ssize_t off = open_quote + 1, n = i - open_quote - 1;
                int esc = seen_bslash && memchr(buf + off, '\\', (size_t)n) != NULL;
                switch (key) {
                case K_ID:
                    out->id_type = ZENWS_ID_STRING;
                    out->id_int = 0;
                    out->id_off = off;
                    out->id_len = n;
                    out->id_escaped = esc;
                    break;
                case K_METHOD:
                    has_method = 1;
                    out->method_off = off;
                    out->method_len = n;
                    out->method_escaped = esc;
                    break;
                case K_CHANNEL:
                    has_channel = 1;
                    out->channel_off = off;
                    out->channel_len = n;
                    out->channel_escaped = esc;
                    break;
                case K_RESULT: out->has_result = 1; break;
                case K_ERROR: out->has_error = 1; break;
                case K_PARAMS: has_channel = 0; break;
                }
                key = K_OTHER;
                state = S_AFTER;
                break;
            }
            case S_AFTER:
                if (!gap_ws(buf + prev, buf + i)) goto invalid;
            after_value: /* c follows a complete value */
                if (depth == 0) goto invalid; /* data after the top-level value */
                if (c == ',') {
                    state = stack[depth] ? S_KEY : S_VALUE;
                    break;
                }
                if (c != (stack[depth] ? '}' : ']')) goto invalid;
            close:
                depth--;
                state = S_AFTER;
                break;
            }
            prev = i + 1;
        }
    }
    if (depth != 0) goto invalid; /* truncated */
    if (state == S_VALUE) {
        /* No token at all: a top-level number or literal (or nothing). */
        if (!gap_scalar(buf + prev, end, &vs, &ve)) goto invalid;
        return out->kind = ZENWS_KIND_OTHER;
    }
    if (state != S_AFTER || !gap_ws(buf + prev, end)) goto invalid;
    return finish(buf, out, top_object, has_method, has_channel);

invalid:
    clear_result(out);
    return out->kind = ZENWS_KIND_INVALID;
}

int zenws_scan(const char *buf, Py_ssize_t len, zenws_scan_t *out) {
    /* Short messages: the byte-level scanner is faster there (measured:
     * 76 vs 92 ns on a 117-byte response) and it checks everything. */
    if (len < ZENWS_SCAN_STRICT_BELOW) return zenws_scan_strict(buf, len, out);
    return scan_blocks(buf, len, out);
}

/* Append code point cp as UTF-8; surrogates get the 3-byte form that
 * Python's "surrogatepass" handler decodes back to the same code point. */
ZENWS_INLINE char *put_utf8(char *o, long cp) {
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

Py_ssize_t zenws_unescape(const char *src, Py_ssize_t len, char *dst) {
    const char *p = src, *end = src + len;
    char *o = dst;
    while (p < end) {
        const char *bs = (const char *)memchr(p, '\\', (size_t)(end - p));
        long cp;
        if (!bs) {
            memcpy(o, p, (size_t)(end - p));
            o += end - p;
            break;
        }
        memcpy(o, p, (size_t)(bs - p));
        o += bs - p;
        p = bs;
        if (end - p < 2) break; /* cannot happen after zenws_scan */
        switch (p[1]) {
        case 'b': *o++ = '\b'; p += 2; continue;
        case 'f': *o++ = '\f'; p += 2; continue;
        case 'n': *o++ = '\n'; p += 2; continue;
        case 'r': *o++ = '\r'; p += 2; continue;
        case 't': *o++ = '\t'; p += 2; continue;
        case 'u': break;
        default: *o++ = p[1]; p += 2; continue; /* '"', '\\', '/' */
        }
        if (end - p < 6 || (cp = hex4(p + 2)) < 0) break;
        p += 6;
        /* A high surrogate escape followed by a low one is one code point
         * (RFC 8259 §7); any other surrogate stays alone, as in json.loads. */
        if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
            long lo = hex4(p + 2);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
        }
        o = put_utf8(o, cp);
    }
    return o - dst;
}

Py_ssize_t zenws_format_i64(int64_t v, char *dst) {
    char tmp[20];
    int n = 0;
    Py_ssize_t i = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + (u % 10));
        u /= 10;
    } while (u);
    if (v < 0) dst[i++] = '-';
    while (n) dst[i++] = tmp[--n];
    return i;
}

int zenws_json_plain(const char *s, Py_ssize_t len) {
    Py_ssize_t i;
    for (i = 0; i < len; i++)
        if (zenws_str_stop[(unsigned char)s[i]]) return 0;
    return 1;
}
