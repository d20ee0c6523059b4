/* zenws_mask.c - RFC 6455 §5.3 masking kernels with runtime CPU dispatch.
 *
 * Built without any global -m flags (never -march=native): x86 SIMD kernels
 * are compiled per function with __attribute__((target(...))) and chosen at
 * run time from zenws_cpu.h (one CPUID/XGETBV detector for every kernel).  NEON is
 * part of the aarch64 baseline, so it needs no detection. */
#include "zenws_mask.h"
#include "zenws_compat.h"
#include "zenws_cpu.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#  define ZENWS_X86 1
#  if defined(_MSC_VER) && !defined(__clang__)
#    include <intrin.h>
#    include <immintrin.h>
#    define ZENWS_TARGET_AVX2
#    define ZENWS_TARGET_SSE2
#  else
#    include <immintrin.h>
#    define ZENWS_TARGET_AVX2 __attribute__((target("avx2")))
#    define ZENWS_TARGET_SSE2 __attribute__((target("sse2")))
#  endif
#endif

#if defined(__aarch64__) || defined(_M_ARM64)
#  define ZENWS_NEON 1
#  include <arm_neon.h>
#endif

typedef void (*zenws_mask_fn)(unsigned char *, size_t, const unsigned char *, size_t);

/* Byte-wise XOR for heads/tails; returns nothing, `phase` is the key index of p[0]. */
static inline void mask_bytes(unsigned char *p, size_t n, const unsigned char *key, size_t phase) {
    for (size_t i = 0; i < n; i++) p[i] ^= key[(phase + i) & 3];
}

/* The 4 key bytes as a native 32-bit word such that storing it in memory
 * gives key[phase], key[phase+1], ... (the order that applies at p[0]). */
static inline uint32_t rotated_key32(const unsigned char *key, size_t phase) {
    unsigned char rk[4];
    for (int j = 0; j < 4; j++) rk[j] = key[(phase + (size_t)j) & 3];
    uint32_t k;
    memcpy(&k, rk, 4);
    return k;
}

/* Mask `n` bytes starting at p (any alignment) 8 bytes at a time; `k32` already
 * rotated for p[0].  Finishes with a byte tail.  Shared by every kernel. */
static inline void mask_words64(unsigned char *p, size_t n, uint32_t k32, const unsigned char *key,
                                size_t phase) {
    uint64_t k64 = (uint64_t)k32 | ((uint64_t)k32 << 32);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        uint64_t a, b, c, d;
        memcpy(&a, p + i, 8); memcpy(&b, p + i + 8, 8);
        memcpy(&c, p + i + 16, 8); memcpy(&d, p + i + 24, 8);
        a ^= k64; b ^= k64; c ^= k64; d ^= k64;
        memcpy(p + i, &a, 8); memcpy(p + i + 8, &b, 8);
        memcpy(p + i + 16, &c, 8); memcpy(p + i + 24, &d, 8);
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        v ^= k64;
        memcpy(p + i, &v, 8);
    }
    /* i is a multiple of 4 from here on the key side, so phase + i keeps the rotation */
    mask_bytes(p + i, n - i, key, phase + i);
}

/* Align p up to `align` bytes byte-wise; returns how many bytes were done. */
static inline size_t mask_head(unsigned char *p, size_t n, const unsigned char *key, size_t phase,
                               size_t align) {
    size_t head = (size_t)((align - ((uintptr_t)p & (align - 1))) & (align - 1));
    if (head > n) head = n;
    mask_bytes(p, head, key, phase);
    return head;
}

static void mask_scalar64(unsigned char *p, size_t n, const unsigned char *key, size_t phase) {
    size_t i = 0;
    if (n >= 16) i = mask_head(p, n, key, phase, 8);
    mask_words64(p + i, n - i, rotated_key32(key, phase + i), key, phase + i);
}

#ifdef ZENWS_X86
ZENWS_TARGET_SSE2
static void mask_sse2(unsigned char *p, size_t n, const unsigned char *key, size_t phase) {
    size_t i = 0;
    if (n >= 64) i = mask_head(p, n, key, phase, 16);
    uint32_t k32 = rotated_key32(key, phase + i);
    __m128i k = _mm_set1_epi32((int)k32);
    for (; i + 64 <= n; i += 64) {
        __m128i a = _mm_load_si128((const __m128i *)(p + i));
        __m128i b = _mm_load_si128((const __m128i *)(p + i + 16));
        __m128i c = _mm_load_si128((const __m128i *)(p + i + 32));
        __m128i d = _mm_load_si128((const __m128i *)(p + i + 48));
        _mm_store_si128((__m128i *)(p + i), _mm_xor_si128(a, k));
        _mm_store_si128((__m128i *)(p + i + 16), _mm_xor_si128(b, k));
        _mm_store_si128((__m128i *)(p + i + 32), _mm_xor_si128(c, k));
        _mm_store_si128((__m128i *)(p + i + 48), _mm_xor_si128(d, k));
    }
    for (; i + 16 <= n; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(p + i));
        _mm_storeu_si128((__m128i *)(p + i), _mm_xor_si128(a, k));
    }
    mask_words64(p + i, n - i, k32, key, phase + i);
}

ZENWS_TARGET_AVX2
static void mask_avx2(unsigned char *p, size_t n, const unsigned char *key, size_t phase) {
    size_t i = 0;
    if (n >= 128) i = mask_head(p, n, key, phase, 32);
    uint32_t k32 = rotated_key32(key, phase + i);
    __m256i k = _mm256_set1_epi32((int)k32);
    for (; i + 128 <= n; i += 128) {
        __m256i a = _mm256_load_si256((const __m256i *)(p + i));
        __m256i b = _mm256_load_si256((const __m256i *)(p + i + 32));
        __m256i c = _mm256_load_si256((const __m256i *)(p + i + 64));
        __m256i d = _mm256_load_si256((const __m256i *)(p + i + 96));
        _mm256_store_si256((__m256i *)(p + i), _mm256_xor_si256(a, k));
        _mm256_store_si256((__m256i *)(p + i + 32), _mm256_xor_si256(b, k));
        _mm256_store_si256((__m256i *)(p + i + 64), _mm256_xor_si256(c, k));
        _mm256_store_si256((__m256i *)(p + i + 96), _mm256_xor_si256(d, k));
    }
    for (; i + 32 <= n; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(p + i));
        _mm256_storeu_si256((__m256i *)(p + i), _mm256_xor_si256(a, k));
    }
    /* Leave AVX state clean before the scalar tail (avoids SSE transition stalls). */
    _mm256_zeroupper();
    mask_words64(p + i, n - i, k32, key, phase + i);
}
#endif /* ZENWS_X86 */

#ifdef ZENWS_NEON
static void mask_neon(unsigned char *p, size_t n, const unsigned char *key, size_t phase) {
    size_t i = 0;
    uint32_t k32 = rotated_key32(key, phase);
    uint8x16_t k = vreinterpretq_u8_u32(vdupq_n_u32(k32));
    for (; i + 64 <= n; i += 64) {
        uint8x16_t a = vld1q_u8(p + i), b = vld1q_u8(p + i + 16);
        uint8x16_t c = vld1q_u8(p + i + 32), d = vld1q_u8(p + i + 48);
        vst1q_u8(p + i, veorq_u8(a, k));
        vst1q_u8(p + i + 16, veorq_u8(b, k));
        vst1q_u8(p + i + 32, veorq_u8(c, k));
        vst1q_u8(p + i + 48, veorq_u8(d, k));
    }
    for (; i + 16 <= n; i += 16) vst1q_u8(p + i, veorq_u8(vld1q_u8(p + i), k));
    mask_words64(p + i, n - i, k32, key, phase + i);
}
#endif

/* ---- runtime detection: zenws_cpu.h ---- */

static const char *const kernel_names[ZENWS_MASK_NKERNELS] = {"scalar64", "sse2", "avx2", "neon"};
static int current_kernel = -1;
static zenws_mask_fn current_fn = mask_scalar64;

static zenws_mask_fn kernel_fn(int k) {
    switch (k) {
#ifdef ZENWS_X86
    case ZENWS_MASK_SSE2: return mask_sse2;
    case ZENWS_MASK_AVX2: return mask_avx2;
#endif
#ifdef ZENWS_NEON
    case ZENWS_MASK_NEON: return mask_neon;
#endif
    default: return mask_scalar64;
    }
}

int zenws_mask_available(int k) {
    switch (k) {
    case ZENWS_MASK_SCALAR64: return 1;
#ifdef ZENWS_X86
    case ZENWS_MASK_SSE2: return (zenws_cpu_features() & ZENWS_CPU_SSE2) != 0;
    case ZENWS_MASK_AVX2: return (zenws_cpu_features() & ZENWS_CPU_AVX2) != 0;
#endif
#ifdef ZENWS_NEON
    case ZENWS_MASK_NEON: return 1;
#endif
    default: return 0;
    }
}

const char *zenws_mask_kernel_name(int k) {
    return (k >= 0 && k < ZENWS_MASK_NKERNELS) ? kernel_names[k] : NULL;
}

static int best_kernel(void) {
    static const int order[] = {ZENWS_MASK_AVX2, ZENWS_MASK_NEON, ZENWS_MASK_SSE2};
    const int cap = zenws_cpu_cap();
    for (size_t j = 0; j < sizeof(order) / sizeof(order[0]); j++)
        if (zenws_cpu_level_of(kernel_names[order[j]]) <= cap && zenws_mask_available(order[j]))
            return order[j];
    return ZENWS_MASK_SCALAR64;
}

int zenws_mask_init(const char *forced) {
    int k = best_kernel(), rc = 0;
    if (forced == NULL) forced = zenws_cpu_forced("MASK");
    if (forced != NULL && forced[0] != '\0') {
        rc = -1;
        for (int j = 0; j < ZENWS_MASK_NKERNELS; j++) {
            if (strcmp(forced, kernel_names[j]) == 0 && zenws_mask_available(j)) {
                k = j;
                rc = 0;
                break;
            }
        }
    }
    current_kernel = k;
    current_fn = kernel_fn(k);
    return rc;
}

int zenws_mask_current(void) {
    if (current_kernel < 0) zenws_mask_init(NULL);
    return current_kernel;
}

void zenws_mask(unsigned char *data, size_t len, const unsigned char key[4], size_t phase) {
    /* Short payloads (most control frames, small JSON) skip the indirect call. */
    if (len < 16) {
        mask_bytes(data, len, key, phase);
        return;
    }
    current_fn(data, len, key, phase & 3);
}

void zenws_mask_with(int kernel, unsigned char *data, size_t len, const unsigned char key[4],
                     size_t phase) {
    if (!zenws_mask_available(kernel)) kernel = ZENWS_MASK_SCALAR64;
    kernel_fn(kernel)(data, len, key, phase & 3);
}
