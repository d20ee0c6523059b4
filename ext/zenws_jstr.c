/* zenws_jstr.c - the one JSON string escape/unescape unit (zenws_jstr.h).
 *
 * Compiled into zenws.fast.jsonrpc only.  Three parts:
 *
 * - the SIMD copy loops that copy the plain part of a string (up to the first
 *   byte that needs an escape) in one pass: every loaded block is stored to the
 *   output before it is tested, so a plain string costs one load, one store and
 *   a few compares per 16 (SSE2) or 32 (AVX2) bytes.  No load or store ever
 *   leaves [s, s + n) / [o, o + n): the last partial block is the block that
 *   ends at the string's end.  The kernel is the JSON string kernel
 *   (zenws_json_simd, chosen once at import; ZENWS_KERNEL_JSON=swar|sse2|avx2
 *   forces one); AVX2 is used for runs of 64 bytes or more, where it pays for
 *   its call.  The encoder (zenws_jsonenc.c) and the JSONL writer use them.
 * - the JSONL writer's string quoting, which also validates UTF-8 and reads
 *   the text for credential-looking keys in the same pass (zenws.fast.jsonl).
 * - unescaping (\uXXXX, surrogate pairs), strict for the decoder
 *   (zenws_json.c), lenient for the scanner (zenws_scan.c, already validated).
 */
#include "zenws_jstr.h"
#include "zenws_json.h"
#include "zenws_compat.h"

#include <stdint.h>
#include <string.h>

#if defined(_MSC_VER) && !defined(__clang__)
#  define JS_INLINE static __inline
#else
#  define JS_INLINE static inline
#endif

#if !defined(ZENWS_JSON_NO_SIMD) && \
    (defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2))
#  include <emmintrin.h>
#  define JSTR_SSE2 1
#elif defined(__aarch64__) && defined(__ARM_NEON)
#  include <arm_neon.h>
#  define JSTR_NEON 1
#endif

#if defined(__GNUC__) || defined(__clang__)
#  define JSTR_HOT __attribute__((noinline, aligned(64)))
#else
#  define JSTR_HOT __declspec(noinline)
#endif

#if defined(JSTR_SSE2) && (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#  include <immintrin.h>
#  define JSTR_AVX2 1
#  define JSTR_TARGET_AVX2 __attribute__((target("avx2")))
#endif

/* ---------------------------------------------------------------- plain runs */

/* Each kernel stops at '"', '\\' and bytes < 0x20; with hi (a constant at each
 * call site) also at bytes >= 0x80, for a caller that validates UTF-8 itself. */

ZENWS_INLINE Py_ssize_t copy_bytes(char *o, const char *s, Py_ssize_t i, Py_ssize_t n,
                                   const int hi) {
    if (!hi) return zenws_jstr_copy_bytes(o, s, i, n);
    while (i < n && (unsigned char)s[i] < 0x80 && !zenws_jstr_esc[(unsigned char)s[i]]) {
        o[i] = s[i];
        i++;
    }
    return i;
}

ZENWS_INLINE uint64_t stop8(uint64_t w, const int hi) {
    return zenws_jstr_stop8(w) | (hi ? (w & ZENWS_JSTR_HIGH) : 0);
}

/* n <= 16, hi: two overlapping words cover the run (without hi: zenws_jstr_copy). */
ZENWS_INLINE Py_ssize_t copy_short_ascii(char *o, const char *s, Py_ssize_t n) {
    if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        if (ZENWS_UNLIKELY(stop8(a, 1) | stop8(b, 1))) return copy_bytes(o, s, 0, n, 1);
        memcpy(o, &a, 8);
        memcpy(o + n - 8, &b, 8);
        return n;
    }
    return copy_bytes(o, s, 0, n, 1);
}

/* Portable kernel, n > 16. */
ZENWS_INLINE Py_ssize_t copy_swar(char *o, const char *s, Py_ssize_t n, const int hi) {
    Py_ssize_t i = 0;
    uint64_t w;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        memcpy(o + i, &w, 8);
        if (stop8(w, hi)) return copy_bytes(o, s, i, n, hi);
    }
    if (i < n) {
        memcpy(&w, s + n - 8, 8); /* the last 8 bytes; those before i are plain */
        memcpy(o + n - 8, &w, 8);
        if (stop8(w, hi)) return copy_bytes(o, s, i, n, hi);
    }
    return n;
}

#if defined(JSTR_SSE2)
ZENWS_INLINE unsigned int sse2_stop(__m128i v, const int hi) {
    const __m128i c1f = _mm_set1_epi8(0x1F);
    const __m128i qb =
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
    if (hi) /* signed compare: 0x00-0x1F and 0x80-0xFF are both "less than 0x20" */
        return (unsigned int)_mm_movemask_epi8(
            _mm_or_si128(qb, _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))));
    /* max(v, 0x1F) == 0x1F: v <= 0x1F */
    return (unsigned int)_mm_movemask_epi8(
        _mm_or_si128(qb, _mm_cmpeq_epi8(_mm_max_epu8(v, c1f), c1f)));
}

/* SSE2 kernel, n > 16. */
ZENWS_INLINE Py_ssize_t copy_sse2(char *o, const char *s, Py_ssize_t n, const int hi) {
    Py_ssize_t i = 0;
    unsigned int m;
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        _mm_storeu_si128((__m128i *)(void *)(o + i), v);
        m = sse2_stop(v, hi);
        if (m) return i + zenws_ctz32(m);
    }
    if (i < n) {
        /* The 16 bytes that end at n; the first 16 - (n - i) were checked. */
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + n - 16));
        _mm_storeu_si128((__m128i *)(void *)(o + n - 16), v);
        m = sse2_stop(v, hi) >> (16 - (n - i));
        if (m) return i + zenws_ctz32(m);
    }
    return n;
}

/* The kernels' loops, out of line and each function on a 64-byte line of its own
 * (JSTR_HOT): a loop's place in the cache lines then does not move when code around it
 * changes (measured on an EPYC: up to +20 ns per 500-byte string when it did). */
JSTR_HOT static Py_ssize_t copy_sse2_plain(char *o, const char *s, Py_ssize_t n) {
    return copy_sse2(o, s, n, 0);
}

JSTR_HOT static Py_ssize_t copy_sse2_ascii(char *o, const char *s, Py_ssize_t n) {
    return copy_sse2(o, s, n, 1);
}
#endif

#if defined(JSTR_AVX2)
JSTR_TARGET_AVX2 static inline __m256i avx2_hits(__m256i v, const int hi) {
    const __m256i c1f = _mm256_set1_epi8(0x1F);
    const __m256i qb = _mm256_or_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('"')),
                                       _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\\')));
    if (hi) /* signed: v < 0x20 or v >= 0x80 */
        return _mm256_or_si256(qb, _mm256_cmpgt_epi8(_mm256_set1_epi8(0x20), v));
    return _mm256_or_si256(qb, _mm256_cmpeq_epi8(_mm256_max_epu8(v, c1f), c1f));
}

/* AVX2 kernel, n >= 64 (run-time dispatch: never compiled with -mavx2). */
JSTR_TARGET_AVX2 static inline __attribute__((always_inline)) Py_ssize_t
copy_avx2(char *o, const char *s, Py_ssize_t n, const int hi) {
    Py_ssize_t i = 0;
    unsigned int m;
    for (; i + 64 <= n; i += 64) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(s + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(s + i + 32));
        __m256i ha, hb;
        _mm256_storeu_si256((__m256i *)(void *)(o + i), a);
        _mm256_storeu_si256((__m256i *)(void *)(o + i + 32), b);
        ha = avx2_hits(a, hi);
        hb = avx2_hits(b, hi);
        if (ZENWS_UNLIKELY(!_mm256_testz_si256(_mm256_or_si256(ha, hb), _mm256_set1_epi8(-1)))) {
            m = (unsigned int)_mm256_movemask_epi8(ha);
            if (m) return i + zenws_ctz32(m);
            return i + 32 + zenws_ctz32((unsigned int)_mm256_movemask_epi8(hb));
        }
    }
    for (; i + 32 <= n; i += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(s + i));
        _mm256_storeu_si256((__m256i *)(void *)(o + i), v);
        m = (unsigned int)_mm256_movemask_epi8(avx2_hits(v, hi));
        if (m) return i + zenws_ctz32(m);
    }
    if (i < n) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(s + n - 32));
        _mm256_storeu_si256((__m256i *)(void *)(o + n - 32), v);
        m = (unsigned int)_mm256_movemask_epi8(avx2_hits(v, hi)) >> (32 - (n - i));
        if (m) return i + zenws_ctz32(m);
    }
    return n;
}

JSTR_TARGET_AVX2 JSTR_HOT static Py_ssize_t copy_avx2_plain(char *o, const char *s, Py_ssize_t n) {
    return copy_avx2(o, s, n, 0);
}

JSTR_TARGET_AVX2 JSTR_HOT static Py_ssize_t copy_avx2_ascii(char *o, const char *s, Py_ssize_t n) {
    return copy_avx2(o, s, n, 1);
}
#endif

/* n > 16: the kernel the JSON string kernel names. */
ZENWS_INLINE Py_ssize_t copy_long(char *o, const char *s, Py_ssize_t n, const int hi) {
#if defined(JSTR_AVX2)
    if (n >= 64 && zenws_json_simd == ZENWS_JSON_KERNEL_AVX2)
        return hi ? copy_avx2_ascii(o, s, n) : copy_avx2_plain(o, s, n);
#endif
#if defined(JSTR_SSE2)
    if (ZENWS_LIKELY(zenws_json_simd != ZENWS_JSON_KERNEL_SWAR))
        return hi ? copy_sse2_ascii(o, s, n) : copy_sse2_plain(o, s, n);
#endif
    return copy_swar(o, s, n, hi);
}

Py_ssize_t zenws_jstr_copy_long(char *o, const char *s, Py_ssize_t n) {
    return copy_long(o, s, n, 0);
}

static Py_ssize_t copy_ascii_long(char *o, const char *s, Py_ssize_t n) {
    return copy_long(o, s, n, 1);
}

/* Copy the plain run at s (any n >= 0); with hi, non-ASCII bytes end it too. */
ZENWS_INLINE Py_ssize_t copy_run(char *o, const char *s, Py_ssize_t n, int hi) {
    if (!hi) return zenws_jstr_copy(o, s, n);
    return n > 16 ? copy_ascii_long(o, s, n) : copy_short_ascii(o, s, n);
}

/* ---------------------------------------------------------------- the JSONL writer */

/* ---- credential-looking JSON keys ----------------------------------------------------- */

/* k[1:m] == needle[1:m], ASCII case folded (k[0] already matched). "| 0x20" folds exactly the
   two cases of a letter, and every needle is lowercase letters. */
JS_INLINE int zenws_tail_is(const uint8_t *k, Py_ssize_t rem, const char *needle,
                                  Py_ssize_t m) {
    Py_ssize_t j;
    if (rem < m)
        return 0;
    for (j = 1; j < m; j++)
        if ((k[j] | 0x20) != (uint8_t)needle[j])
            return 0;
    return 1;
}

/* One pass over a raw key: does it contain token, secret, sig, pass, key, credential, cookie,
   auth, session or jwt (any case)? These are zenws._redact.KEY_WORDS: every name
   is_sensitive() flags contains one (tests/unit/test_redaction_rules.py pins both). A backslash
   (an escaped key such as "\u0074oken") and U+212A KELVIN SIGN (str.lower() folds it to 'k')
   count too: the decoded key may spell a word that its bytes hide. */
JS_INLINE int zenws_suspicious_key(const uint8_t *k, Py_ssize_t n, Py_ssize_t avail) {
    Py_ssize_t i, rem;
#if defined(JSTR_SSE2)
    /* Keys of up to 16 bytes (nearly all): branch-free. One equality mask per letter of the
       words, lowercased by "| 0x20"; a word starts at i when its j-th letter's mask has bit
       i + j. Byte n is the closing quote, which matches nothing, so no word runs past the
       key; avail (readable bytes from k) decides whether a direct 16-byte load is safe. */
    if (n <= 16) {
        uint8_t tmp[16] = {0};
        __m128i v, f;
        unsigned live = n == 16 ? 0xFFFFu : ((1u << n) - 1), t, o, kk, e, nn, s, c, r, ii, g,
                 p, a, y, d, l, u, h, j, w, hit;
        if (avail >= 16) {
            v = _mm_loadu_si128((const __m128i *)k);
        } else {
            memcpy(tmp, k, (size_t)n);
            v = _mm_loadu_si128((const __m128i *)tmp);
        }
        f = _mm_or_si128(v, _mm_set1_epi8(0x20));
#define ZENWS_EQ(src, ch) \
    ((unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8((src), _mm_set1_epi8((char)(ch)))) & live)
        t = ZENWS_EQ(f, 't'); o = ZENWS_EQ(f, 'o'); kk = ZENWS_EQ(f, 'k'); e = ZENWS_EQ(f, 'e');
        nn = ZENWS_EQ(f, 'n'); s = ZENWS_EQ(f, 's'); c = ZENWS_EQ(f, 'c'); r = ZENWS_EQ(f, 'r');
        ii = ZENWS_EQ(f, 'i'); g = ZENWS_EQ(f, 'g'); p = ZENWS_EQ(f, 'p'); a = ZENWS_EQ(f, 'a');
        y = ZENWS_EQ(f, 'y'); d = ZENWS_EQ(f, 'd'); l = ZENWS_EQ(f, 'l'); u = ZENWS_EQ(f, 'u');
        h = ZENWS_EQ(f, 'h'); j = ZENWS_EQ(f, 'j'); w = ZENWS_EQ(f, 'w');
        hit = ZENWS_EQ(v, '\\')
            | (ZENWS_EQ(v, 0xE2) & (ZENWS_EQ(v, 0x84) >> 1) & (ZENWS_EQ(v, 0xAA) >> 2))
            | (t & (o >> 1) & (kk >> 2) & (e >> 3) & (nn >> 4))                 /* token */
            | (s & (e >> 1) & (c >> 2) & (r >> 3) & (e >> 4) & (t >> 5))        /* secret */
            | (s & (ii >> 1) & (g >> 2))                                        /* sig */
            | (p & (a >> 1) & (s >> 2) & (s >> 3))                              /* pass */
            | (kk & (e >> 1) & (y >> 2))                                        /* key */
            | (c & (r >> 1) & (e >> 2) & (d >> 3) & (e >> 4) & (nn >> 5) & (t >> 6)
               & (ii >> 7) & (a >> 8) & (l >> 9))                               /* credential */
            | (c & (o >> 1) & (o >> 2) & (kk >> 3) & (ii >> 4) & (e >> 5))      /* cookie */
            | (a & (u >> 1) & (t >> 2) & (h >> 3))                              /* auth */
            | (s & (e >> 1) & (s >> 2) & (s >> 3) & (ii >> 4) & (o >> 5) & (nn >> 6)) /* session */
            | (j & (w >> 1) & (t >> 2));                                        /* jwt */
#undef ZENWS_EQ
        return hit != 0;
    }
#endif
    (void)avail;
    for (i = 0; i < n; i++) {
        uint8_t c = k[i];
        rem = n - i;
        if (c == '\\')
            return 1;
        if (c == 0xE2 && rem >= 3 && k[i + 1] == 0x84 && k[i + 2] == 0xAA)
            return 1;
        switch (c | 0x20) {
        case 't':
            if (zenws_tail_is(k + i, rem, "token", 5)) return 1;
            break;
        case 's':
            if (zenws_tail_is(k + i, rem, "sig", 3) || zenws_tail_is(k + i, rem, "secret", 6) ||
                zenws_tail_is(k + i, rem, "session", 7))
                return 1;
            break;
        case 'j':
            if (zenws_tail_is(k + i, rem, "jwt", 3)) return 1;
            break;
        case 'p':
            if (zenws_tail_is(k + i, rem, "pass", 4)) return 1;
            break;
        case 'k':
            if (zenws_tail_is(k + i, rem, "key", 3)) return 1;
            break;
        case 'c':
            if (zenws_tail_is(k + i, rem, "cookie", 6) ||
                zenws_tail_is(k + i, rem, "credential", 10))
                return 1;
            break;
        case 'a':
            if (zenws_tail_is(k + i, rem, "auth", 4)) return 1;
            break;
        default:
            break;
        }
    }
    return 0;
}

/* ---- a cache of keys known to be harmless ---------------------------------------------- */

/* A stream repeats the same few keys ("jsonrpc", "id", "method", "params"...): remember the
   last harmless ones of up to 16 bytes (direct-mapped, 64 entries) so that each costs one
   16-byte compare instead of the word search. Owned by one consumer (no locking); only
   harmless keys are stored, so a stale or colliding entry can only cost a miss. */

#if defined(JSTR_SSE2)
JS_INLINE __m128i zenws_key_block(const uint8_t *k, Py_ssize_t n, Py_ssize_t avail) {
    uint8_t tmp[16] = {0};
    const __m128i idx = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    if (avail < 16) {
        memcpy(tmp, k, (size_t)n);
        return _mm_loadu_si128((const __m128i *)tmp);
    }
    /* bytes past the key zeroed: index < n */
    return _mm_and_si128(_mm_loadu_si128((const __m128i *)k),
                         _mm_cmplt_epi8(idx, _mm_set1_epi8((char)n)));
}

JS_INLINE unsigned zenws_kc_slot(__m128i v, Py_ssize_t n) {
    uint64_t lo = (uint64_t)_mm_cvtsi128_si64(v);
    uint64_t hi = (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(v, v));
    uint64_t h = (lo ^ (hi * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)n) * 0xFF51AFD7ED558CCDULL;
    return (unsigned)(h >> 58);
}
#endif

/* ---- reading JSON text for keys --------------------------------------------------------- */

/* State of the key reader: it only ever looks at the quotes and backslashes of the text, in
   order. A quote outside a string opens one; inside, a backslash makes the next byte content;
   the next quote that is not content closes the string, which is a key when the next byte
   other than JSON whitespace is ':'. Not a JSON validator: any text works. */
typedef struct {
    Py_ssize_t start;    /* first byte of the open string */
    Py_ssize_t esc_at;   /* position made content by a backslash, or -1 */
    Py_ssize_t last;     /* the previous quote or backslash, or -1 */
    int in_str;
    int slash;           /* the open string contains a backslash */
} zenws_keyscan;

/* Is the key s[0:n] (avail bytes readable from s) credential-looking? Through kc if given. */
JS_INLINE int zenws_key_flagged(zenws_keycache *kc, const uint8_t *s, Py_ssize_t n,
                                      Py_ssize_t avail) {
#if defined(JSTR_SSE2)
    if (kc != NULL && n <= 16) {
        __m128i v = zenws_key_block(s, n, avail);
        unsigned slot = zenws_kc_slot(v, n);
        if (kc->len[slot] == (uint8_t)n &&
            _mm_movemask_epi8(_mm_cmpeq_epi8(
                v, _mm_loadu_si128((const __m128i *)kc->key[slot]))) == 0xFFFF)
            return 0;
        if (zenws_suspicious_key(s, n, avail))
            return 1;
        _mm_storeu_si128((__m128i *)kc->key[slot], v);
        kc->len[slot] = (uint8_t)n;
        return 0;
    }
#endif
    (void)kc;
    return zenws_suspicious_key(s, n, avail);
}

/* Feed the quote or backslash at s[pos]; 1 when it closes a credential-looking key. */
JS_INLINE int zenws_key_step(zenws_keyscan *st, const uint8_t *s, Py_ssize_t k,
                                   Py_ssize_t pos, zenws_keycache *kc) {
    Py_ssize_t p, last = st->last;
    st->last = pos;
    if (pos == st->esc_at)
        return 0;
    if (s[pos] == '\\') {
        if (st->in_str) {
            st->esc_at = pos + 1;
            st->slash = 1;
        }
        return 0;
    }
    if (!st->in_str) {
        st->in_str = 1;
        st->slash = 0;
        st->start = pos + 1;
        /* Not JSON, but a quoted name all the same ('say "hi "token": x'): a quote that
           opens a string and is followed by ':' may close a name to Python's free-text
           rules (zenws._redact.redact_text); the name lies after the previous quote. */
        return pos + 1 < k && s[pos + 1] == ':' && pos > last + 1 &&
               zenws_suspicious_key(s + last + 1, pos - last - 1, k - last - 1);
    }
    st->in_str = 0;
    p = pos + 1;
    while (p < k && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r'))
        p++;
    return p < k && s[p] == ':' &&
           (st->slash || zenws_key_flagged(kc, s + st->start, pos - st->start, k - st->start));
}

/* ---- secrets outside JSON keys ---------------------------------------------------------- */

/* zenws._redact.redact_text (the rules for text that is not JSON) also hides the values of
   name=value pairs, "Name: value" lines, 'name': value pairs, URL userinfo passwords and
   Bearer/Basic/Digest credentials; on JSON text, redact_mapping hides the secrets of string
   values that are URLs. zenws_text_suspicious() is a superset of both: it looks only at the
   bytes those forms hinge on ('=', ':', '@', white space after a scheme word), then reads
   backwards for the name in front. Linear: each backward read stops at the next byte of the
   same kind, so no byte is read twice by reads of one kind. */

/* Python's \s may go on past this byte: ASCII white space and control bytes, and any
   non-ASCII byte (a superset of Unicode white space). */
JS_INLINE int zenws_wsish(uint8_t c) {
    return c <= 0x20 || c >= 0x80;
}

/* [A-Za-z0-9_.-]: a name in name=value and Name: value (zenws._redact._NAME). */
JS_INLINE int zenws_namech(uint8_t c) {
    uint8_t f = c | 0x20;
    return (f >= 'a' && f <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

JS_INLINE int zenws_run_flagged(const uint8_t *s, Py_ssize_t a, Py_ssize_t b, Py_ssize_t k) {
    return b > a && zenws_suspicious_key(s + a, b - a, k - a);
}

/* '=' at e: the name is everything back to '=', '&', '?', '#' or an unescaped '"' (wider
   than _NAME: a URL's parameter names are whatever parse_qsl splits, '%' decoded). */
static int zenws_eq_suspicious(const uint8_t *s, Py_ssize_t e, Py_ssize_t k) {
    Py_ssize_t a = e;
    while (a > 0) {
        uint8_t c = s[a - 1];
        if (c == '=' || c == '&' || c == '?' || c == '#' ||
            (c == '"' && !(a >= 2 && s[a - 2] == '\\')))
            break;
        if (c == '%')
            return 1;
        a--;
    }
    return zenws_run_flagged(s, a, e, k);
}

/* ':' at e, not right after '"' (the key reader has those): 'name': or Name: */
static int zenws_colon_suspicious(const uint8_t *s, Py_ssize_t e, Py_ssize_t k) {
    Py_ssize_t a, b = e;
    while (b > 0 && zenws_wsish(s[b - 1]))
        b--;
    a = --b;
    if (b >= 0 && (s[b] == '"' || s[b] == '\'')) {
        while (a > 0 && s[a - 1] != '"' && s[a - 1] != '\'' && s[a - 1] != '\\' && s[a - 1] > 0x20)
            a--;
        return zenws_run_flagged(s, a, b, k);
    }
    a = b = b + 1;
    while (a > 0 && zenws_namech(s[a - 1]))
        a--;
    return zenws_run_flagged(s, a, b, k);
}

/* '@' at e: a ':' back to '/', '@' or '"' may start a userinfo password. */
static int zenws_at_suspicious(const uint8_t *s, Py_ssize_t e) {
    while (e > 0) {
        uint8_t c = s[--e];
        if (c == ':')
            return 1;
        if (c == '/' || c == '@' || c == '"')
            return 0;
    }
    return 0;
}

/* s[e - m:e] == word (lowercase letters), ASCII case folded. */
JS_INLINE int zenws_ends_with(const uint8_t *s, Py_ssize_t e, const char *word, Py_ssize_t m) {
    Py_ssize_t j;
    if (e < m)
        return 0;
    for (j = 0; j < m; j++)
        if ((s[e - m + j] | 0x20) != (uint8_t)word[j])
            return 0;
    return 1;
}

/* A scheme word (bearer, basic, digest) ends at e, before white space. */
JS_INLINE int zenws_scheme_before(const uint8_t *s, Py_ssize_t e) {
    return zenws_ends_with(s, e, "bearer", 6) || zenws_ends_with(s, e, "digest", 6) ||
           zenws_ends_with(s, e, "basic", 5);
}

/* ':' at e starts '://' or ':\/\/' (JSON may escape '/'). */
JS_INLINE int zenws_url_at(const uint8_t *s, Py_ssize_t e, Py_ssize_t k) {
    return (e + 2 < k && s[e + 1] == '/' && s[e + 2] == '/') ||
           (e + 4 < k && s[e + 1] == '\\' && s[e + 2] == '/' && s[e + 3] == '\\' &&
            s[e + 4] == '/');
}

/* The candidate bytes of s[i] (one per class, see zenws_text_suspicious()); prev and next
   are the bytes around it (0 outside s). */
JS_INLINE int zenws_text_cand(uint8_t c, uint8_t prev, uint8_t next) {
    uint8_t f = prev | 0x20;
    return c == '=' || c == '@' || (c == ':' && (prev != '"' || next == '/' || next == '\\')) ||
           (zenws_wsish(c) && (f == 'r' || f == 'c' || f == 't'));
}

/* Bit i set when byte i of v is a candidate; p and n hold the bytes before and after. */
#if defined(JSTR_SSE2)
JS_INLINE unsigned zenws_text_block(__m128i v, __m128i p, __m128i n) {
    const __m128i f = _mm_or_si128(p, _mm_set1_epi8(0x20));
    const __m128i colon = _mm_cmpeq_epi8(v, _mm_set1_epi8(':'));
    const __m128i key = _mm_andnot_si128(
        _mm_or_si128(_mm_cmpeq_epi8(n, _mm_set1_epi8('/')), _mm_cmpeq_epi8(n, _mm_set1_epi8('\\'))),
        _mm_cmpeq_epi8(p, _mm_set1_epi8('"')));
    const __m128i scheme = _mm_and_si128(
        _mm_cmplt_epi8(v, _mm_set1_epi8(0x21)), /* signed: 0x00-0x20 and 0x80-0xFF */
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(f, _mm_set1_epi8('r')),
                                  _mm_cmpeq_epi8(f, _mm_set1_epi8('c'))),
                     _mm_cmpeq_epi8(f, _mm_set1_epi8('t'))));
    const __m128i eq_at =
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('=')), _mm_cmpeq_epi8(v, _mm_set1_epi8('@')));
    return (unsigned)_mm_movemask_epi8(
        _mm_or_si128(_mm_or_si128(eq_at, scheme), _mm_andnot_si128(key, colon)));
}

#define ZENWS_LOAD(p) _mm_loadu_si128((const __m128i *)(const void *)(p))
#endif

/* Check the candidates of cand (bit i: s[base + i]); 1 = send the text to Python. */
static int zenws_text_hits(const uint8_t *s, Py_ssize_t k, Py_ssize_t base, unsigned cand,
                           int *has_url) {
    Py_ssize_t pos;
    while (cand) {
        pos = base + zenws_ctz32(cand);
        cand &= cand - 1;
        switch (s[pos]) {
        case '=':
            if (zenws_eq_suspicious(s, pos, k)) return 1;
            break;
        case ':':
            *has_url = *has_url || zenws_url_at(s, pos, k);
            /* '"' then ':' is a key: the key reader (zenws_key_step) has it */
            if (!(pos && s[pos - 1] == '"') && zenws_colon_suspicious(s, pos, k)) return 1;
            break;
        case '@':
            if (zenws_at_suspicious(s, pos)) return 1;
            break;
        default:
            if (zenws_scheme_before(s, pos)) return 1;
            break;
        }
    }
    return 0;
}

/* True when s may hold a secret that zenws._redact hides outside JSON keys (see above).
   Plain JSON with none of those forms costs one SIMD pass (one movemask per 16 bytes). */
static int zenws_text_suspicious(const uint8_t *s, Py_ssize_t k) {
    Py_ssize_t i = 0;
    unsigned cand;
    int has_url = 0;
#if defined(JSTR_SSE2)
    if (k >= 17) {
        __m128i v = ZENWS_LOAD(s);
        /* the first block: no byte before it */
        if (zenws_text_hits(s, k, 0, zenws_text_block(v, _mm_slli_si128(v, 1), ZENWS_LOAD(s + 1)),
                            &has_url))
            return 1;
        for (i = 16; i + 17 <= k; i += 16)
            if (zenws_text_hits(s, k, i,
                                zenws_text_block(ZENWS_LOAD(s + i), ZENWS_LOAD(s + i - 1),
                                                 ZENWS_LOAD(s + i + 1)),
                                &has_url))
                return 1;
        if (i < k) { /* the 16 bytes that end at k; those before i are done */
            v = ZENWS_LOAD(s + k - 16);
            cand = zenws_text_block(v, ZENWS_LOAD(s + k - 17), _mm_srli_si128(v, 1));
            if (zenws_text_hits(s, k, i, cand >> (16 - (k - i)), &has_url))
                return 1;
        }
        i = k;
    }
#endif
    for (; i < k; i++) { /* short text (or no SSE2): byte by byte */
        cand = (unsigned)zenws_text_cand(s[i], i ? s[i - 1] : 0, i + 1 < k ? s[i + 1] : 0);
        if (cand && zenws_text_hits(s, k, i, 1u, &has_url))
            return 1;
    }
    /* A URL in a JSON string value: redact_mapping reads it decoded (JSON escapes, '%XX'
       in parameter names, parameters without '='), so any word of the list, backslash or
       '%' in the frame sends it to Python. Rare in market data. */
    return has_url && (zenws_suspicious_key(s, k, k) || memchr(s, '%', (size_t)k) != NULL);
}

/* ---- JSON string escaping ------------------------------------------------------------- */

/* No byte of x is >= 0x80, < 0x20, '"' or '\\' (SWAR "haszero" tricks). */
JS_INLINE int zenws_plain8(uint64_t x) {
    return ((x & ZENWS_JSTR_HIGH) | zenws_jstr_stop8(x)) == 0;
}

/* zenws_jstr.h.  Plain runs go to copy_run() (the encoder's kernels, stopping at
   non-ASCII bytes too when checking); a 16-byte block holding quotes or backslashes only is
   copied segment by segment without leaving SIMD; anything else byte by byte. */
ZENWS_INLINE Py_ssize_t quote(char *out, const uint8_t *s, Py_ssize_t k, const int check,
                              const int keys, zenws_keycache *kc) {
    char *o = out;
    Py_ssize_t i = 0, end, extra, j;
    uint8_t c, c1;
    uint64_t x;
    zenws_keyscan st = {0, -1, -1, 0, 0};
    *o++ = '"';
    while (i < k) {
        end = k;
#if defined(JSTR_SSE2)
        if (i + 16 <= k) {
            const __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
            unsigned qm = (unsigned)_mm_movemask_epi8(
                _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                             _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
            /* signed compare: 0x00-0x1F and 0x80-0xFF are both "less than 0x20" */
            unsigned om = (unsigned)_mm_movemask_epi8(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
            if (!(qm | om)) {
                /* a plain block: the rest of its run goes to the shared copy loop */
                Py_ssize_t r;
                _mm_storeu_si128((__m128i *)o, v);
                r = 16 + copy_run(o + 16, (const char *)s + i + 16, k - i - 16, check);
                o += r;
                i += r;
                continue;
            }
            if (!om) { /* only quotes and backslashes: copy the segments between them */
                unsigned prev = 0, pos;
                /* the block twice over in a local buffer: fixed 16-byte copies from any
                   offset < 16 stay inside it (never past the end of the input) */
                uint8_t blk[32];
                _mm_storeu_si128((__m128i *)blk, v);
                _mm_storeu_si128((__m128i *)(blk + 16), v);
                while (qm) {
                    pos = zenws_ctz32(qm);
                    qm &= qm - 1;
                    memcpy(o, blk + prev, 16);
                    o += pos - prev;
                    o += zenws_jstr_escape(o, s[i + pos]);
                    prev = pos + 1;
                    if (keys && zenws_key_step(&st, s, k, i + (Py_ssize_t)pos, kc))
                        return -2;
                }
                memcpy(o, blk + prev, 16);
                o += 16 - prev;
                i += 16;
                continue;
            }
            end = i + 16; /* control or non-ASCII bytes: this block byte by byte */
        }
#elif defined(JSTR_NEON)
        if (i + 16 <= k) {
            const uint8x16_t v = vld1q_u8(s + i);
            uint8x16_t bad = vorrq_u8(
                vorrq_u8(vceqq_u8(v, vdupq_n_u8('"')), vceqq_u8(v, vdupq_n_u8('\\'))),
                vorrq_u8(vcltq_u8(v, vdupq_n_u8(0x20)), vcgeq_u8(v, vdupq_n_u8(0x80))));
            if (!vmaxvq_u8(bad)) {
                vst1q_u8((uint8_t *)o, v);
                o += 16;
                i += 16;
                continue;
            }
            end = i + 16;
        }
#else
        if (i + 16 <= k) { /* the shared copy loop, then the next 16 bytes byte by byte */
            Py_ssize_t r = copy_run(o, (const char *)s + i, k - i, check);
            o += r;
            i += r;
            if (i + 16 <= k) end = i + 16;
        }
#endif
        while (i < end) {
            if (i + 8 <= end) {
                memcpy(&x, s + i, 8);
                if (zenws_plain8(x)) {
                    memcpy(o, &x, 8);
                    o += 8;
                    i += 8;
                    continue;
                }
            }
            c = s[i];
            if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
                *o++ = (char)c;
                i++;
            } else if (c == '"' || c == '\\') {
                o += zenws_jstr_escape(o, c);
                if (keys && zenws_key_step(&st, s, k, i, kc))
                    return -2;
                i++;
            } else if (c >= 0x80) {
                if (!check) {
                    *o++ = (char)c;
                    i++;
                    continue;
                }
                if (c >= 0xC2 && c <= 0xDF)
                    extra = 1;
                else if (c >= 0xE0 && c <= 0xEF)
                    extra = 2;
                else if (c >= 0xF0 && c <= 0xF4)
                    extra = 3;
                else
                    return -1;
                if (i + extra >= k)
                    return -1;
                c1 = s[i + 1];
                if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F))
                    return -1;
                if ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F))
                    return -1;
                for (j = 1; j <= extra; j++)
                    if ((s[i + j] & 0xC0) != 0x80)
                        return -1;
                memcpy(o, s + i, (size_t)extra + 1);
                o += extra + 1;
                i += extra + 1; /* may step past end: the outer loop goes on from there */
            } else { /* a control character: a short escape or \u00XX */
                o += zenws_jstr_escape(o, c);
                i++;
            }
        }
    }
    *o++ = '"';
    return o - out;
}

/* One copy of the loop per (check, keys): the flags are tested once per string, not per
   byte or quote. */
static Py_ssize_t quote_plain(char *out, const uint8_t *s, Py_ssize_t k) {
    return quote(out, s, k, 0, 0, NULL);
}
static Py_ssize_t quote_checked(char *out, const uint8_t *s, Py_ssize_t k) {
    return quote(out, s, k, 1, 0, NULL);
}
static Py_ssize_t quote_keys(char *out, const uint8_t *s, Py_ssize_t k, zenws_keycache *kc) {
    Py_ssize_t r = quote(out, s, k, 0, 1, kc);
    return r >= 0 && zenws_text_suspicious(s, k) ? -2 : r;
}
static Py_ssize_t quote_checked_keys(char *out, const uint8_t *s, Py_ssize_t k,
                                     zenws_keycache *kc) {
    Py_ssize_t r = quote(out, s, k, 1, 1, kc);
    return r >= 0 && zenws_text_suspicious(s, k) ? -2 : r;
}

Py_ssize_t zenws_jstr_quote(char *out, const uint8_t *s, Py_ssize_t k, int check, int keys,
                            zenws_keycache *kc) {
    if (keys) return check ? quote_checked_keys(out, s, k, kc) : quote_keys(out, s, k, kc);
    return check ? quote_checked(out, s, k) : quote_plain(out, s, k);
}

/* ---- credential-looking keys, on their own -------------------------------------------- */

/* Bit i set when s[i] is '"' or '\\', for the 16 (or fewer, at the end) bytes at s. */
JS_INLINE unsigned zenws_special_mask(const uint8_t *s, Py_ssize_t left) {
    unsigned m = 0;
    Py_ssize_t i;
#if defined(JSTR_SSE2)
    if (left >= 16) {
        const __m128i v = _mm_loadu_si128((const __m128i *)s);
        return (unsigned)_mm_movemask_epi8(_mm_or_si128(
            _mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
    }
#endif
    if (left > 16)
        left = 16;
    for (i = 0; i < left; i++)
        m |= (unsigned)(s[i] == '"' || s[i] == '\\') << i;
    return m;
}

/* True if some JSON string followed by ':' (a key) looks credential-like, read as
   zenws_key_step() reads text, or zenws_text_suspicious(): False means nothing in the text
   needs redaction. */
int zenws_jstr_has_secret_key(const uint8_t *s, Py_ssize_t k) {
    Py_ssize_t base;
    zenws_keyscan st = {0, -1, -1, 0, 0};
    for (base = 0; base < k; base += 16) {
        unsigned m = zenws_special_mask(s + base, k - base);
        while (m) {
            Py_ssize_t pos = base + zenws_ctz32(m);
            m &= m - 1;
            if (zenws_key_step(&st, s, k, pos, NULL))
                return 1;
        }
    }
    return zenws_text_suspicious(s, k);
}

/* ---------------------------------------------------------------- unescaping */

Py_ssize_t zenws_jstr_unescape(const char *s, Py_ssize_t n, char *out, int strict,
                               const char **bad, int *wide) {
    const char *p = s, *e = s + n;
    char *o = out;
    while (p < e) {
        const char *b = (const char *)memchr(p, '\\', (size_t)(e - p));
        long u, lo;
        if (b == NULL) b = e;
        memcpy(o, p, (size_t)(b - p));
        o += b - p;
        p = b;
        if (p == e) break;
        if (e - p < 2) { /* a backslash at the very end: the scans never let one through */
            if (!strict) break;
            *bad = p;
            return ZENWS_JSTR_BAD_ESCAPE;
        }
        switch (p[1]) {
        case '"': *o++ = '"'; p += 2; continue;
        case '\\': *o++ = '\\'; p += 2; continue;
        case '/': *o++ = '/'; p += 2; continue;
        case 'b': *o++ = '\b'; p += 2; continue;
        case 'f': *o++ = '\f'; p += 2; continue;
        case 'n': *o++ = '\n'; p += 2; continue;
        case 'r': *o++ = '\r'; p += 2; continue;
        case 't': *o++ = '\t'; p += 2; continue;
        case 'u': break;
        default:
            if (strict) {
                *bad = p;
                return ZENWS_JSTR_BAD_ESCAPE;
            }
            *o++ = p[1];
            p += 2;
            continue;
        }
        if (e - p < 6 || (u = zenws_jstr_hex4(p + 2)) < 0) {
            if (!strict) break;
            *bad = p;
            return ZENWS_JSTR_BAD_U;
        }
        if (u >= 0xD800 && u <= 0xDFFF) {
            /* RFC 8259 §7: a non-BMP character is a UTF-16 surrogate pair */
            if (u <= 0xDBFF && e - p >= 12 && p[6] == '\\' && p[7] == 'u' &&
                (lo = zenws_jstr_hex4(p + 8)) >= 0xDC00 && lo <= 0xDFFF) {
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                p += 12;
            } else if (strict) {
                *bad = p;
                return ZENWS_JSTR_LONE_SURROGATE;
            } else {
                p += 6;
            }
        } else {
            p += 6;
        }
        if (u < 0x80) {
            *o++ = (char)u;
            continue;
        }
        *wide = 1;
        if (u < 0x800) {
            *o++ = (char)(0xC0 | (u >> 6));
        } else if (u < 0x10000) {
            *o++ = (char)(0xE0 | (u >> 12));
            *o++ = (char)(0x80 | ((u >> 6) & 0x3F));
        } else {
            *o++ = (char)(0xF0 | (u >> 18));
            *o++ = (char)(0x80 | ((u >> 12) & 0x3F));
            *o++ = (char)(0x80 | ((u >> 6) & 0x3F));
        }
        *o++ = (char)(0x80 | (u & 0x3F));
    }
    return o - out;
}
