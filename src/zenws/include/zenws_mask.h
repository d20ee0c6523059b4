/* zenws_mask.h - WebSocket payload masking (RFC 6455 §5.3) with SIMD kernels
 * picked at run time.  No Python API here.
 *
 * Masking is an XOR of every payload byte i with key[i % 4].  All kernels take
 * a `phase` (0..3) telling which key byte applies to data[0], so a payload may
 * be masked in pieces (fragments, ring-buffer wrap) and unaligned heads rotate
 * the key correctly. */
#ifndef ZENWS_MASK_H
#define ZENWS_MASK_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Kernel ids, also the index into zenws_mask_kernel_names(). */
enum {
    ZENWS_MASK_SCALAR64 = 0,
    ZENWS_MASK_SSE2 = 1,
    ZENWS_MASK_AVX2 = 2,
    ZENWS_MASK_NEON = 3,
    ZENWS_MASK_NKERNELS = 4
};

/* XOR data[0..len) in place; data[0] is masked with key[phase & 3]. */
void zenws_mask(unsigned char *data, size_t len, const unsigned char key[4], size_t phase);

/* Same with an explicit kernel (must be available; used by tests/benchmarks). */
void zenws_mask_with(int kernel, unsigned char *data, size_t len,
                     const unsigned char key[4], size_t phase);

/* Choose the kernel: the best available within ZENWS_CPU, or `forced` (a
 * kernel name such as "sse2"; NULL reads ZENWS_KERNEL_MASK, alias
 * ZENWS_MASK_KERNEL, see zenws_cpu.h).  Returns 0, or -1 when the forced name
 * is unknown or not supported by this CPU (the best kernel is then kept). */
int zenws_mask_init(const char *forced);

/* 1 when kernel `k` can run on this CPU/build, else 0. */
int zenws_mask_available(int kernel);

/* Name of a kernel id ("scalar64", "sse2", "avx2", "neon"), NULL if out of range. */
const char *zenws_mask_kernel_name(int kernel);

/* Id of the kernel zenws_mask() currently uses. */
int zenws_mask_current(void);

#ifdef __cplusplus
}
#endif
#endif /* ZENWS_MASK_H */
