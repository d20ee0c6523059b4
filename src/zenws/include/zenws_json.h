/* zenws_json.h - single-pass JSON (RFC 8259) -> Python object decoder.
 *
 * zenws_json_loads() builds exactly what json.loads() builds from the same
 * UTF-8 text (dict with last-wins duplicate keys in first-seen order, list,
 * str, arbitrary-precision int, correctly rounded float, True/False/None),
 * and raises json.JSONDecodeError(msg, doc, pos) -- pos is a BYTE offset into
 * ``buf`` -- for everything that is not RFC 8259 JSON in UTF-8.  Stricter
 * than json.loads on purpose (as orjson): NaN/Infinity, lone surrogates
 * (escaped \ud800 or encoded ED A0 80), a UTF-8 byte order mark, numbers that
 * round to +-inf (1e400) and nesting deeper than ZENWS_JSON_MAX_DEPTH are
 * errors.  Integers of more than sys.get_int_max_str_digits() digits raise
 * ValueError, as in json.loads.
 *
 * The decoder is iterative (no C recursion), never reads outside
 * [buf, buf + len) (buf need not be NUL-terminated) and needs the GIL.
 * Its only global state is a cache of interned object keys (ASCII keys up to
 * ZENWS_JSON_KEY_CACHE_MAX bytes without escapes), so that repeated keys cost
 * a hash and a memcmp instead of a new str.
 */
#ifndef ZENWS_JSON_H
#define ZENWS_JSON_H

#include <Python.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Containers nested deeper than this are an error (orjson uses the same). */
#define ZENWS_JSON_MAX_DEPTH 1024
#define ZENWS_JSON_KEY_CACHE_SLOTS 1024
#define ZENWS_JSON_KEY_CACHE_MAX 64

/* Decode one JSON document.  Returns a new reference, or NULL with an
 * exception set (json.JSONDecodeError, ValueError, MemoryError). */
PyObject *zenws_json_loads(const char *buf, Py_ssize_t len);

/* String-scanning kernel of the decoder and the encoder (zenws_jsonenc.c):
 * "avx2" (strings of 64 bytes and more; AVX2 CPUs), "sse2" (x86-64) or "swar"
 * (portable, 8 bytes at a time).  Chosen by zenws_json_kernel_init() from the
 * CPU, or from the environment variable ZENWS_JSON_KERNEL when it names a
 * kernel this CPU runs.  Every kernel gives the same results. */
#define ZENWS_JSON_KERNEL_SWAR 0
#define ZENWS_JSON_KERNEL_SSE2 1
#define ZENWS_JSON_KERNEL_AVX2 2
extern int zenws_json_simd; /* one of ZENWS_JSON_KERNEL_* */

/* Choose the kernel (CPU + ZENWS_JSON_KERNEL); returns its name. */
const char *zenws_json_kernel_init(void);
/* Name of the kernel in use. */
const char *zenws_json_kernel(void);
/* Switch kernel: "avx2", "sse2", "swar" or "auto" (tests and benchmarks;
 * not thread-safe).  0 on success, -1 for an unknown or unsupported name. */
int zenws_json_set_kernel(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* ZENWS_JSON_H */
