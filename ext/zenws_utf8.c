/* zenws_utf8.c - incremental UTF-8 validator: ASCII fast path + byte-class DFA.
 *
 * Byte classes (Unicode 15, Table 3-7 "Well-Formed UTF-8 Byte Sequences"):
 *   0: 00..7F  1: 80..8F  2: 90..9F  3: A0..BF  4: C0 C1 F5..FF (never valid)
 *   5: C2..DF  6: E0  7: E1..EC EE EF  8: ED  9: F0  10: F1..F3  11: F4
 * States:
 *   0 accept, 1/2/3 need 1/2/3 continuation bytes (80..BF),
 *   4 after E0 (next A0..BF), 5 after ED (next 80..9F, no surrogates),
 *   6 after F0 (next 90..BF), 7 after F4 (next 80..8F, <= U+10FFFF), 8 reject.
 * Each restricted second byte is what makes overlongs/surrogates/out-of-range
 * fail at that byte rather than at the end of the sequence. */
#include "zenws_utf8.h"
#include "zenws_compat.h"
#include "zenws_cpu.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t byte_class[256] = {
    /* 00..7F */
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    /* 80..8F */ 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    /* 90..9F */ 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
    /* A0..BF */ 3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3, 3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,
    /* C0..DF */ 4,4,5,5,5,5,5,5,5,5,5,5,5,5,5,5, 5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,
    /* E0..EF */ 6,7,7,7,7,7,7,7,7,7,7,7,7,8,7,7,
    /* F0..FF */ 9,10,10,10,11,4,4,4,4,4,4,4,4,4,4,4,
};

#define R ZENWS_UTF8_REJECT
static const uint8_t transition[9][12] = {
    /*         00  80  90  A0  bad C2  E0  E1  ED  F0  F1  F4 */
    /* 0 */  { 0,  R,  R,  R,  R,  1,  4,  2,  5,  6,  3,  7 },
    /* 1 */  { R,  0,  0,  0,  R,  R,  R,  R,  R,  R,  R,  R },
    /* 2 */  { R,  1,  1,  1,  R,  R,  R,  R,  R,  R,  R,  R },
    /* 3 */  { R,  2,  2,  2,  R,  R,  R,  R,  R,  R,  R,  R },
    /* 4 */  { R,  R,  R,  1,  R,  R,  R,  R,  R,  R,  R,  R },
    /* 5 */  { R,  1,  1,  R,  R,  R,  R,  R,  R,  R,  R,  R },
    /* 6 */  { R,  R,  2,  2,  R,  R,  R,  R,  R,  R,  R,  R },
    /* 7 */  { R,  2,  R,  R,  R,  R,  R,  R,  R,  R,  R,  R },
    /* 8 */  { R,  R,  R,  R,  R,  R,  R,  R,  R,  R,  R,  R },
};
#undef R

#define ZENWS_HIGH_BITS 0x8080808080808080ULL

/* ---- ASCII fast path kernels, chosen at run time (ZENWS_UTF8_KERNEL forces one) ----
 * Each returns the index of the first byte >= 0x80 in p[i..n), or n.  SIMD
 * versions are built per function with target attributes (never -mavx2) and
 * called only after zenws_cpu_features() said yes. */

#if defined(__x86_64__) || defined(_M_X64)
#  include <emmintrin.h>
#  define UTF8_SSE2 1
#else
#  define UTF8_SSE2 0
#endif
#if UTF8_SSE2 && (defined(__GNUC__) || defined(__clang__))
#  include <immintrin.h>
#  define UTF8_AVX2 1
#else
#  define UTF8_AVX2 0
#endif

#define UTF8_K_SWAR 0
#define UTF8_K_SSE2 1
#define UTF8_K_AVX2 2

/* Portable: 16 then 8 bytes at a time while no high bit is set. */
ZENWS_INLINE size_t ascii_swar(const unsigned char *p, size_t i, size_t n) {
    while (i + 16 <= n) {
        uint64_t a, b;
        memcpy(&a, p + i, 8);
        memcpy(&b, p + i + 8, 8);
        if ((a | b) & ZENWS_HIGH_BITS) break;
        i += 16;
    }
    while (i + 8 <= n) {
        uint64_t a;
        memcpy(&a, p + i, 8);
        if (a & ZENWS_HIGH_BITS) break;
        i += 8;
    }
    while (i < n && p[i] < 0x80) i++;
    return i;
}

#if UTF8_SSE2
/* SSE2: the high bits of 16 bytes are one movemask. */
ZENWS_INLINE size_t ascii_sse2(const unsigned char *p, size_t i, size_t n) {
    unsigned int m;
    while (i + 16 <= n) {
        m = (unsigned int)_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + i)));
        if (m) return i + zenws_ctz32(m);
        i += 16;
    }
    if (i < n && n >= 16) {
        /* The 16 bytes that end at n; the first 16 - (n - i) were checked. */
        m = (unsigned int)_mm_movemask_epi8(
                _mm_loadu_si128((const __m128i *)(const void *)(p + n - 16))) >> (16 - (n - i));
        return m ? i + zenws_ctz32(m) : n;
    }
    while (i < n && p[i] < 0x80) i++;
    return i;
}
#endif

#if UTF8_AVX2
/* AVX2: 128 bytes per iteration (four loads OR-ed, one VPTEST of the high
 * bits); the exact position comes from the SSE2 loop. */
__attribute__((target("avx2"))) static size_t ascii_avx2(const unsigned char *p, size_t i,
                                                          size_t n) {
    const __m256i high = _mm256_set1_epi8((char)0x80);
    while (i + 128 <= n) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(p + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(p + i + 32));
        __m256i c = _mm256_loadu_si256((const __m256i *)(const void *)(p + i + 64));
        __m256i d = _mm256_loadu_si256((const __m256i *)(const void *)(p + i + 96));
        if (!_mm256_testz_si256(_mm256_or_si256(_mm256_or_si256(a, b), _mm256_or_si256(c, d)),
                                high))
            break;
        i += 128;
    }
    while (i + 32 <= n) {
        unsigned int m = (unsigned int)_mm256_movemask_epi8(
            _mm256_loadu_si256((const __m256i *)(const void *)(p + i)));
        if (m) return i + zenws_ctz32(m);
        i += 32;
    }
    return ascii_sse2(p, i, n);
}
#endif

/* The kernel in use.  GCC/Clang choose it when the module is loaded (a
 * constructor: no per-call test); elsewhere it is chosen on first use. */
#if defined(__GNUC__) || defined(__clang__)
#  define UTF8_CHOOSE_AT_LOAD 1
static int utf8_kernel = UTF8_SSE2 ? UTF8_K_SSE2 : UTF8_K_SWAR;
#else
#  define UTF8_CHOOSE_AT_LOAD 0
static int utf8_kernel = -1;
#endif
static const char *const utf8_kernel_names[3] = {"swar", "sse2", "avx2"};

static int utf8_supported(int k) {
    if (k == UTF8_K_SWAR) return 1;
    if (k == UTF8_K_SSE2) return UTF8_SSE2;
#if UTF8_AVX2
    if (k == UTF8_K_AVX2) return (zenws_cpu_features() & ZENWS_CPU_AVX2) != 0;
#endif
    return 0;
}

static void utf8_choose(void) {
    const char *want = zenws_cpu_forced("UTF8");
    const int cap = zenws_cpu_cap();
    int k;
    if (want != NULL && strcmp(want, "auto") != 0 && zenws_utf8_set_kernel(want) == 0) return;
    for (k = UTF8_K_AVX2; k > UTF8_K_SWAR; k--)
        if (zenws_cpu_level_of(utf8_kernel_names[k]) <= cap && utf8_supported(k)) break;
    utf8_kernel = k;
}

#if UTF8_CHOOSE_AT_LOAD
__attribute__((constructor)) static void utf8_choose_at_load(void) { utf8_choose(); }
#endif

const char *zenws_utf8_kernel(void) {
    if (utf8_kernel < 0) utf8_choose();
    return utf8_kernel_names[utf8_kernel];
}

int zenws_utf8_set_kernel(const char *name) {
    int k;
    if (name == NULL) return -1;
    if (strcmp(name, "auto") == 0) {
        utf8_choose();
        return 0;
    }
    for (k = 0; k < 3; k++) {
        if (strcmp(name, utf8_kernel_names[k]) == 0 && utf8_supported(k)) {
            utf8_kernel = k;
            return 0;
        }
    }
    return -1;
}

/* The AVX2 loop pays off from a few hundred bytes on; shorter runs (most
 * control and small text frames) take the SSE2 loop. */
#define UTF8_AVX2_MIN 256

ZENWS_INLINE size_t ascii_skip(const unsigned char *p, size_t i, size_t n, const int kernel) {
#if UTF8_AVX2
    if (kernel == UTF8_K_AVX2 && n - i >= UTF8_AVX2_MIN) return ascii_avx2(p, i, n);
#endif
#if UTF8_SSE2
    if (kernel != UTF8_K_SWAR) return ascii_sse2(p, i, n);
#endif
    (void)kernel;
    return ascii_swar(p, i, n);
}

/* The DFA from p[i] on (i < n), with the ASCII fast path of `kernel` whenever
 * the state returns to ACCEPT. */
ZENWS_INLINE uint32_t feed_dfa(uint32_t state, const unsigned char *p, size_t i, size_t n,
                               size_t *bad, const int kernel) {
    while (i < n) {
        if (state == ZENWS_UTF8_ACCEPT) {
            i = ascii_skip(p, i, n, kernel);
            if (i == n) break;
        }
        state = transition[state][byte_class[p[i]]];
        if (ZENWS_UNLIKELY(state == ZENWS_UTF8_REJECT)) {
            if (bad) *bad = i;
            return state;
        }
        i++;
    }
    return state;
}

/* One copy per kernel (`kernel` is a constant in each). */
static uint32_t feed_dfa_swar(uint32_t state, const unsigned char *p, size_t i, size_t n,
                              size_t *bad) {
    return feed_dfa(state, p, i, n, bad, UTF8_K_SWAR);
}

#if UTF8_SSE2
static uint32_t feed_dfa_sse2(uint32_t state, const unsigned char *p, size_t i, size_t n,
                              size_t *bad) {
    return feed_dfa(state, p, i, n, bad, UTF8_K_SSE2);
}
#endif

#if UTF8_AVX2
static uint32_t feed_dfa_avx2(uint32_t state, const unsigned char *p, size_t i, size_t n,
                              size_t *bad) {
    return feed_dfa(state, p, i, n, bad, UTF8_K_AVX2);
}
#endif

uint32_t zenws_utf8_feed(uint32_t state, const unsigned char *p, size_t n, size_t *bad) {
    if (state >= ZENWS_UTF8_REJECT) {
        if (bad) *bad = 0;
        return ZENWS_UTF8_REJECT;
    }
#if !UTF8_CHOOSE_AT_LOAD
    if (ZENWS_UNLIKELY(utf8_kernel < 0)) utf8_choose();
#endif
#if UTF8_AVX2
    if (n >= UTF8_AVX2_MIN && utf8_kernel == UTF8_K_AVX2) return feed_dfa_avx2(state, p, 0, n, bad);
#endif
#if UTF8_SSE2
    if (ZENWS_LIKELY(utf8_kernel != UTF8_K_SWAR)) {
        /* Short all-ASCII input (the common text frame) never leaves this
         * leaf: the DFA is a tail call for the rest. */
        size_t i = 0;
        if (state == ZENWS_UTF8_ACCEPT) {
            i = ascii_sse2(p, 0, n);
            if (i == n) return ZENWS_UTF8_ACCEPT;
        }
        return feed_dfa_sse2(state, p, i, n, bad);
    }
#endif
    return feed_dfa_swar(state, p, 0, n, bad);
}

int zenws_utf8_valid(const unsigned char *p, size_t n) {
    return zenws_utf8_feed(ZENWS_UTF8_ACCEPT, p, n, NULL) == ZENWS_UTF8_ACCEPT;
}
