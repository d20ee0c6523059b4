/* zenws_scan.c - top-level JSON-RPC member scanner (see zenws_scan.h).
 *
 * Two scanners with the same result on every valid document:
 *   - zenws_scan_strict(): a byte-level RFC 8259 parser of the whole input,
 *     one token at a time; strings skipped 16 bytes at a time (SSE2) or 8 at a
 *     time (SWAR), stopping only at '"', '\\' or a raw control character.
 *     Used for messages shorter than ZENWS_SCAN_STRICT_BELOW bytes.
 *   - scan_fast() (zenws_scan() for longer messages): stage 1 classifies the
 *     message 64 bytes at a time with a SIMD kernel chosen at run time
 *     (AVX-512 BW, AVX2 + PCLMULQDQ, SSE2 or portable SWAR; identical
 *     results) into masks of unescaped quotes and of brackets outside
 *     strings; stage 2 walks the top-level object (and a top-level "params"
 *     object) with the RFC 8259 grammar, taking string ends from the quote
 *     mask and skipping every other container by bracket matching.
 * Both are iterative (explicit container stack bounded by
 * ZENWS_SCAN_MAX_DEPTH), look only at the top-level keys (and params'), and
 * never read outside [buf, buf + len): truncated input can only end a loop.
 * No function is compiled for a CPU the build machine assumes: the AVX2 and
 * AVX-512 kernels carry target attributes and are called only after
 * zenws_cpu_features() said yes. */
#include "zenws_scan.h"
#include "zenws_compat.h"
#include "zenws_cpu.h"
#include "zenws_jstr.h"

#include <stdlib.h>
#include <string.h>

/* ZENWS_SCAN_NO_SIMD=1 forces the portable SWAR path (used to test it). */
#if !defined(ZENWS_SCAN_NO_SIMD) && \
    (defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2))
#  include <emmintrin.h>
#  define ZENWS_SCAN_SSE2 1
#else
#  define ZENWS_SCAN_SSE2 0
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

#define ZENWS_IS_WS(c) ((c) == ' ' || (c) == '\n' || (c) == '\r' || (c) == '\t')
#define ZENWS_IS_DIGIT(c) ((unsigned char)((c) - '0') < 10)

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
            if (end - p < 6 || zenws_jstr_hex4(p + 2) < 0) return NULL;
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

/* Record the string member value at p (its opening quote) as raw content offsets into
 * buf; returns the byte after the closing quote, or NULL if the string is unterminated. */
ZENWS_INLINE const char *capture_string(const char *buf, const char *p, const char *end,
                                        Py_ssize_t *off, Py_ssize_t *len, int *escaped) {
    const char *q;
    *escaped = 0;
    q = string_end(p + 1, end, escaped);
    if (!q) return NULL;
    *off = (p + 1) - buf;
    *len = q - (p + 1);
    return q + 1;
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
            if (end - x < 5 || zenws_jstr_hex4(x + 1) < 0) return -1;
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
            long cp = zenws_jstr_hex4(s + i + 2);
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
        if (e - u >= 8) { /* ASCII (method and channel names): 8 bytes per step */
            uint64_t w;
            memcpy(&w, u, 8);
            if (!(w & 0x8080808080808080ULL)) {
                u += 8;
                continue;
            }
        }
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
ZENWS_INLINE int finish(const char *buf, zenws_scan_t *out, int top_object, int has_method,
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
    if ((out->method_len && !utf8_ok(buf + out->method_off, out->method_len)) ||
        (out->channel_len && !utf8_ok(buf + out->channel_off, out->channel_len)) ||
        (out->id_type == ZENWS_ID_STRING && out->id_len &&
         !utf8_ok(buf + out->id_off, out->id_len)))
        goto invalid;
    return out->kind = kind;
invalid:
    clear_result(out);
    return out->kind = ZENWS_KIND_INVALID;
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
                p = capture_string(buf, p, end, &out->id_off, &out->id_len, &out->id_escaped);
                if (!p) goto invalid;
                out->id_type = ZENWS_ID_STRING;
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
                p = capture_string(buf, p, end, &out->method_off, &out->method_len,
                                   &out->method_escaped);
                if (!p) goto invalid;
                goto after;
            }
            break;
        case K_CHANNEL:
            has_channel = (*p == '"');
            if (has_channel) {
                p = capture_string(buf, p, end, &out->channel_off, &out->channel_len,
                                   &out->channel_escaped);
                if (!p) goto invalid;
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

/* ------------------------------------------------------------------------
 * The fast scanner (zenws_scan() for messages >= ZENWS_SCAN_STRICT_BELOW).
 *
 * Stage 1 (simdjson's idea, https://arxiv.org/abs/1902.08318 §3.1) classifies
 * the message 64 bytes at a time, a chunk of up to ZENWS_CHUNK_BLOCKS blocks
 * per call of a SIMD kernel chosen at run time: bit i of qm[] is an unescaped
 * '"' (escapes checked against RFC 8259 §7 on the way), bit i of bm[] a
 * bracket outside every string; raw control characters inside strings fail
 * the chunk.  Stage 2 is a scalar parser of the top-level object (and of a
 * top-level "params" object) that reads the bytes between tokens itself but
 * jumps over every string to the next bit of qm[] and over every other
 * nested container to its matching bracket in bm[], so it costs a few
 * instructions per top-level member whatever the payload is.
 * ------------------------------------------------------------------------ */

/* Blocks of 64 bytes classified per stage-1 call: the masks of 1 KiB live on
 * the stack; longer messages are classified chunk by chunk as stage 2 moves
 * forward (it never moves back). */
#define ZENWS_CHUNK_BLOCKS 16

/* Stage-1 state carried from one block to the next. */
typedef struct {
    uint64_t in_string;  /* all ones when the previous block ended inside a string */
    uint64_t esc_carry;  /* 1 when byte 0 of the next block is escaped */
    int seen_bslash;     /* a backslash occurred in a classified block */
} zenws_s1_t;

/* Stage-1 kernel: classify `nblocks` blocks of buf starting at offset base
 * (the last one may be partial: it then ends at `end`) into qm[] and bm[].
 * Returns -1 for a bad escape or a raw control character inside a string. */
typedef int (*zenws_s1_fn)(const char *buf, const char *end, Py_ssize_t base, int nblocks,
                           zenws_s1_t *st, uint64_t *qm, uint64_t *bm);

/* Shared tail of every kernel: raw masks of one block -> qm/bm entries.
 * `blk` is the block's first byte in buf; `pxor` computes prefix_xor (the
 * kernels bring their own: carry-less multiply where available). */
#define ZENWS_S1_BLOCK(blk, q, bs, br, ctl, pxor, st, qm_k, bm_k)                      \
    do {                                                                             \
        uint64_t esc_ = 0, quotes_, strings_;                                        \
        if (ZENWS_UNLIKELY((bs) | (st)->esc_carry)) {                                \
            (st)->seen_bslash |= ((bs) != 0);                                        \
            if (block_escapes((blk), end, (bs), &esc_, &(st)->esc_carry) < 0) return -1; \
        }                                                                            \
        quotes_ = (q) & ~esc_;                                                       \
        strings_ = pxor(quotes_) ^ (st)->in_string;                                  \
        (st)->in_string = (uint64_t)((int64_t)strings_ >> 63);                       \
        if (ZENWS_UNLIKELY((ctl) & strings_)) return -1; /* RFC 8259 §7 */           \
        (qm_k) = quotes_;                                                            \
        (bm_k) = (br) & ~strings_;                                                   \
    } while (0)

/* Byte flags (bit 7 of each byte) of a 64-bit word, SWAR without carries
 * across bytes, and their gathering into 8 bits (byte j -> bit j). */
#define ZENWS_SWAR_LO7 0x7F7F7F7F7F7F7F7FULL
#define ZENWS_SWAR_HI 0x8080808080808080ULL
#define ZENWS_SWAR_ONES 0x0101010101010101ULL
ZENWS_INLINE uint64_t swar_eq(uint64_t w, unsigned char c) {
    uint64_t x = w ^ (ZENWS_SWAR_ONES * c); /* zero bytes where w == c */
    return ~(((x & ZENWS_SWAR_LO7) + ZENWS_SWAR_LO7) | x) & ZENWS_SWAR_HI;
}
ZENWS_INLINE uint64_t swar_lt20(uint64_t w) {
    return ~(((w & ZENWS_SWAR_LO7) + ZENWS_SWAR_ONES * 0x60) | w) & ZENWS_SWAR_HI;
}
ZENWS_INLINE uint64_t swar_gather(uint64_t hi) {
    /* hi has only bits 8j+7 set; the products land on distinct bits, so no
     * carries: bit 56+j of the product is byte j's flag. */
    return (hi * 0x0002040810204081ULL) >> 56;
}

/* Portable kernel (any CPU; forced with ZENWS_SCAN_KERNEL=scalar). */
static int s1_scalar(const char *buf, const char *end, Py_ssize_t base, int nblocks,
                     zenws_s1_t *st, uint64_t *qm, uint64_t *bm) {
    int k;
    for (k = 0; k < nblocks; k++) {
        const char *blk = buf + base + 64 * (Py_ssize_t)k;
        Py_ssize_t avail = end - blk;
        uint64_t q = 0, bs = 0, br = 0, ctl = 0;
        int j, words = avail >= 64 ? 8 : (int)((avail + 7) >> 3);
        for (j = 0; j < words; j++) {
            uint64_t w;
            Py_ssize_t left = avail - 8 * j;
            if (left >= 8) {
                memcpy(&w, blk + 8 * j, 8);
            } else { /* the last bytes, padded with spaces (neutral) */
                w = ZENWS_SWAR_ONES * ' ';
                memcpy(&w, blk + 8 * j, (size_t)left);
            }
#if ZENWS_BIG_ENDIAN
            w = zenws_bswap64(w);
#endif
            q |= swar_gather(swar_eq(w, '"')) << (8 * j);
            bs |= swar_gather(swar_eq(w, '\\')) << (8 * j);
            br |= swar_gather(swar_eq(w | (ZENWS_SWAR_ONES * 0x20), 0x7B) |
                              swar_eq(w | (ZENWS_SWAR_ONES * 0x20), 0x7D))
                  << (8 * j);
            ctl |= swar_gather(swar_lt20(w)) << (8 * j);
        }
        if (avail < 64) { /* bits past the end: nothing (the padding is spaces) */
            uint64_t keep = ((uint64_t)1 << avail) - 1;
            q &= keep;
            bs &= keep;
            br &= keep;
            ctl &= keep;
        }
        ZENWS_S1_BLOCK(blk, q, bs, br, ctl, prefix_xor, st, qm[k], bm[k]);
    }
    return 0;
}

#if ZENWS_SCAN_SSE2
/* SSE2 kernel (every x86-64 CPU). */
static int s1_sse2(const char *buf, const char *end, Py_ssize_t base, int nblocks,
                   zenws_s1_t *st, uint64_t *qm, uint64_t *bm) {
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i lower = _mm_set1_epi8(0x20), ctlmax = _mm_set1_epi8(0x1F);
    const __m128i open = _mm_set1_epi8(0x7B), close = _mm_set1_epi8(0x7D);
    int k;
    for (k = 0; k < nblocks; k++) {
        const char *blk = buf + base + 64 * (Py_ssize_t)k;
        Py_ssize_t avail = end - blk;
        /* A partial last block is read as the 64 bytes that end at `end`
         * (len >= 64 here) and shifted, so nothing past `end` is read. */
        const char *src = avail >= 64 ? blk : end - 64;
        int shift = avail >= 64 ? 0 : (int)(64 - avail), i;
        uint64_t q = 0, br = 0, bs = 0, ctl = 0;
        __m128i v[4], b[4], c[4];
        for (i = 0; i < 4; i++) {
            __m128i f;
            v[i] = _mm_loadu_si128((const __m128i *)(const void *)(src + 16 * i));
            /* '{' | 0x20 == '[' | 0x20 == 0x7B, '}' | 0x20 == ']' | 0x20 == 0x7D */
            f = _mm_or_si128(v[i], lower);
            q |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v[i], quote)) << (16 * i);
            br |= (uint64_t)(unsigned)_mm_movemask_epi8(
                      _mm_or_si128(_mm_cmpeq_epi8(f, open), _mm_cmpeq_epi8(f, close)))
                  << (16 * i);
            b[i] = _mm_cmpeq_epi8(v[i], bslash);
            /* max_epu8(v, 0x1F) == 0x1F exactly when v <= 0x1F (unsigned) */
            c[i] = _mm_cmpeq_epi8(_mm_max_epu8(v[i], ctlmax), ctlmax);
        }
        /* Backslashes and control bytes are rare: one test for the block. */
        if (ZENWS_UNLIKELY(_mm_movemask_epi8(_mm_or_si128(
                _mm_or_si128(_mm_or_si128(b[0], b[1]), _mm_or_si128(b[2], b[3])),
                _mm_or_si128(_mm_or_si128(c[0], c[1]), _mm_or_si128(c[2], c[3])))))) {
            for (i = 0; i < 4; i++) {
                bs |= (uint64_t)(unsigned)_mm_movemask_epi8(b[i]) << (16 * i);
                ctl |= (uint64_t)(unsigned)_mm_movemask_epi8(c[i]) << (16 * i);
            }
        }
        if (ZENWS_UNLIKELY(shift)) {
            q >>= shift;
            br >>= shift;
            bs >>= shift;
            ctl >>= shift;
        }
        ZENWS_S1_BLOCK(blk, q, bs, br, ctl, prefix_xor, st, qm[k], bm[k]);
    }
    return 0;
}
#endif

#if ZENWS_SCAN_SSE2 && (defined(__GNUC__) || defined(__clang__)) && \
    defined(__x86_64__) /* _mm_cvtsi64_si128 needs x86-64 */
#  include <immintrin.h>
#  define ZENWS_SCAN_AVX2 1
#  define ZENWS_TARGET_AVX2 __attribute__((target("avx2,pclmul")))

/* prefix_xor with one carry-less multiply by all ones. */
ZENWS_TARGET_AVX2 static inline uint64_t prefix_xor_clmul(uint64_t x) {
    __m128i v = _mm_clmulepi64_si128(_mm_cvtsi64_si128((long long)x),
                                      _mm_set1_epi8((char)0xFF), 0);
    return (uint64_t)_mm_cvtsi128_si64(v);
}

/* Raw masks of the 64 bytes at src (AVX2).  bs/ctl stay 0 unless the block
 * has a backslash or a control byte (rare: one test for both). */
ZENWS_TARGET_AVX2 static inline void raw_avx2(const char *src, uint64_t *q, uint64_t *br,
                                              uint64_t *bs, uint64_t *ctl) {
    const __m256i lower = _mm256_set1_epi8(0x20), ctlmax = _mm256_set1_epi8(0x1F);
    __m256i v0 = _mm256_loadu_si256((const __m256i *)(const void *)src);
    __m256i v1 = _mm256_loadu_si256((const __m256i *)(const void *)(src + 32));
    __m256i f0 = _mm256_or_si256(v0, lower), f1 = _mm256_or_si256(v1, lower);
    __m256i b0 = _mm256_cmpeq_epi8(v0, _mm256_set1_epi8('\\'));
    __m256i b1 = _mm256_cmpeq_epi8(v1, _mm256_set1_epi8('\\'));
    /* max_epu8(v, 0x1F) == 0x1F exactly when v <= 0x1F (unsigned) */
    __m256i c0 = _mm256_cmpeq_epi8(_mm256_max_epu8(v0, ctlmax), ctlmax);
    __m256i c1 = _mm256_cmpeq_epi8(_mm256_max_epu8(v1, ctlmax), ctlmax);
    __m256i any = _mm256_or_si256(_mm256_or_si256(b0, b1), _mm256_or_si256(c0, c1));
    *q = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v0, _mm256_set1_epi8('"'))) |
         ((uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v1, _mm256_set1_epi8('"')))
          << 32);
    /* '{' | 0x20 == '[' | 0x20 == 0x7B, '}' | 0x20 == ']' | 0x20 == 0x7D */
    *br = (uint32_t)_mm256_movemask_epi8(
              _mm256_or_si256(_mm256_cmpeq_epi8(f0, _mm256_set1_epi8(0x7B)),
                              _mm256_cmpeq_epi8(f0, _mm256_set1_epi8(0x7D)))) |
          ((uint64_t)(uint32_t)_mm256_movemask_epi8(
               _mm256_or_si256(_mm256_cmpeq_epi8(f1, _mm256_set1_epi8(0x7B)),
                               _mm256_cmpeq_epi8(f1, _mm256_set1_epi8(0x7D))))
           << 32);
    if (ZENWS_UNLIKELY(!_mm256_testz_si256(any, any))) {
        *bs = (uint32_t)_mm256_movemask_epi8(b0) |
              ((uint64_t)(uint32_t)_mm256_movemask_epi8(b1) << 32);
        *ctl = (uint32_t)_mm256_movemask_epi8(c0) |
               ((uint64_t)(uint32_t)_mm256_movemask_epi8(c1) << 32);
    } else {
        *bs = *ctl = 0;
    }
}

/* AVX2 + PCLMULQDQ kernel (run-time dispatch: never built with -mavx2). */
ZENWS_TARGET_AVX2 static int s1_avx2(const char *buf, const char *end, Py_ssize_t base,
                                     int nblocks, zenws_s1_t *st, uint64_t *qm, uint64_t *bm) {
    const char *blk = buf + base;
    uint64_t q, br, bs, ctl;
    int k, full = (int)((end - blk) >> 6);
    if (full > nblocks) full = nblocks;
    for (k = 0; k < full; k++, blk += 64) {
        raw_avx2(blk, &q, &br, &bs, &ctl);
        ZENWS_S1_BLOCK(blk, q, bs, br, ctl, prefix_xor_clmul, st, qm[k], bm[k]);
    }
    if (k < nblocks) {
        /* The partial last block is read as the 64 bytes that end at `end`
         * (len >= 64 here) and shifted, so nothing past `end` is read. */
        int shift = (int)(64 - (end - blk));
        raw_avx2(end - 64, &q, &br, &bs, &ctl);
        q >>= shift;
        br >>= shift;
        bs >>= shift;
        ctl >>= shift;
        ZENWS_S1_BLOCK(blk, q, bs, br, ctl, prefix_xor_clmul, st, qm[k], bm[k]);
    }
    return 0;
}

/* AVX-512 (BW) kernel: one 64-byte vector per block, masks straight from
 * the compares.  Chosen automatically only on CPUs that also have
 * AVX512-VBMI2 (Ice Lake and later), where 512-bit integer compares do not
 * lower the core clock; simdjson uses the same rule for its AVX-512 kernel. */
#  define ZENWS_TARGET_AVX512 __attribute__((target("avx2,pclmul,avx512f,avx512bw")))

ZENWS_TARGET_AVX512 static inline void raw_avx512(const char *src, uint64_t *q, uint64_t *br,
                                                  uint64_t *bs, uint64_t *ctl) {
    __m512i v = _mm512_loadu_si512((const void *)src);
    __m512i f = _mm512_or_si512(v, _mm512_set1_epi8(0x20));
    *q = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('"'));
    /* '{' | 0x20 == '[' | 0x20 == 0x7B, '}' | 0x20 == ']' | 0x20 == 0x7D */
    *br = _mm512_cmpeq_epi8_mask(f, _mm512_set1_epi8(0x7B)) |
          _mm512_cmpeq_epi8_mask(f, _mm512_set1_epi8(0x7D));
    *bs = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\\'));
    *ctl = _mm512_cmple_epu8_mask(v, _mm512_set1_epi8(0x1F));
}

ZENWS_TARGET_AVX512 static int s1_avx512(const char *buf, const char *end, Py_ssize_t base,
                                         int nblocks, zenws_s1_t *st, uint64_t *qm,
                                         uint64_t *bm) {
    const char *blk = buf + base;
    uint64_t q, br, bs, ctl;
    int k, full = (int)((end - blk) >> 6);
    if (full > nblocks) full = nblocks;
    for (k = 0; k < full; k++, blk += 64) {
        raw_avx512(blk, &q, &br, &bs, &ctl);
        ZENWS_S1_BLOCK(blk, q, bs, br, ctl, prefix_xor_clmul, st, qm[k], bm[k]);
    }
    if (k < nblocks) { /* partial last block: the 64 bytes that end at `end`, shifted */
        int shift = (int)(64 - (end - blk));
        raw_avx512(end - 64, &q, &br, &bs, &ctl);
        q >>= shift;
        br >>= shift;
        bs >>= shift;
        ctl >>= shift;
        ZENWS_S1_BLOCK(blk, q, bs, br, ctl, prefix_xor_clmul, st, qm[k], bm[k]);
    }
    return 0;
}
#else
#  define ZENWS_SCAN_AVX2 0
#endif

/* ---- kernel choice: once, on first use (zenws_cpu.h: ZENWS_CPU caps it,
 * ZENWS_KERNEL_SCAN / ZENWS_SCAN_KERNEL forces one) ---- */

static zenws_s1_fn zenws_s1_kernel;  /* NULL until chosen */
static const char *zenws_s1_name = "scalar";

static int kernel_supported(const char *name, zenws_s1_fn *fn) {
    if (strcmp(name, "scalar") == 0) {
        *fn = s1_scalar;
        return 1;
    }
#if ZENWS_SCAN_SSE2
    if (strcmp(name, "sse2") == 0) {
        *fn = s1_sse2;
        return 1;
    }
#endif
#if ZENWS_SCAN_AVX2
    const unsigned f = zenws_cpu_features();
    if (strcmp(name, "avx512") == 0) {
        if ((f & ZENWS_CPU_AVX512) && (f & ZENWS_CPU_PCLMUL)) {
            *fn = s1_avx512;
            return 1;
        }
    }
    if (strcmp(name, "avx2") == 0) {
        if ((f & ZENWS_CPU_AVX2) && (f & ZENWS_CPU_PCLMUL)) {
            *fn = s1_avx2;
            return 1;
        }
    }
#endif
    return 0;
}

static void kernel_choose(void) {
    static const char *const order[] = {"avx512", "avx2", "sse2", "scalar"};
    const char *want = zenws_cpu_forced("SCAN");
    const int cap = zenws_cpu_cap();
    zenws_s1_fn fn;
    size_t i;
    for (i = 0; want && i < sizeof(order) / sizeof(order[0]); i++) {
        if (strcmp(want, order[i]) == 0 && kernel_supported(order[i], &fn)) {
            zenws_s1_name = order[i];
            zenws_s1_kernel = fn;
            return;
        }
    }
    for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (zenws_cpu_level_of(order[i]) <= cap && kernel_supported(order[i], &fn)) {
            zenws_s1_name = order[i];
            zenws_s1_kernel = fn;
            return;
        }
    }
}

const char *zenws_scan_kernel(void) {
    if (!zenws_s1_kernel) kernel_choose();
    return zenws_s1_name;
}

int zenws_scan_set_kernel(const char *name) {
    static const char *const names[] = {"avx512", "avx2", "sse2", "scalar"};
    zenws_s1_fn fn;
    size_t i;
    if (name && strcmp(name, "auto") == 0) {
        zenws_s1_kernel = NULL;
        kernel_choose();
        return 0;
    }
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (name && strcmp(name, names[i]) == 0 && kernel_supported(names[i], &fn)) {
            zenws_s1_name = names[i];
            zenws_s1_kernel = fn;
            return 0;
        }
    }
    return -1;
}

/* ---- stage 2 ---- */

typedef struct {
    const char *buf, *end;
    Py_ssize_t cbase;   /* offset of the classified chunk */
    Py_ssize_t climit;  /* offset just past it */
    int nblocks;        /* blocks in it */
    zenws_s1_fn kernel;
    zenws_s1_t s1;
    uint64_t qm[ZENWS_CHUNK_BLOCKS], bm[ZENWS_CHUNK_BLOCKS];
} zenws_fast_t;

/* Classify the chunk after the current one.  Returns 1, 0 at the end of the
 * input, -1 for a stage-1 error. */
static int next_chunk(zenws_fast_t *f) {
    Py_ssize_t len = f->end - f->buf, left;
    f->cbase = f->climit;
    left = len - f->cbase;
    if (left <= 0) return 0;
    f->nblocks = left >= 64 * ZENWS_CHUNK_BLOCKS ? ZENWS_CHUNK_BLOCKS : (int)((left + 63) >> 6);
    f->climit = f->cbase + 64 * (Py_ssize_t)f->nblocks;
    if (f->climit > len) f->climit = len;
    return f->kernel(f->buf, f->end, f->cbase, f->nblocks, &f->s1, f->qm, f->bm) < 0 ? -1 : 1;
}

/* Make offset i (>= cbase, i < len) part of the classified chunk. */
ZENWS_INLINE int reach(zenws_fast_t *f, Py_ssize_t i) {
    while (ZENWS_UNLIKELY(i >= f->climit))
        if (next_chunk(f) <= 0) return 0;
    return 1;
}

/* Offset of the first set bit of masks[] after offset i (i in the chunk),
 * classifying further chunks as needed; -1 when there is none. */
ZENWS_INLINE Py_ssize_t next_bit(zenws_fast_t *f, const uint64_t *masks, Py_ssize_t i) {
    Py_ssize_t r = i - f->cbase;
    int b = (int)(r >> 6);
    uint64_t m = masks[b] & ((~(uint64_t)1) << (r & 63));
    while (ZENWS_UNLIKELY(!m)) {
        if (++b >= f->nblocks) {
            if (next_chunk(f) <= 0) return -1;
            b = 0;
        }
        m = masks[b];
    }
    return f->cbase + ((Py_ssize_t)b << 6) + zenws_ctz64(m);
}

/* The closing quote of the string whose opening quote is at offset o. */
ZENWS_INLINE Py_ssize_t string_close(zenws_fast_t *f, Py_ssize_t o) {
    if (!reach(f, o)) return -1;
    return next_bit(f, f->qm, o);
}

/* The bracket closing the container opened at offset o, which sits at
 * nesting depth `depth` + 1 (the top-level value is depth 1).  Checked:
 * brackets balance and match, depth <= ZENWS_SCAN_MAX_DEPTH.  -1 if not. */
static Py_ssize_t container_close(zenws_fast_t *f, Py_ssize_t o, int depth) {
    /* stack[d]: bit 0x20 of the opening bracket at depth d ('{' 0x7B and '}'
     * 0x7D have it, '[' 0x5B and ']' 0x5D do not); bit 0x02 tells an
     * opening bracket (0x7B, 0x5B) from a closing one (0x7D, 0x5D). */
    unsigned char stack[ZENWS_SCAN_MAX_DEPTH + 1];
    int d = depth + 1;
    Py_ssize_t r, i = o;
    uint64_t m;
    int b;
    if (d > ZENWS_SCAN_MAX_DEPTH || !reach(f, o)) return -1;
    stack[d] = (unsigned char)(f->buf[o] & 0x20);
    r = o - f->cbase;
    b = (int)(r >> 6);
    m = f->bm[b] & ((~(uint64_t)1) << (r & 63));
    for (;;) {
        unsigned char c;
        while (!m) {
            if (++b >= f->nblocks) {
                if (next_chunk(f) <= 0) return -1; /* truncated */
                b = 0;
            }
            m = f->bm[b];
        }
        i = f->cbase + ((Py_ssize_t)b << 6) + zenws_ctz64(m);
        m &= m - 1;
        c = (unsigned char)f->buf[i];
        if (c & 0x02) {
            if (d >= ZENWS_SCAN_MAX_DEPTH) return -1;
            stack[++d] = c & 0x20;
        } else {
            if (stack[d] != (c & 0x20)) return -1; /* '{' closed by ']' or the reverse */
            if (--d == depth) return i;
        }
    }
}

/* Length of the run of ASCII digits at p: 16 bytes per step (SSE2), else
 * 8 (SWAR); top-level numbers (ids, Deribit's usIn/usOut) fit one step. */
ZENWS_INLINE Py_ssize_t digit_run8(const char *p, const char *end) {
    const char *s = p;
#if ZENWS_SCAN_SSE2
    const __m128i bias = _mm_set1_epi8((char)(0x80 - '0')), lim = _mm_set1_epi8((char)(0x80 + 10));
    while (end - p >= 16) {
        /* '0'..'9' + bias = 0x80..0x89: the only bytes below 0x8A (signed) */
        __m128i v = _mm_add_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), bias);
        unsigned nd = (unsigned)_mm_movemask_epi8(_mm_cmplt_epi8(v, lim)) ^ 0xFFFFu;
        if (nd) return (p - s) + zenws_ctz32(nd);
        p += 16;
    }
#endif
    while (end - p >= 8) {
        uint64_t w, lo, nd;
        memcpy(&w, p, 8);
#if ZENWS_BIG_ENDIAN
        w = zenws_bswap64(w);
#endif
        /* bit 7 of a byte: >= 0x80, > '9' (lo + 0x46 >= 0x80) or < '0'
         * (lo + 0x50 < 0x80); no carry leaves a byte. */
        lo = w & ZENWS_SWAR_LO7;
        nd = ((w | (lo + ZENWS_SWAR_ONES * 0x46)) | ~(lo + ZENWS_SWAR_ONES * 0x50)) & ZENWS_SWAR_HI;
        if (nd) return (p - s) + (zenws_ctz64(nd) >> 3);
        p += 8;
    }
    while (p < end && ZENWS_IS_DIGIT(*p)) p++;
    return p - s;
}

/* RFC 8259 §6 number at p ('-' or a digit).  Returns its end or NULL. */
ZENWS_INLINE const char *number_end(const char *p, const char *end) {
    Py_ssize_t n;
    if (*p == '-') p++;
    n = digit_run8(p, end);
    if (n == 0 || (*p == '0' && n > 1)) return NULL; /* no leading zeros */
    p += n;
    /* an integer (ids, timestamps) ends at ',' '}' ']' or whitespace */
    if (ZENWS_LIKELY(p < end && *p != '.' && (*p | 0x20) != 'e')) return p;
    if (p < end && *p == '.') {
        n = digit_run8(++p, end);
        if (n == 0) return NULL;
        p += n;
    }
    if (p < end && (*p | 0x20) == 'e') {
        if (++p < end && (*p == '+' || *p == '-')) p++;
        n = digit_run8(p, end);
        if (n == 0) return NULL;
        p += n;
    }
    return p;
}

/* The first n bytes of a string literal as a word (n <= 8; memory order). */
ZENWS_INLINE uint64_t word8(const char *s) {
    uint64_t w;
    memcpy(&w, s, 8);
    return w;
}
#define ZENWS_LOW_BYTES(n) (~(uint64_t)0 >> (64 - 8 * (n)))

/* classify_key() for an unescaped top-level key (never K_CHANNEL): one
 * masked 8-byte compare.  w holds the 8 bytes at the key's first byte. */
ZENWS_INLINE int top_key(uint64_t w, Py_ssize_t n) {
    switch (n) {
    /* the literals are zero-padded: equal to the masked word or not */
    case 2: return (w & ZENWS_LOW_BYTES(2)) == word8("id\0\0\0\0\0\0") ? K_ID : K_OTHER;
    case 5: return (w & ZENWS_LOW_BYTES(5)) == word8("error\0\0\0") ? K_ERROR : K_OTHER;
    case 6:
        w &= ZENWS_LOW_BYTES(6);
        if (w == word8("result\0\0")) return K_RESULT;
        if (w == word8("method\0\0")) return K_METHOD;
        if (w == word8("params\0\0")) return K_PARAMS;
        return K_OTHER;
    default: return K_OTHER;
    }
}

/* Key of the member whose key content is k[0:n] (no escape) at `depth`. */
ZENWS_INLINE int member_key(const char *k, Py_ssize_t n, const char *end, int depth) {
    uint64_t w;
#if !ZENWS_BIG_ENDIAN
    if (ZENWS_LIKELY(end - k >= 8)) {
        memcpy(&w, k, 8);
        if (depth == 1) return top_key(w, n);
        return n == 7 && (w & ZENWS_LOW_BYTES(7)) == word8("channel\0") ? K_CHANNEL : K_OTHER;
    }
#endif
    (void)w;
    n = classify_key(k, n, 0);
    return (depth == 1) == (n == K_CHANNEL) ? K_OTHER : (int)n;
}

ZENWS_INLINE int has_bslash(const zenws_fast_t *f, const char *s, Py_ssize_t n) {
    return f->s1.seen_bslash && memchr(s, '\\', (size_t)n) != NULL;
}

ZENWS_INLINE const char *ws_end(const char *p, const char *end) {
    /* Compact JSON (what exchanges send) has none: one compare per call. */
    while (p < end && ZENWS_UNLIKELY((unsigned char)*p <= ' ') && ZENWS_IS_WS(*p)) p++;
    return p;
}

/* Apply the value of a top-level member (or params.channel) that is not a
 * string: a number or literal [v, e), or a container (v at its bracket). */
#define ZENWS_NONSTRING_VALUE(key, v, e)                                              \
    switch (key) {                                                                    \
    case K_ID:                                                                        \
        out->id_off = out->id_len = 0;                                                \
        out->id_escaped = 0;                                                          \
        out->id_int = 0;                                                              \
        if (*(v) == 'n')                                                              \
            out->id_type = ZENWS_ID_NONE; /* JSON-RPC 2.0 §5: null id */              \
        else if (*(v) != 't' && *(v) != 'f' && *(v) != '{' && *(v) != '[' &&          \
                 parse_i64((v), (e), &out->id_int))                                   \
            out->id_type = ZENWS_ID_INT;                                              \
        else                                                                          \
            out->id_type = ZENWS_ID_INVALID;                                          \
        break;                                                                        \
    case K_METHOD: has_method = 0; break;                                             \
    case K_CHANNEL: has_channel = 0; break;                                           \
    case K_RESULT: out->has_result = 1; break;                                        \
    case K_ERROR: out->has_error = 1; break;                                          \
    case K_PARAMS: has_channel = 0; break; /* a later "params" replaces an earlier one */ \
    }

/* The next unescaped quote not consumed yet (stage 2 takes them in order),
 * into dst; classifies the next chunk when this one is used up. */
#define ZENWS_NEXT_QUOTE(dst)                                         \
    do {                                                              \
        while (ZENWS_UNLIKELY(!cur)) {                                \
            if (++qb >= f.nblocks) {                                  \
                if (next_chunk(&f) <= 0) goto invalid;                \
                qb = 0;                                               \
            }                                                         \
            cur = f.qm[qb];                                           \
        }                                                             \
        (dst) = f.cbase + ((Py_ssize_t)qb << 6) + zenws_ctz64(cur);   \
        cur &= cur - 1;                                               \
    } while (0)

/* zenws_scan() for len >= 64 (the SIMD kernels read whole 64-byte blocks).
 *
 * The quotes of the top-level members are taken from the quote masks in
 * order ("the next quote"), so finding the next key costs one bit operation
 * and does not wait for the previous value to be parsed: the checks of the
 * bytes between (':' ',' numbers, literals, whitespace) run beside it and
 * must agree with where the next quote is.  A top-level object must end with
 * its '}' at `last`, the last byte that is not whitespace: checked first,
 * that '}' is the sentinel that stops every byte loop below, so they need no
 * bounds checks of their own. */
static int scan_fast(const char *buf, Py_ssize_t len, zenws_scan_t *out) {
    zenws_fast_t f;
    const char *end = buf + len, *p, *v, *last;
    Py_ssize_t o, q, kq;
    uint64_t cur;
    int qb, depth = 1, key, has_method = 0, has_channel = 0;

    clear_result(out);
    f.buf = buf;
    f.end = end;
    f.cbase = f.climit = 0;
    f.nblocks = 0;
    f.kernel = zenws_s1_kernel;
    if (ZENWS_UNLIKELY(!f.kernel)) {
        kernel_choose();
        f.kernel = zenws_s1_kernel;
    }
    f.s1.in_string = f.s1.esc_carry = 0;
    f.s1.seen_bslash = 0;
    if (next_chunk(&f) <= 0) goto invalid;
    qb = 0;
    cur = f.qm[0];

    p = ws_end(buf, end);
    if (p >= end) goto invalid;
    if (*p != '{') goto not_object;
    last = end - 1;
    while (ZENWS_IS_WS(*last)) last--; /* stops at *p == '{' */
    if (*last != '}') goto invalid;    /* truncated or trailing data */
    p++;
    while (ZENWS_IS_WS(*p)) p++;
    if (*p == '}') goto close;
first_member: /* p <= last: must be a key's opening quote */
    ZENWS_NEXT_QUOTE(kq);
    if (ZENWS_UNLIKELY(kq != p - buf)) goto invalid;

    /* kq: a key's opening quote, where the grammar expects it */
    ZENWS_NEXT_QUOTE(q);
    {
        const char *k = buf + kq + 1;
        Py_ssize_t n = q - kq - 1;
        if (ZENWS_LIKELY(!has_bslash(&f, k, n))) {
            key = member_key(k, n, end, depth);
        } else {
            key = classify_key(k, n, 1);
            if ((depth == 1) == (key == K_CHANNEL)) key = K_OTHER; /* channel: params only */
        }
    }
    p = buf + q + 1; /* buf[q] is '"', not the '}' at last: p <= last */
    if (ZENWS_UNLIKELY(*p != ':')) {
        while (ZENWS_IS_WS(*p)) p++;
        if (*p != ':') goto invalid;
    }
    p++;
    if (ZENWS_UNLIKELY((unsigned char)*p <= ' '))
        while (ZENWS_IS_WS(*p)) p++;

    /* value: p <= last; `key` names its member */
    v = p;
    if (*p == '"') {
        Py_ssize_t off, n;
        int esc;
        ZENWS_NEXT_QUOTE(o);
        if (ZENWS_UNLIKELY(o != p - buf)) goto invalid;
        ZENWS_NEXT_QUOTE(q);
        p = buf + q + 1;
        if (ZENWS_LIKELY(key == K_OTHER)) goto after;
        off = o + 1;
        n = q - off;
        esc = has_bslash(&f, buf + off, n);
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
        goto after;
    }
    if (ZENWS_IS_DIGIT(*p) || *p == '-') {
        p = number_end(p, end);
        if (ZENWS_UNLIKELY(!p)) goto invalid;
    } else if (*p == '{' || *p == '[') {
        if (key == K_PARAMS && *p == '{') { /* walked: params.channel lives there */
            has_channel = 0;
            depth = 2;
            p++;
            while (ZENWS_IS_WS(*p)) p++;
            if (*p == '}') goto close;
            goto first_member;
        }
        q = container_close(&f, p - buf, depth);
        /* its bracket is not the top-level '}' (then the top level is open) */
        if (ZENWS_UNLIKELY(q < 0 || buf + q >= last)) goto invalid;
        p = buf + q + 1;
        /* the quotes inside are consumed: resume after the bracket */
        o = q - f.cbase;
        qb = (int)(o >> 6);
        cur = f.qm[qb] & ((~(uint64_t)1) << (o & 63));
    } else {
        /* literals: last - p bytes remain before the sentinel '}' */
        if (*p == 't' && last - p >= 4 && memcmp(p, "true", 4) == 0)
            p += 4;
        else if (*p == 'f' && last - p >= 5 && memcmp(p, "false", 5) == 0)
            p += 5;
        else if (*p == 'n' && last - p >= 4 && memcmp(p, "null", 4) == 0)
            p += 4;
        else
            goto invalid;
    }
    if (ZENWS_UNLIKELY(key != K_OTHER)) {
        ZENWS_NONSTRING_VALUE(key, v, p)
    }

after: /* a member's value ended at p (<= last) */
    if (ZENWS_LIKELY(*p == ',')) {
        p++;
        if (ZENWS_UNLIKELY(*p != '"'))
            while (ZENWS_IS_WS(*p)) p++;
        goto first_member;
    }
    if (ZENWS_UNLIKELY(*p != '}')) {
        while (ZENWS_IS_WS(*p)) p++;
        if (*p == ',') {
            p++;
            while (ZENWS_IS_WS(*p)) p++;
            goto first_member;
        }
        if (*p != '}') goto invalid;
    }
close: /* p at the '}' of the object at `depth` */
    if (--depth) { /* params ended: back in the top-level object */
        if (p == last) goto invalid;
        p++;
        goto after;
    }
    if (p != last) goto invalid; /* trailing data */
    return finish(buf, out, 1, has_method, has_channel);

not_object: /* a top-level array, string or scalar: valid or not, no members */
    if (*p == '[' || *p == '"') {
        q = *p == '[' ? container_close(&f, p - buf, 0) : string_close(&f, p - buf);
        if (q < 0 || ws_end(buf + q + 1, end) != end) goto invalid;
        return out->kind = ZENWS_KIND_OTHER;
    }
    {
        const char *s, *e;
        if (!gap_scalar(p, end, &s, &e)) goto invalid;
    }
    return out->kind = ZENWS_KIND_OTHER;

invalid:
    clear_result(out);
    return out->kind = ZENWS_KIND_INVALID;
}

int zenws_scan(const char *buf, Py_ssize_t len, zenws_scan_t *out) {
    /* Short messages: the byte-level scanner is faster there (measured:
     * 76 vs 92 ns on a 117-byte response) and it checks everything. */
    if (len < ZENWS_SCAN_STRICT_BELOW) return zenws_scan_strict(buf, len, out);
    return scan_fast(buf, len, out);
}

/* The JSON string unit's lenient unescape (zenws_jstr.c): the scan validated
 * every escape; a lone surrogate stays alone, as in json.loads. */
Py_ssize_t zenws_unescape(const char *src, Py_ssize_t len, char *dst) {
    const char *bad;
    int wide = 0;
    return zenws_jstr_unescape(src, len, dst, 0, &bad, &wide);
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
