/* Hot loops of zenws.fast.jsonl (the session recorder): SPSC arena atomics, write(2),
 * JSON string escaping and the credential-key scan.
 *
 * Header-only (static inline) so that jsonl.pyx needs no extra C source. The SIMD paths
 * (SSE2 on x86-64, NEON on AArch64) and the portable 8-byte SWAR path give identical
 * results; the escape rules are orjson's (RFC 8259 section 7).
 */
#ifndef ZENWS_JSONL_H
#define ZENWS_JSONL_H

/* Include after Python.h (Py_ssize_t). */

#include <stdint.h>
#include <string.h>

#include "zenws_compat.h"  /* zenws_ctz32 */
#include "zenws_jstr.h"    /* the shared JSON string escapes */

#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#include <io.h>
#define ZENWS_JL_INLINE static __inline
#else
#include <unistd.h>
#define ZENWS_JL_INLINE static inline
#endif

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#define ZENWS_JL_SSE2 1
#elif defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#define ZENWS_JL_NEON 1
#endif

/* ---- single-producer / single-consumer positions ------------------------------------- */

#if defined(_MSC_VER) && !defined(__clang__)
/* x64 MSVC: aligned 64-bit volatile accesses are atomic and, with /volatile:ms (the x64
   default), have acquire/release semantics; the barrier stops compiler reordering. */
ZENWS_JL_INLINE uint64_t zenws_load_acquire(const uint64_t *p) {
    uint64_t v = *(volatile const uint64_t *)p;
    _ReadWriteBarrier();
    return v;
}
ZENWS_JL_INLINE void zenws_store_release(uint64_t *p, uint64_t v) {
    _ReadWriteBarrier();
    *(volatile uint64_t *)p = v;
}
ZENWS_JL_INLINE Py_ssize_t zenws_write(int fd, const char *p, Py_ssize_t n) {
    return _write(fd, p, (unsigned int)(n > 0x40000000 ? 0x40000000 : n));
}
ZENWS_JL_INLINE void zenws_store_seqcst(uint64_t *p, uint64_t v) {
    (void)_InterlockedExchange64((volatile __int64 *)p, (__int64)v);
}
ZENWS_JL_INLINE uint64_t zenws_exchange(uint64_t *p, uint64_t v) {
    return (uint64_t)_InterlockedExchange64((volatile __int64 *)p, (__int64)v);
}
#else
ZENWS_JL_INLINE uint64_t zenws_load_acquire(const uint64_t *p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
ZENWS_JL_INLINE void zenws_store_release(uint64_t *p, uint64_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
ZENWS_JL_INLINE Py_ssize_t zenws_write(int fd, const char *p, Py_ssize_t n) {
    return (Py_ssize_t)write(fd, p, (size_t)(n > 0x40000000 ? 0x40000000 : n));
}
/* sequentially consistent: a store followed by a load of another flag (the sleep/wake
   handshake) must not be reordered */
ZENWS_JL_INLINE void zenws_store_seqcst(uint64_t *p, uint64_t v) {
    __atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}
ZENWS_JL_INLINE uint64_t zenws_exchange(uint64_t *p, uint64_t v) {
    return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}
#endif

/* ---- credential-looking JSON keys ----------------------------------------------------- */

/* k[1:m] == needle[1:m], ASCII case folded (k[0] already matched). "| 0x20" folds exactly the
   two cases of a letter, and every needle is lowercase letters. */
ZENWS_JL_INLINE int zenws_tail_is(const uint8_t *k, Py_ssize_t rem, const char *needle,
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
ZENWS_JL_INLINE int zenws_suspicious_key(const uint8_t *k, Py_ssize_t n, Py_ssize_t avail) {
    Py_ssize_t i, rem;
#if defined(ZENWS_JL_SSE2)
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
#define ZENWS_KC_SLOTS 64
typedef struct {
    uint8_t key[ZENWS_KC_SLOTS][16];
    uint8_t len[ZENWS_KC_SLOTS];
} zenws_keycache;

#if defined(ZENWS_JL_SSE2)
ZENWS_JL_INLINE __m128i zenws_key_block(const uint8_t *k, Py_ssize_t n, Py_ssize_t avail) {
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

ZENWS_JL_INLINE unsigned zenws_kc_slot(__m128i v, Py_ssize_t n) {
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
    int in_str;
    int slash;           /* the open string contains a backslash */
} zenws_keyscan;

/* Is the key s[0:n] (avail bytes readable from s) credential-looking? Through kc if given. */
ZENWS_JL_INLINE int zenws_key_flagged(zenws_keycache *kc, const uint8_t *s, Py_ssize_t n,
                                      Py_ssize_t avail) {
#if defined(ZENWS_JL_SSE2)
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
ZENWS_JL_INLINE int zenws_key_step(zenws_keyscan *st, const uint8_t *s, Py_ssize_t k,
                                   Py_ssize_t pos, zenws_keycache *kc) {
    Py_ssize_t p;
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
        return 0;
    }
    st->in_str = 0;
    p = pos + 1;
    while (p < k && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r'))
        p++;
    return p < k && s[p] == ':' &&
           (st->slash || zenws_key_flagged(kc, s + st->start, pos - st->start, k - st->start));
}

/* ---- JSON string escaping ------------------------------------------------------------- */

/* No byte of x is >= 0x80, < 0x20, '"' or '\\' (SWAR "haszero" tricks). */
ZENWS_JL_INLINE int zenws_plain8(uint64_t x) {
    return ((x & ZENWS_JSTR_HIGH) | zenws_jstr_stop8(x)) == 0;
}

/* s[0:k] as a quoted JSON string at out, escaped as orjson does. With check, multi-byte
   sequences are validated (RFC 3629 section 4: no overlongs, surrogates or code points above
   U+10FFFF). With keys, the text is also read for credential-looking keys in the same pass,
   exactly as zenws_has_secret_key() reads it. Returns the bytes written, -1 for invalid UTF-8,
   -2 for a suspicious key (kc: a key cache owned by the caller, or NULL). out must have room
   for 6 * k + 18 bytes (16-byte stores may run
   past the last byte written). */
ZENWS_JL_INLINE Py_ssize_t zenws_json_string(char *out, const uint8_t *s, Py_ssize_t k,
                                             int check, int keys, zenws_keycache *kc) {
    char *o = out;
    Py_ssize_t i = 0, end, extra, j;
    uint8_t c, c1;
    uint64_t x;
    zenws_keyscan st = {0, -1, 0, 0};
    *o++ = '"';
    while (i < k) {
        end = k;
#if defined(ZENWS_JL_SSE2)
        if (i + 16 <= k) {
            const __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
            unsigned qm = (unsigned)_mm_movemask_epi8(
                _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                             _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
            /* signed compare: 0x00-0x1F and 0x80-0xFF are both "less than 0x20" */
            unsigned om = (unsigned)_mm_movemask_epi8(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
            if (!(qm | om)) {
                _mm_storeu_si128((__m128i *)o, v);
                o += 16;
                i += 16;
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
#elif defined(ZENWS_JL_NEON)
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

/* ---- credential-looking keys, on their own -------------------------------------------- */

/* Bit i set when s[i] is '"' or '\\', for the 16 (or fewer, at the end) bytes at s. */
ZENWS_JL_INLINE unsigned zenws_special_mask(const uint8_t *s, Py_ssize_t left) {
    unsigned m = 0;
    Py_ssize_t i;
#if defined(ZENWS_JL_SSE2)
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
   zenws_key_step() reads text. False means no key needs redaction. */
ZENWS_JL_INLINE int zenws_has_secret_key(const uint8_t *s, Py_ssize_t k) {
    Py_ssize_t base;
    zenws_keyscan st = {0, -1, 0, 0};
    for (base = 0; base < k; base += 16) {
        unsigned m = zenws_special_mask(s + base, k - base);
        while (m) {
            Py_ssize_t pos = base + zenws_ctz32(m);
            m &= m - 1;
            if (zenws_key_step(&st, s, k, pos, NULL))
                return 1;
        }
    }
    return 0;
}

#endif /* ZENWS_JSONL_H */
