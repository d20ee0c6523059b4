/* zenws_utf8.h - incremental UTF-8 validation (RFC 3629 §4, Unicode Table 3-7).
 * No Python API here.
 *
 * The validator is a DFA over byte classes.  The state is a small integer that
 * the caller carries across fragments; it becomes ZENWS_UTF8_REJECT at the very
 * first byte that can never be part of valid UTF-8 (0xC0, 0xC1, 0xF5..0xFF,
 * overlong E0/F0 prefixes, surrogates after ED, > U+10FFFF after F4, a lone or
 * missing continuation byte), never later.  A message is valid when the final
 * state is ZENWS_UTF8_ACCEPT. */
#ifndef ZENWS_UTF8_H
#define ZENWS_UTF8_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZENWS_UTF8_ACCEPT 0
#define ZENWS_UTF8_REJECT 8

/* Advance `state` over p[0..n).  Returns the new state.  On REJECT, *bad (if
 * not NULL) receives the index in p of the offending byte; stops there. */
uint32_t zenws_utf8_feed(uint32_t state, const unsigned char *p, size_t n, size_t *bad);

/* 1 if p[0..n) is complete, valid UTF-8. */
int zenws_utf8_valid(const unsigned char *p, size_t n);

/* Kernel of the ASCII fast path: "avx2" (runs of 256 bytes and more),
 * "sse2" or "swar" (portable).  Chosen on first use from the CPU within
 * ZENWS_CPU, or from ZENWS_KERNEL_UTF8 (alias ZENWS_UTF8_KERNEL) when it names
 * one this CPU runs (zenws_cpu.h).  Only zenws.fast.frame compiles this unit;
 * other extensions call it through frame's cdef functions. */
const char *zenws_utf8_kernel(void);
/* Switch kernel ("avx2", "sse2", "swar", "auto"); tests and benchmarks only,
 * not thread-safe.  0 on success, -1 for an unknown or unsupported name. */
int zenws_utf8_set_kernel(const char *name);

#ifdef __cplusplus
}
#endif
#endif /* ZENWS_UTF8_H */
