/* zenws_cpu.c - the CPU-feature detector and kernel dispatcher (zenws_cpu.h).
 *
 * Compiled into zenws.fast.frame only.  Detection is the same code on every
 * platform: CPUID + XGETBV on x86 (MSVC: __cpuidex/_xgetbv from <intrin.h>;
 * GCC/Clang: __get_cpuid_count from <cpuid.h> and the xgetbv instruction), so
 * AVX/AVX-512 count only when the OS saves their register state.  NEON is part
 * of the AArch64 baseline. */
#include "zenws_cpu.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#  define CPU_X86 1
#  if defined(_MSC_VER) && !defined(__clang__)
#    include <intrin.h>
#    define CPU_MSVC 1
#  else
#    include <cpuid.h>
#    define CPU_MSVC 0
#  endif
#else
#  define CPU_X86 0
#endif

#if CPU_X86
static void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
#  if CPU_MSVC
    int q[4];
    __cpuidex(q, (int)leaf, (int)sub);
    r[0] = (unsigned)q[0], r[1] = (unsigned)q[1], r[2] = (unsigned)q[2], r[3] = (unsigned)q[3];
#  else
    if (!__get_cpuid_count(leaf, sub, &r[0], &r[1], &r[2], &r[3])) r[0] = r[1] = r[2] = r[3] = 0;
#  endif
}

static unsigned long long xgetbv0(void) {
#  if CPU_MSVC
    return (unsigned long long)_xgetbv(0);
#  else
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
#  endif
}
#endif

static unsigned detect(void) {
    unsigned f = 0;
#if CPU_X86
    unsigned r[4], max;
    unsigned long long xcr0 = 0;
    cpuid(0, 0, r);
    max = r[0];
    if (max < 1) return 0;
    cpuid(1, 0, r);
    if ((r[3] >> 26) & 1) f |= ZENWS_CPU_SSE2;
    if ((r[2] >> 20) & 1) f |= ZENWS_CPU_SSE42;
    if ((r[2] >> 1) & 1) f |= ZENWS_CPU_PCLMUL;
    /* OSXSAVE (bit 27) and AVX (bit 28), then what the OS saves (XCR0) */
    if (((r[2] >> 27) & 3) == 3) xcr0 = xgetbv0();
    if (max >= 7 && (xcr0 & 6) == 6) {
        cpuid(7, 0, r);
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

/* ---- what the environment said (for build_info) ---- */

#define ENV_SLOTS 12
static struct {
    char var[48];
    char value[24];
} env_read[ENV_SLOTS];
static int env_count;

/* dst = src, cut to size - 1 bytes. */
static void copy_cut(char *dst, const char *src, size_t size) {
    size_t n = strlen(src);
    if (n > size - 1) n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Remember var=value (the first value read of each variable; a long value cut). */
static void note_env(const char *var, const char *value) {
    int i;
    for (i = 0; i < env_count; i++)
        if (!strcmp(env_read[i].var, var)) return;
    if (env_count == ENV_SLOTS) return;
    copy_cut(env_read[env_count].var, var, sizeof(env_read[0].var));
    copy_cut(env_read[env_count].value, value, sizeof(env_read[0].value));
    env_count++;
}

int zenws_cpu_env(int i, const char **var, const char **value) {
    if (i < 0 || i >= env_count) return 0;
    *var = env_read[i].var;
    *value = env_read[i].value;
    return 1;
}

/* ---- the dispatcher ---- */

unsigned zenws_cpu_features(void) {
    static int done = 0;
    static unsigned features = 0;
    if (!done) {
        features = detect();
        done = 1;
    }
    return features;
}

int zenws_cpu_level_of(const char *name) {
    if (name == NULL) return -1;
    if (!strcmp(name, "none") || !strcmp(name, "scalar") || !strcmp(name, "scalar64") ||
        !strcmp(name, "swar"))
        return ZENWS_LEVEL_NONE;
    if (!strcmp(name, "sse2") || !strcmp(name, "neon")) return ZENWS_LEVEL_SSE2;
    if (!strcmp(name, "avx2")) return ZENWS_LEVEL_AVX2;
    if (!strcmp(name, "avx512")) return ZENWS_LEVEL_AVX512;
    return -1;
}

int zenws_cpu_cap(void) {
    static int cap = -2; /* -2: not read yet */
    if (cap == -2) {
        const char *v = getenv("ZENWS_CPU");
        int level = (v && v[0]) ? zenws_cpu_level_of(v) : -1;
        if (v && v[0]) note_env("ZENWS_CPU", v);
        cap = level < 0 ? ZENWS_LEVEL_AVX512 : level;
    }
    return cap;
}

const char *zenws_cpu_forced(const char *name) {
    char var[48];
    const char *v;
    size_t n = strlen(name);
    if (n > 20) return NULL;
    memcpy(var, "ZENWS_KERNEL_", 13);
    memcpy(var + 13, name, n + 1);
    v = getenv(var);
    if (!(v && v[0])) {
        memcpy(var, "ZENWS_", 6);
        memcpy(var + 6, name, n);
        memcpy(var + 6 + n, "_KERNEL", 8);
        v = getenv(var);
    }
    if (!(v && v[0])) return NULL;
    note_env(var, v);
    return v;
}

static const zenws_cpu_api api = {
    zenws_cpu_features,
    zenws_cpu_cap,
    zenws_cpu_forced,
    zenws_cpu_level_of,
};

const zenws_cpu_api *zenws_cpu_api_table(void) {
    return &api;
}
