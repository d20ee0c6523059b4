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

/* Name of the string-scanning kernel compiled in: "sse2" or "swar". */
const char *zenws_json_kernel(void);

#ifdef __cplusplus
}
#endif

#endif /* ZENWS_JSON_H */
