/* zenws_compat.h - portability helpers shared by the zenws C kernels and
 * Cython modules: monotonic clock in nanoseconds, byte order, branch hints,
 * debug counters that compile away.  No Python API here. */
#ifndef ZENWS_COMPAT_H
#define ZENWS_COMPAT_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#  define ZENWS_LIKELY(x)   __builtin_expect(!!(x), 1)
#  define ZENWS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#  define ZENWS_INLINE      static inline __attribute__((always_inline))
#else
#  define ZENWS_LIKELY(x)   (x)
#  define ZENWS_UNLIKELY(x) (x)
#  define ZENWS_INLINE      static __inline
#endif

/* ---- monotonic clock (same clock as time.monotonic_ns() on each OS) ---- */
#if defined(_WIN32)
#  define WIN32_LEAN_AND_MEAN
#  include <windows.h>
static inline int64_t zenws_monotonic_ns(void) {
    static LARGE_INTEGER freq;
    LARGE_INTEGER now;
    if (freq.QuadPart == 0) QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&now);
    return (int64_t)((double)now.QuadPart * 1e9 / (double)freq.QuadPart);
}
#elif defined(__APPLE__)
#  include <time.h>
static inline int64_t zenws_monotonic_ns(void) {
    return (int64_t)clock_gettime_nsec_np(CLOCK_UPTIME_RAW);
}
#else
#  include <time.h>
static inline int64_t zenws_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + (int64_t)ts.tv_nsec;
}
#endif

/* ---- byte order ---- */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#  define ZENWS_BIG_ENDIAN 1
#else
#  define ZENWS_BIG_ENDIAN 0
#endif

#if defined(_MSC_VER)
#  include <stdlib.h>
#  define zenws_bswap16 _byteswap_ushort
#  define zenws_bswap64 _byteswap_uint64
#else
#  define zenws_bswap16 __builtin_bswap16
#  define zenws_bswap64 __builtin_bswap64
#endif

/* network (big-endian) <-> host */
static inline uint16_t zenws_load_be16(const unsigned char *p) {
    uint16_t v; memcpy(&v, p, 2);
    return ZENWS_BIG_ENDIAN ? v : zenws_bswap16(v);
}
static inline uint64_t zenws_load_be64(const unsigned char *p) {
    uint64_t v; memcpy(&v, p, 8);
    return ZENWS_BIG_ENDIAN ? v : zenws_bswap64(v);
}
static inline void zenws_store_be16(unsigned char *p, uint16_t v) {
    if (!ZENWS_BIG_ENDIAN) v = zenws_bswap16(v);
    memcpy(p, &v, 2);
}
static inline void zenws_store_be64(unsigned char *p, uint64_t v) {
    if (!ZENWS_BIG_ENDIAN) v = zenws_bswap64(v);
    memcpy(p, &v, 8);
}

/* index of the lowest set bit of a non-zero 32-/64-bit mask (SIMD and SWAR match masks) */
#if defined(_MSC_VER) && !defined(__clang__)
#  include <intrin.h>
static inline int zenws_ctz32(unsigned int x) {
    unsigned long i;
    _BitScanForward(&i, x);
    return (int)i;
}
static inline int zenws_ctz64(unsigned long long x) {
    unsigned long i;
    _BitScanForward64(&i, x);
    return (int)i;
}
#else
#  define zenws_ctz32(x) __builtin_ctz(x)
#  define zenws_ctz64(x) __builtin_ctzll(x)
#endif

/* ---- debug-only counters: vanish unless built with ZENWS_DEBUG=1 ---- */
#ifdef ZENWS_DEBUG
#  define ZENWS_DEBUG_INC(counter) ((counter)++)
#else
#  define ZENWS_DEBUG_INC(counter) ((void)0)
#endif

#endif /* ZENWS_COMPAT_H */
