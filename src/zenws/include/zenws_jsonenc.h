/* zenws_jsonenc.h - JSON encoder for the plain-data subset of Python values.
 *
 * Writes exactly what orjson.dumps() writes (RFC 8259, compact, no key
 * sorting) for: dict (exact type) with exact-str keys, list, tuple (as an
 * array), exact str, bool, exact int in -2**63 .. 2**64-1, exact finite float
 * and None.  Strings are escaped as orjson escapes them (RFC 8259 §7: \" \\
 * \n \r \t \b \f, other control characters as \u00XX, non-ASCII as UTF-8,
 * '/' not escaped).  Floats are the shortest decimal that reads back to the
 * same double (repr()'s digits; the text may differ from orjson's, the value
 * never does).
 *
 * Anything else anywhere in the value (subclasses, enums, dataclasses, numpy,
 * non-finite floats, ints beyond 64 bits, non-str keys, strs with lone
 * surrogates, nesting deeper than ZENWS_JSONENC_MAX_DEPTH, ...) makes the
 * encoder give up with ZENWS_JSONENC_UNSUPPORTED and no exception: the caller
 * then encodes the whole value with orjson, so errors and extended types
 * behave exactly as orjson's.  Needs the GIL; runs no Python code.
 */
#ifndef ZENWS_JSONENC_H
#define ZENWS_JSONENC_H

#include <Python.h>

#ifdef __cplusplus
extern "C" {
#endif

/* orjson refuses 255 nested containers; we stop (and fall back) earlier. */
#define ZENWS_JSONENC_MAX_DEPTH 250

#define ZENWS_JSONENC_OK 0
#define ZENWS_JSONENC_UNSUPPORTED 1
/* -1: an exception is set (MemoryError). */

/* b'{"jsonrpc":"2.0","id":<id_json>,"method":"<method escaped>","params":<params>}'
 * id_json: the id's JSON text (digits, or a quoted escaped string); method:
 * UTF-8 bytes (escaped here); params: NULL or None for {}, else a dict, list
 * or tuple; bare: leave out the "jsonrpc" member (b'{"id":..').  On
 * ZENWS_JSONENC_OK *out is a new bytes object. */
int zenws_jsonenc_request(const char *id_json, Py_ssize_t id_len, const char *method,
                          Py_ssize_t method_len, PyObject *params, int bare, PyObject **out);

/* A growable buffer owned by the caller (PyMem; zero-initialise, then free
 * with zenws_jsonenc_buf_free). */
typedef struct {
    char *data;
    Py_ssize_t cap;
} zenws_jsonenc_buf;

/* zenws_jsonenc_request written into b->data[head:head + *len] instead of a
 * new bytes object (b grows as needed; the first `head` bytes are left for
 * the caller, e.g. a frame header).  Same return values. */
int zenws_jsonenc_request_into(zenws_jsonenc_buf *b, Py_ssize_t head, const char *id_json,
                               Py_ssize_t id_len, const char *method, Py_ssize_t method_len,
                               PyObject *params, int bare, Py_ssize_t *len);
void zenws_jsonenc_buf_free(zenws_jsonenc_buf *b);

/* orjson.dumps(obj) for the supported subset (any top-level type). */
int zenws_jsonenc_dumps(PyObject *obj, PyObject **out);

/* 1 if s[0..n) (UTF-8) needs no escaping inside a JSON string. */
int zenws_jsonenc_plain(const char *s, Py_ssize_t n);

#ifdef __cplusplus
}
#endif

#endif /* ZENWS_JSONENC_H */
