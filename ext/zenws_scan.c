/* zenws_scan.c - top-level JSON-RPC member scanner (see zenws_scan.h).
 *
 * One forward pass over the bytes, RFC 8259 grammar:
 *   - strings are skipped 16 bytes at a time (SSE2) or 8 at a time (SWAR),
 *     stopping only at '"', '\\' or a raw control character;
 *   - nested containers are skipped iteratively with an explicit byte stack
 *     (no recursion, bounded by ZENWS_SCAN_MAX_DEPTH);
 *   - only the top-level object's keys (and the keys of a top-level "params"
 *     object) are looked at; nested "id" keys are skipped like any value.
 * Every read is guarded by `end`, so truncated input can only end a loop. */
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

ZENWS_INLINE const char *skip_ws(const char *p, const char *end) {
    /* Compact JSON (what exchanges send) has no whitespace: one compare. */
    while (p < end && ZENWS_IS_WS(*p)) p++;
    return p;
}

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

/* RFC 8259 §6 number; p is at '-' or a digit.  Returns the end or NULL. */
static const char *skip_number(const char *p, const char *end) {
    if (*p == '-' && ++p == end) return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        p++;
        while (p < end && ZENWS_IS_DIGIT(*p)) p++;
    } else {
        return NULL;
    }
    if (p < end && *p == '.') {
        if (++p == end || !ZENWS_IS_DIGIT(*p)) return NULL;
        while (p < end && ZENWS_IS_DIGIT(*p)) p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        if (++p < end && (*p == '+' || *p == '-')) p++;
        if (p == end || !ZENWS_IS_DIGIT(*p)) return NULL;
        while (p < end && ZENWS_IS_DIGIT(*p)) p++;
    }
    return p;
}

ZENWS_INLINE const char *skip_literal(const char *p, const char *end, const char *lit, size_t n) {
    if ((size_t)(end - p) < n || memcmp(p, lit, n) != 0) return NULL;
    return p + n;
}

/* Skip one JSON value starting at p (whitespace allowed before it) and
 * return the byte after it, or NULL if it is malformed or truncated.
 * Containers are tracked in stack[] (1 = object, 0 = array) to at most
 * `limit` levels, so depth is bounded without recursion. */
static const char *skip_value(const char *p, const char *end, unsigned char *stack, int limit) {
    int depth = 0, esc = 0;
    unsigned char c;
value:
    p = skip_ws(p, end);
    if (p >= end) return NULL;
    c = (unsigned char)*p;
    switch (c) {
    case '"':
        p = scan_string(p + 1, end, &esc);
        if (!p) return NULL;
        p++;
        break;
    case '{':
    case '[':
        if (depth >= limit) return NULL;
        stack[depth++] = (c == '{');
        p = skip_ws(p + 1, end);
        if (p >= end) return NULL;
        if (*p == (c == '{' ? '}' : ']')) {
            depth--;
            p++;
            break;
        }
        if (c == '{') goto key;
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
        if (c != '-' && !ZENWS_IS_DIGIT(c)) return NULL;
        p = skip_number(p, end);
        break;
    }
    if (!p) return NULL;
after:
    if (depth == 0) return p;
    p = skip_ws(p, end);
    if (p >= end) return NULL;
    if (*p == ',') {
        p++;
        if (stack[depth - 1]) goto key;
        goto value;
    }
    if (*p != (stack[depth - 1] ? '}' : ']')) return NULL;
    p++;
    depth--;
    goto after;
key:
    p = skip_ws(p, end);
    if (p >= end || *p != '"') return NULL;
    p = scan_string(p + 1, end, &esc);
    if (!p) return NULL;
    p = skip_ws(p + 1, end);
    if (p >= end || *p != ':') return NULL;
    p++;
    goto value;
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

/* Parse "key" : (whitespace around allowed) at p (already at the quote).
 * Returns the first byte of the value, or NULL; *kind gets the key class. */
ZENWS_INLINE const char *parse_key(const char *p, const char *end, int *kind) {
    int esc = 0;
    const char *k, *q;
    if (p >= end || *p != '"') return NULL;
    k = p + 1;
    q = scan_string(k, end, &esc);
    if (!q) return NULL;
    *kind = classify_key(k, q - k, esc);
    p = skip_ws(q + 1, end);
    if (p >= end || *p != ':') return NULL;
    p = skip_ws(p + 1, end);
    return p < end ? p : NULL;
}

/* After a member value: returns the next key's quote (after ',') with
 * *closed = 0, or the byte after '}' with *closed = 1, or NULL. */
ZENWS_INLINE const char *next_member(const char *p, const char *end, int *closed) {
    p = skip_ws(p, end);
    if (p >= end) return NULL;
    if (*p == ',') {
        *closed = 0;
        return skip_ws(p + 1, end);
    }
    if (*p != '}') return NULL;
    *closed = 1;
    return p + 1;
}

/* A JSON string value at p (the quote).  Returns the byte after it or NULL. */
ZENWS_INLINE const char *take_string(const char *p, const char *end, const char *buf,
                                     Py_ssize_t *off, Py_ssize_t *len, int *escaped) {
    const char *q;
    *escaped = 0;
    q = scan_string(p + 1, end, escaped);
    if (!q) return NULL;
    *off = (p + 1) - buf;
    *len = q - (p + 1);
    return q + 1;
}

/* The value of a top-level "id" at p: string, null or an int64 integer;
 * anything else (still validated as JSON) sets ZENWS_ID_INVALID. */
static const char *take_id(const char *p, const char *end, const char *buf, zenws_scan_t *out,
                           unsigned char *stack) {
    const char *q, *d;
    uint64_t u = 0;
    int neg;
    out->id_off = out->id_len = 0;
    out->id_escaped = 0;
    out->id_int = 0;
    if (*p == '"') {
        out->id_type = ZENWS_ID_STRING;
        return take_string(p, end, buf, &out->id_off, &out->id_len, &out->id_escaped);
    }
    if (*p == 'n') {
        out->id_type = ZENWS_ID_NONE; /* JSON-RPC 2.0 §5: null id == no id */
        return skip_literal(p, end, "null", 4);
    }
    out->id_type = ZENWS_ID_INVALID;
    if (*p != '-' && !ZENWS_IS_DIGIT(*p)) return skip_value(p, end, stack, ZENWS_SCAN_MAX_DEPTH - 1);
    q = skip_number(p, end);
    if (!q) return NULL;
    neg = (*p == '-');
    d = p + neg;
    /* No leading zeros (grammar), so more than 19 digits is >= 1e19. */
    if (q - d > 19) return q;
    for (; d < q; d++) {
        if (!ZENWS_IS_DIGIT(*d)) return q; /* fraction or exponent */
        u = u * 10 + (uint64_t)(*d - '0');
    }
    if (neg ? u > (uint64_t)INT64_MAX + 1 : u > (uint64_t)INT64_MAX) return q;
    out->id_int = neg ? (int64_t)(0 - u) : (int64_t)u;
    out->id_type = ZENWS_ID_INT;
    return q;
}

/* The top-level "params" object at p ('{'): only its own "channel" member is
 * read; the last one wins.  Returns the byte after '}' or NULL. */
static const char *take_params(const char *p, const char *end, const char *buf, zenws_scan_t *out,
                               int *has_channel, unsigned char *stack) {
    int kind, closed = 0;
    p = skip_ws(p + 1, end);
    if (p >= end) return NULL;
    if (*p == '}') return p + 1;
    while (!closed) {
        p = parse_key(p, end, &kind);
        if (!p) return NULL;
        if (kind == K_CHANNEL && *p == '"') {
            *has_channel = 1;
            p = take_string(p, end, buf, &out->channel_off, &out->channel_len,
                            &out->channel_escaped);
        } else {
            if (kind == K_CHANNEL) *has_channel = 0;
            p = skip_value(p, end, stack, ZENWS_SCAN_MAX_DEPTH - 2);
        }
        if (!p) return NULL;
        p = next_member(p, end, &closed);
        if (!p) return NULL;
    }
    return p;
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

int zenws_scan(const char *buf, Py_ssize_t len, zenws_scan_t *out) {
    const char *p = buf, *end = buf + (len > 0 ? len : 0);
    unsigned char stack[ZENWS_SCAN_MAX_DEPTH];
    int kind, closed = 0, has_method = 0, has_channel = 0, has_id;

    memset(out, 0, sizeof(*out));
    p = skip_ws(p, end);
    if (p >= end) goto invalid;
    if (*p != '{') {
        /* Valid JSON that is not an object is not JSON-RPC: KIND_OTHER. */
        p = skip_value(p, end, stack, ZENWS_SCAN_MAX_DEPTH);
        if (!p || skip_ws(p, end) != end) goto invalid;
        return out->kind = ZENWS_KIND_OTHER;
    }
    p = skip_ws(p + 1, end);
    if (p >= end) goto invalid;
    if (*p == '}') {
        p++;
        closed = 1;
    }
    while (!closed) {
        p = parse_key(p, end, &kind);
        if (!p) goto invalid;
        switch (kind) {
        case K_ID:
            p = take_id(p, end, buf, out, stack);
            break;
        case K_METHOD:
            has_method = (*p == '"');
            if (has_method)
                p = take_string(p, end, buf, &out->method_off, &out->method_len,
                                &out->method_escaped);
            else
                p = skip_value(p, end, stack, ZENWS_SCAN_MAX_DEPTH - 1);
            break;
        case K_PARAMS:
            has_channel = 0; /* a later "params" replaces an earlier one */
            if (*p == '{')
                p = take_params(p, end, buf, out, &has_channel, stack);
            else
                p = skip_value(p, end, stack, ZENWS_SCAN_MAX_DEPTH - 1);
            break;
        case K_RESULT:
            out->has_result = 1;
            p = skip_value(p, end, stack, ZENWS_SCAN_MAX_DEPTH - 1);
            break;
        case K_ERROR:
            out->has_error = 1;
            p = skip_value(p, end, stack, ZENWS_SCAN_MAX_DEPTH - 1);
            break;
        default:
            p = skip_value(p, end, stack, ZENWS_SCAN_MAX_DEPTH - 1);
            break;
        }
        if (!p) goto invalid;
        p = next_member(p, end, &closed);
        if (!p) goto invalid;
    }
    if (skip_ws(p, end) != end) goto invalid; /* trailing data */
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
    memset(out, 0, sizeof(*out));
    return out->kind = ZENWS_KIND_INVALID;
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
