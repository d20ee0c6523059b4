/* zenws_scan.h - single-pass, allocation-free scanner of the top-level
 * object of a JSON-RPC 2.0 message (https://www.jsonrpc.org/specification).
 *
 * zenws_scan() walks the document once (iteratively, never reading outside
 * [buf, buf + len)) and reports where the top-level "id", "method",
 * "result", "error" and params."channel" members are, without building any
 * value.  No Python API here.
 *
 * Rules (docs/jsonrpc.md has the full table):
 *   - keys are compared after decoding their escapes ("i\u0064" is "id");
 *   - a duplicated key: the last occurrence wins, as in json.loads;
 *   - "id": null counts as no id; an id that is not a string, null or an
 *     integer in int64 range (fraction, exponent, big integer, bool, object,
 *     array) makes the message KIND_INVALID (it cannot be correlated);
 *   - "method", params."channel": used only when the value is a string;
 *     channel is reported for KIND_NOTIFICATION only;
 *   - "result" / "error": presence of the key, whatever the value;
 *   - a top-level value that is not an object -> KIND_OTHER;
 *   - malformed or truncated JSON, trailing data, nesting deeper than
 *     ZENWS_SCAN_MAX_DEPTH, invalid UTF-8 inside the id/method/channel
 *     strings -> KIND_INVALID, and every other field of *out is zeroed.
 * Validation: zenws_scan_strict() checks the whole document against the
 * RFC 8259 grammar.  zenws_scan() checks the top-level object and a
 * top-level "params" object the same way, and every other container (e.g.
 * "result", "params.data") by structure: exact strings (escapes, no raw
 * control characters), balanced and matching brackets, no truncation, but
 * not the numbers/literals/commas/colons inside it.  So both agree on every
 * valid document, and zenws_scan() may accept a document whose nested payload
 * is malformed (the payload's JSON parser reports that later).
 * UTF-8 validity of other strings is the frame layer's job (RFC 6455 §8.1).
 */
#ifndef ZENWS_SCAN_H
#define ZENWS_SCAN_H

#include <stdint.h>
#include <stddef.h>
#include <Python.h>  /* Py_ssize_t only; no Python API is called */

#ifdef __cplusplus
extern "C" {
#endif

#define ZENWS_KIND_INVALID (-1)
#define ZENWS_KIND_OTHER 0
#define ZENWS_KIND_RESPONSE 1
#define ZENWS_KIND_NOTIFICATION 2
#define ZENWS_KIND_REQUEST 3
#define ZENWS_KIND_ERROR_NO_ID 4

#define ZENWS_ID_NONE 0
#define ZENWS_ID_INT 1
#define ZENWS_ID_STRING 2
#define ZENWS_ID_INVALID 3 /* transient: never left in a returned result */

/* Containers nested deeper than this make the message KIND_INVALID
 * (orjson uses the same limit; json.loads hits RecursionError near it). */
#define ZENWS_SCAN_MAX_DEPTH 1024

/* zenws_scan() hands messages shorter than this to zenws_scan_strict(). */
#define ZENWS_SCAN_STRICT_BELOW 128

typedef struct {
    int kind;
    int id_type; /* 0 none, 1 int, 2 string */
    int64_t id_int;
    Py_ssize_t id_off, id_len, method_off, method_len, channel_off, channel_len;
    int id_escaped, method_escaped, channel_escaped, has_result, has_error;
} zenws_scan_t;

/* Scan buf[0:len]; fills *out and returns out->kind.  String offsets point at
 * the raw content between the quotes (escapes still encoded; *_escaped says
 * whether a backslash occurs). */
int zenws_scan(const char *buf, Py_ssize_t len, zenws_scan_t *out);

/* Same result, but every nested value is checked against the RFC 8259
 * grammar too (about 1.5-4x slower on exchange messages). */
int zenws_scan_strict(const char *buf, Py_ssize_t len, zenws_scan_t *out);

/* Name of the stage-1 kernel zenws_scan() uses for messages of at least
 * ZENWS_SCAN_STRICT_BELOW bytes: "avx512" (AVX-512 BW, picked automatically
 * only with AVX512-VBMI2, i.e. Ice Lake or later), "avx2" (AVX2 + PCLMULQDQ),
 * "sse2" or "scalar" (portable SWAR).  Chosen once, on first use, from what the CPU
 * supports; the environment variable ZENWS_SCAN_KERNEL (read at that moment)
 * can force one.  Every kernel gives the same results. */
const char *zenws_scan_kernel(void);

/* Switch the kernel ("avx512", "avx2", "sse2", "scalar" or "auto"); returns 0, or -1
 * (nothing changed) for an unknown name or one this CPU cannot run.  Not
 * thread-safe: for tests and benchmarks. */
int zenws_scan_set_kernel(const char *name);

/* Decode the raw content of a JSON string already validated by zenws_scan
 * into UTF-8 at dst (needs room for len bytes: decoding never grows).
 * Lone surrogates from \uXXXX escapes are written as 3-byte sequences, so the
 * result decodes with Python's "surrogatepass" handler exactly as json.loads
 * would.  Returns the number of bytes written. */
Py_ssize_t zenws_unescape(const char *src, Py_ssize_t len, char *dst);

/* Write the decimal form of v at dst (room for 20 bytes); returns its length. */
Py_ssize_t zenws_format_i64(int64_t v, char *dst);

/* Return 1 when s[0:len] can be copied into a JSON string literal verbatim
 * (no '"', '\\' or control character < 0x20), else 0. */
int zenws_json_plain(const char *s, Py_ssize_t len);

#ifdef __cplusplus
}
#endif

#endif /* ZENWS_SCAN_H */
