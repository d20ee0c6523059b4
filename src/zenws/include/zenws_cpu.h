/* zenws_cpu.h - the one CPU-feature detector and kernel dispatcher of zenws
 * (ext/zenws_cpu.c).  No Python API here.
 *
 * Every SIMD kernel (mask, utf8, scan, json) asks it which features the CPU
 * and OS offer and which kernel the environment allows.  ext/zenws_cpu.c is
 * compiled into exactly one extension, zenws.fast.frame (setup.py defines
 * ZENWS_CPU_OWNER there), so the detection and the environment are read once
 * per process.  The C units of any other extension call it through the table
 * frame exports (frame.pxd: cpu_api_c), which their module stores in
 * zenws_cpu_link before any kernel chooses; the same function names work in
 * both places.
 *
 * Environment (read when a kernel first chooses, at import):
 *   ZENWS_CPU=none|sse2|neon|avx2|avx512    caps the level every kernel picks
 *                                           on its own ("auto"); read once;
 *   ZENWS_KERNEL_<NAME>=<kernel>            forces one kernel of NAME (MASK,
 *                                           UTF8, SCAN, JSON) when this CPU
 *                                           runs it; ZENWS_<NAME>_KERNEL is
 *                                           the older spelling of the same.
 * An unknown or unsupported value is ignored (the kernel reports its choice);
 * zenws_cpu_env() lists every value that was read. */
#ifndef ZENWS_CPU_H
#define ZENWS_CPU_H

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

/* The dispatcher, as a table of functions (what other extensions receive). */
typedef struct zenws_cpu_api {
    /* The features of this CPU (ZENWS_CPU_* bits; detected once). */
    unsigned (*features)(void);
    /* The widest level ZENWS_CPU lets a kernel pick on its own. */
    int (*cap)(void);
    /* The kernel name the environment forces for NAME ("MASK", "UTF8"...),
     * or NULL: ZENWS_KERNEL_<NAME>, else the older ZENWS_<NAME>_KERNEL. */
    const char *(*forced)(const char *name);
    /* Level of a kernel or level name; -1 if unknown. */
    int (*level_of)(const char *name);
} zenws_cpu_api;

#ifdef ZENWS_CPU_OWNER
unsigned zenws_cpu_features(void);
int zenws_cpu_cap(void);
const char *zenws_cpu_forced(const char *name);
int zenws_cpu_level_of(const char *name);
/* The table above, for the other extensions. */
const zenws_cpu_api *zenws_cpu_api_table(void);
/* The i-th environment variable the dispatcher read with a non-empty value:
 * 1 with *var and *value set, 0 past the last. */
int zenws_cpu_env(int i, const char **var, const char **value);
#else
#  if defined(__GNUC__) && !defined(_WIN32)
__attribute__((visibility("hidden")))
#  endif
extern const zenws_cpu_api *zenws_cpu_link;
#  define zenws_cpu_features() (zenws_cpu_link->features())
#  define zenws_cpu_cap() (zenws_cpu_link->cap())
#  define zenws_cpu_forced(name) (zenws_cpu_link->forced(name))
#  define zenws_cpu_level_of(name) (zenws_cpu_link->level_of(name))
#endif

#endif /* ZENWS_CPU_H */
