/* zenws_cpu.h - the one CPU-feature detector and kernel-level policy of zenws.
 * No Python API here.
 *
 * Every SIMD kernel (mask, utf8, scan, json) asks this header which features
 * the CPU and OS offer and which level the environment allows.  Detection is
 * the same on every platform: CPUID + XGETBV on x86 (MSVC: __cpuid/__cpuidex/
 * _xgetbv; GCC/Clang: <cpuid.h> and the xgetbv instruction), so AVX/AVX-512
 * count only when the OS saves their register state.  NEON is part of the
 * AArch64 baseline.  The result is a pure function of the machine, so every
 * extension that includes this header sees the same view.
 *
 * Environment (read once, when a kernel first chooses):
 *   ZENWS_CPU=none|sse2|neon|avx2|avx512    caps the level every kernel picks
 *                                           on its own ("auto");
 *   ZENWS_KERNEL_<NAME>=<kernel>            forces one kernel of NAME (MASK,
 *                                           UTF8, SCAN, JSON) when this CPU
 *                                           runs it; ZENWS_<NAME>_KERNEL is
 *                                           the older spelling of the same.
 * An unknown or unsupported value is ignored (the kernel reports its choice). */
#ifndef ZENWS_CPU_H
#define ZENWS_CPU_H

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#  define ZENWS_CPU_X86 1
#  if defined(_MSC_VER) && !defined(__clang__)
#    include <intrin.h>
#  else
#    include <cpuid.h>
#  endif
#else
#  define ZENWS_CPU_X86 0
#endif

/* Feature bits of zenws_cpu_features(). */
#define ZENWS_CPU_SSE2 0x01u
#define ZENWS_CPU_SSE42 0x02u
#define ZENWS_CPU_AVX2 0x04u   /* AVX2 with YMM state saved by the OS */
#define ZENWS_CPU_AVX512 0x08u /* AVX-512 F+BW+VL+VBMI2 with ZMM state saved */
#define ZENWS_CPU_PCLMUL 0x10u
#define ZENWS_CPU_NEON 0x20u

/* Kernel levels, narrowest first; "none" is portable C. */
#define ZENWS_LEVEL_NONE 0
#define ZENWS_LEVEL_SSE2 1 /* and NEON */
#define ZENWS_LEVEL_AVX2 2
#define ZENWS_LEVEL_AVX512 3

#if defined(_MSC_VER) && !defined(__clang__)
#  define ZENWS_CPU_FN static __inline
#else
#  define ZENWS_CPU_FN static inline
#endif

#if ZENWS_CPU_X86
ZENWS_CPU_FN void zenws_cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
#  if defined(_MSC_VER) && !defined(__clang__)
    int q[4];
    __cpuidex(q, (int)leaf, (int)sub);
    r[0] = (unsigned)q[0], r[1] = (unsigned)q[1], r[2] = (unsigned)q[2], r[3] = (unsigned)q[3];
#  else
    if (!__get_cpuid_count(leaf, sub, &r[0], &r[1], &r[2], &r[3])) r[0] = r[1] = r[2] = r[3] = 0;
#  endif
}

ZENWS_CPU_FN unsigned long long zenws_xgetbv0(void) {
#  if defined(_MSC_VER) && !defined(__clang__)
    return (unsigned long long)_xgetbv(0);
#  else
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
#  endif
}
#endif

ZENWS_CPU_FN unsigned zenws_cpu_detect(void) {
    unsigned f = 0;
#if ZENWS_CPU_X86
    unsigned r[4], max;
    unsigned long long xcr0 = 0;
    zenws_cpuid(0, 0, r);
    max = r[0];
    if (max < 1) return 0;
    zenws_cpuid(1, 0, r);
    if ((r[3] >> 26) & 1) f |= ZENWS_CPU_SSE2;
    if ((r[2] >> 20) & 1) f |= ZENWS_CPU_SSE42;
    if ((r[2] >> 1) & 1) f |= ZENWS_CPU_PCLMUL;
    /* OSXSAVE (bit 27) and AVX (bit 28), then what the OS saves (XCR0) */
    if (((r[2] >> 27) & 3) == 3) xcr0 = zenws_xgetbv0();
    if (max >= 7 && (xcr0 & 6) == 6) {
        zenws_cpuid(7, 0, r);
        if ((r[1] >> 5) & 1) f |= ZENWS_CPU_AVX2;
        /* F (b16), BW (b30), VL (b31), VBMI2 (c6); opmask+ZMM state (XCR0 5-7) */
        if ((f & ZENWS_CPU_AVX2) && (xcr0 & 0xE0) == 0xE0 && ((r[1] >> 16) & 1) &&
            ((r[1] >> 30) & 3) == 3 && ((r[2] >> 6) & 1))
            f |= ZENWS_CPU_AVX512;
    }
#elif defined(__aarch64__) || defined(_M_ARM64)
    f |= ZENWS_CPU_NEON;
#endif
    return f;
}

/* The features of this CPU (detected once per extension; same everywhere). */
ZENWS_CPU_FN unsigned zenws_cpu_features(void) {
    static int done = 0;
    static unsigned features = 0;
    if (!done) {
        features = zenws_cpu_detect();
        done = 1;
    }
    return features;
}

/* Level of a kernel or level name; -1 if unknown. */
ZENWS_CPU_FN int zenws_cpu_level_of(const char *name) {
    if (name == NULL) return -1;
    if (!strcmp(name, "none") || !strcmp(name, "scalar") || !strcmp(name, "scalar64") ||
        !strcmp(name, "swar"))
        return ZENWS_LEVEL_NONE;
    if (!strcmp(name, "sse2") || !strcmp(name, "neon")) return ZENWS_LEVEL_SSE2;
    if (!strcmp(name, "avx2")) return ZENWS_LEVEL_AVX2;
    if (!strcmp(name, "avx512")) return ZENWS_LEVEL_AVX512;
    return -1;
}

/* The widest level ZENWS_CPU lets a kernel pick on its own. */
ZENWS_CPU_FN int zenws_cpu_cap(void) {
    const char *cap = getenv("ZENWS_CPU");
    int level = (cap && cap[0]) ? zenws_cpu_level_of(cap) : -1;
    return level < 0 ? ZENWS_LEVEL_AVX512 : level;
}

/* The kernel name the environment forces for `name` ("MASK", "UTF8", ...),
 * or NULL: ZENWS_KERNEL_<NAME>, else the older ZENWS_<NAME>_KERNEL. */
ZENWS_CPU_FN const char *zenws_cpu_forced(const char *name) {
    char var[48];
    const char *v;
    size_t n = strlen(name);
    if (n > 20) return NULL;
    memcpy(var, "ZENWS_KERNEL_", 13);
    memcpy(var + 13, name, n + 1);
    v = getenv(var);
    if (v && v[0]) return v;
    memcpy(var, "ZENWS_", 6);
    memcpy(var + 6, name, n);
    memcpy(var + 6 + n, "_KERNEL", 8);
    v = getenv(var);
    return (v && v[0]) ? v : NULL;
}

#endif /* ZENWS_CPU_H */
