/* Hot loops of zenws.fast.jsonl (the session recorder): SPSC arena atomics and write(2).
 *
 * Header-only (static inline) so that jsonl.pyx needs no extra C source. The JSON string
 * escaping and the credential-key scan are the JSON string unit's (ext/zenws_jstr.c,
 * compiled into zenws.fast.jsonrpc; jsonl.pyx calls it through jsonrpc.pxd).
 */
#ifndef ZENWS_JSONL_H
#define ZENWS_JSONL_H

/* Include after Python.h (Py_ssize_t). */

#include <stdint.h>
#include <string.h>


#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#include <io.h>
#define ZENWS_JL_INLINE static __inline
#else
#include <unistd.h>
#define ZENWS_JL_INLINE static inline
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

#endif /* ZENWS_JSONL_H */
