/* zenws_jsonenc.c - Python values -> JSON bytes, orjson-compatible (see zenws_jsonenc.h).
 *
 * One recursive pass writes straight into the bytes object that is returned
 * (grown by doubling, trimmed at the end with _PyBytes_Resize, as orjson's own
 * writer does): no intermediate buffer, no Python call.
 *
 * Strings: the bytes up to the first one that needs an escape ('"', '\\',
 * 0x00..0x1F) are found and copied in the same pass by the JSON string unit
 * (zenws_jstr.h / zenws_jstr.c, shared with the JSONL writer): strings of at
 * most 16 bytes (most keys) with two overlapping 8- or 4-byte words inline,
 * longer ones with its SIMD kernels (the decoder's string kernel,
 * ZENWS_KERNEL_JSON=swar|sse2|avx2 forces one).
 *
 * Floats: a fast path finds the fewest decimals k <= 9 for which the decimal
 * m / 10^k (m < 2^53 an integer) reads back as exactly the same double --
 * checked by one IEEE division, which is correctly rounded and so equals what
 * a correctly rounded strtod gives for that text (the same argument as
 * Clinger's fast path in the decoder).  Everything else goes to CPython's
 * shortest repr (PyOS_double_to_string 'r', David Gay's dtoa), whose output
 * (with Py_DTSF_ADD_DOT_0: "1e+16", "5e-324", "1000000000000000.0") is valid JSON
 * that reads back as a float. */
#include "zenws_jsonenc.h"
#include "zenws_json.h"
#include "zenws_compat.h"
#include "zenws_jstr.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
#  define ENC_FAST_FLOAT 1
#else
#  define ENC_FAST_FLOAT 0
#endif

/* ------------------------------------------------------------ writer */

typedef struct {
    PyObject *obj;          /* the bytes object being filled; NULL after an error */
    zenws_jsonenc_buf *buf; /* or the caller's buffer (obj is then NULL) */
    char *base, *p, *end;   /* base: where the text starts (buf: data + head) */
} jw;

static int jw_init(jw *w, Py_ssize_t cap) {
    w->buf = NULL;
    w->obj = PyBytes_FromStringAndSize(NULL, cap);
    if (w->obj == NULL) return -1;
    w->base = w->p = PyBytes_AS_STRING(w->obj);
    w->end = w->base + cap;
    return 0;
}

/* Grows b to exactly `size` bytes (its contents kept); MemoryError on failure. */
static int buf_resize(zenws_jsonenc_buf *b, Py_ssize_t size) {
    char *grown = PyMem_Realloc(b->data, (size_t)size);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = grown;
    b->cap = size;
    return 0;
}

/* Writes into b->data[head:], growing b to at least head + cap bytes. */
static int jw_init_buf(jw *w, zenws_jsonenc_buf *b, Py_ssize_t head, Py_ssize_t cap) {
    w->obj = NULL;
    w->buf = b;
    if (b->cap < head + cap && buf_resize(b, head + cap) < 0) return -1;
    w->base = w->p = b->data + head;
    w->end = b->data + b->cap;
    return 0;
}

static int jw_grow(jw *w, Py_ssize_t need) {
    Py_ssize_t used = w->p - w->base, cap = w->end - w->base, want;
    if (need > PY_SSIZE_T_MAX / 2 - used) {
        Py_CLEAR(w->obj); /* every error path leaves w->obj NULL */
        PyErr_NoMemory();
        return -1;
    }
    want = cap * 2;
    if (want < used + need) want = used + need + (used + need) / 4;
    if (w->buf != NULL) {
        zenws_jsonenc_buf *b = w->buf;
        Py_ssize_t head = w->base - b->data;
        if (buf_resize(b, head + want) < 0) return -1;
        w->base = b->data + head;
        w->p = w->base + used;
        w->end = w->base + want;
        return 0;
    }
    if (_PyBytes_Resize(&w->obj, want) < 0) return -1; /* w->obj is NULL now */
    w->base = PyBytes_AS_STRING(w->obj);
    w->p = w->base + used;
    w->end = w->base + want;
    return 0;
}

#define RESERVE(w, n)                                                     \
    do {                                                                  \
        if (ZENWS_UNLIKELY((w)->end - (w)->p < (Py_ssize_t)(n)) &&        \
            jw_grow((w), (Py_ssize_t)(n)) < 0)                            \
            return -1;                                                    \
    } while (0)

/* Up to this many unused bytes stay at the end of the allocation instead of
 * a realloc (which, for a malloc'ed block, splits it and frees the rest). */
#define JW_KEEP_SLACK 64

static PyObject *jw_finish(jw *w) {
    Py_ssize_t used = w->p - w->base;
    if (w->end - w->p <= JW_KEEP_SLACK) {
        /* A bytes object may own more memory than its size: only ob_size and
         * the terminating NUL matter to CPython (the hash is still unset). */
        Py_SET_SIZE(w->obj, used);
        w->base[used] = '\0';
        return w->obj;
    }
    if (_PyBytes_Resize(&w->obj, used) < 0) return NULL;
    return w->obj;
}

/* ------------------------------------------------------------ strings */

/* RFC 8259 §7, orjson's choice: the two-character escapes where JSON has
 * one, \u00XX for the other control characters.  The escapes and the copy
 * loops are the JSON string unit's (zenws_jstr.h: zenws_jstr_copy, the SIMD
 * kernels behind it in zenws_jstr.c, zenws_jstr_escape, zenws_jstr_stop8). */

int zenws_jsonenc_plain(const char *s, Py_ssize_t n) {
    /* Only answers yes/no: scan without copying, 8 bytes at a time. */
    Py_ssize_t i = 0;
    uint64_t w;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        if (zenws_jstr_stop8(w)) return 0;
    }
    for (; i < n; i++)
        if (zenws_jstr_esc[(unsigned char)s[i]]) return 0;
    return 1;
}

/* s[0] needs an escape; write the rest of the string and its closing quote. */
static int write_escaped(jw *w, const char *s, Py_ssize_t n) {
    for (;;) {
        unsigned char c = (unsigned char)*s;
        char *o;
        Py_ssize_t i;
        RESERVE(w, n + 6); /* the escape (<= 6), the n - 1 bytes left, the quote */
        o = w->p;
        o += zenws_jstr_escape(o, c);
        s++;
        n--;
        i = zenws_jstr_copy(o, s, n);
        o += i;
        s += i;
        n -= i;
        if (n == 0) {
            *o++ = '"';
            w->p = o;
            return 0;
        }
        w->p = o;
    }
}

/* The JSON string of the UTF-8 bytes s[0..n), quotes included. */
static int write_str_any(jw *w, const char *s, Py_ssize_t n) {
    Py_ssize_t i;
    char *o;
    RESERVE(w, n + 2);
    o = w->p;
    *o++ = '"';
    i = zenws_jstr_copy(o, s, n);
    if (ZENWS_LIKELY(i == n)) {
        o[n] = '"';
        w->p = o + n + 1;
        return 0;
    }
    w->p = o + i;
    return write_escaped(w, s + i, n - i);
}

/* Short plain strings (keys, enum-like values) inline, the rest out of line. */
ZENWS_INLINE int write_str(jw *w, const char *s, Py_ssize_t n) {
    if (n <= 16 && w->end - w->p >= 18) {
        char *o = w->p + 1;
        if (ZENWS_LIKELY(zenws_jstr_copy(o, s, n) == n)) {
            o[-1] = '"';
            o[n] = '"';
            w->p = o + n + 1;
            return 0;
        }
    }
    return write_str_any(w, s, n);
}

static int enc_str(jw *w, PyObject *s) {
    const char *u;
    Py_ssize_t n;
    if (ZENWS_LIKELY(PyUnicode_IS_COMPACT_ASCII(s))) {
        /* ASCII text is its own UTF-8: read the str's data directly. */
        u = (const char *)PyUnicode_DATA(s);
        n = PyUnicode_GET_LENGTH(s);
    } else {
        /* The UTF-8 form is cached in the str (as orjson does). */
        u = PyUnicode_AsUTF8AndSize(s, &n);
        if (u == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return -1;
            PyErr_Clear(); /* a lone surrogate: orjson raises its own error */
            return ZENWS_JSONENC_UNSUPPORTED;
        }
    }
    return write_str(w, u, n);
}

/* ------------------------------------------------------------ numbers */

static const char digits2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Decimal digits of u at o; returns the end.  At most 20 bytes. */
static char *write_u64(char *o, uint64_t u) {
    char tmp[20];
    char *t = tmp + 20;
    size_t k;
    while (u >= 100) {
        unsigned int r = (unsigned int)(u % 100);
        u /= 100;
        t -= 2;
        memcpy(t, digits2 + 2 * r, 2);
    }
    if (u >= 10) {
        t -= 2;
        memcpy(t, digits2 + 2 * u, 2);
    } else {
        *--t = (char)('0' + u);
    }
    k = (size_t)(tmp + 20 - t);
    memcpy(o, t, k);
    return o + k;
}

static int enc_int(jw *w, PyObject *o) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    uint64_t u;
    char *p;
    RESERVE(w, 21);
    p = w->p;
    if (ZENWS_LIKELY(overflow == 0)) {
        if (v < 0) {
            if (v == -1 && PyErr_Occurred()) return -1;
            *p++ = '-';
            u = 0 - (uint64_t)v;
        } else {
            u = (uint64_t)v;
        }
    } else if (overflow > 0) {
        /* orjson also takes 2**63 .. 2**64 - 1. */
        u = PyLong_AsUnsignedLongLong(o);
        if (u == (uint64_t)-1 && PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_OverflowError)) return -1;
            PyErr_Clear();
            return ZENWS_JSONENC_UNSUPPORTED;
        }
    } else {
        return ZENWS_JSONENC_UNSUPPORTED;
    }
    w->p = write_u64(p, u);
    return 0;
}

static const double pow10_d[10] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
static const uint64_t pow10_u[10] = {1ULL,      10ULL,      100ULL,      1000ULL,
                                     10000ULL,  100000ULL,  1000000ULL,  10000000ULL,
                                     100000000ULL, 1000000000ULL};

static int enc_float(jw *w, double d) {
    char *p, *r;
    size_t k;
    if (!isfinite(d)) return ZENWS_JSONENC_UNSUPPORTED; /* orjson writes null */
    RESERVE(w, 32);
    p = w->p;
#if ENC_FAST_FLOAT
    {
        double a = fabs(d);
        if (a == 0.0) {
            if (signbit(d)) *p++ = '-';
            memcpy(p, "0.0", 3);
            w->p = p + 3;
            return 0;
        }
        /* repr() writes fixed notation for 1e-4 <= a < 1e16. */
        if (a >= 1e-4 && a < 1e15) {
            int j;
            for (j = 0; j < 10; j++) {
                double sc = a * pow10_d[j];
                uint64_t m, q, f;
                if (sc >= 9007199254740992.0) break; /* 2^53: m must be exact */
                m = (uint64_t)(sc + 0.5);
                if ((double)m / pow10_d[j] != a) continue;
                if (d < 0) *p++ = '-';
                q = m / pow10_u[j];
                f = m - q * pow10_u[j];
                p = write_u64(p, q);
                *p++ = '.';
                if (j == 0) {
                    *p++ = '0';
                } else {
                    int t;
                    for (t = j - 1; t >= 0; t--) {
                        p[t] = (char)('0' + f % 10);
                        f /= 10;
                    }
                    p += j;
                }
                w->p = p;
                return 0;
            }
        }
    }
#endif
    /* Py_DTSF_ADD_DOT_0 as repr(): without it 1e15 is written "1000000000000000",
     * which reads back as an int. */
    r = PyOS_double_to_string(d, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (r == NULL) return -1;
    k = strlen(r);
    if (k > 32) { /* cannot happen for a finite double (at most 24 bytes) */
        PyMem_Free(r);
        return ZENWS_JSONENC_UNSUPPORTED;
    }
    memcpy(p, r, k);
    PyMem_Free(r);
    w->p = p + k;
    return 0;
}

/* ------------------------------------------------------------ values */

static int enc_value(jw *w, PyObject *o, int depth);

static int enc_dict(jw *w, PyObject *o, int depth) {
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    int rc;
    char sep = '{';
    if (PyDict_GET_SIZE(o) == 0) {
        RESERVE(w, 2);
        memcpy(w->p, "{}", 2);
        w->p += 2;
        return 0;
    }
    /* No Python code runs in here, so the dict cannot change under PyDict_Next. */
    while (PyDict_Next(o, &pos, &k, &v)) {
        if (ZENWS_UNLIKELY(!PyUnicode_CheckExact(k))) return ZENWS_JSONENC_UNSUPPORTED;
        RESERVE(w, 1);
        *w->p++ = sep;
        sep = ',';
        if ((rc = enc_str(w, k)) != 0) return rc;
        RESERVE(w, 1);
        *w->p++ = ':';
        if ((rc = enc_value(w, v, depth)) != 0) return rc;
    }
    RESERVE(w, 1);
    *w->p++ = '}';
    return 0;
}

static int enc_seq(jw *w, PyObject **items, Py_ssize_t n, int depth) {
    Py_ssize_t i;
    int rc;
    RESERVE(w, 2);
    *w->p++ = '[';
    for (i = 0; i < n; i++) {
        if (i) {
            RESERVE(w, 1);
            *w->p++ = ',';
        }
        if ((rc = enc_value(w, items[i], depth)) != 0) return rc;
    }
    RESERVE(w, 1);
    *w->p++ = ']';
    return 0;
}

static int enc_value(jw *w, PyObject *o, int depth) {
    PyTypeObject *t = Py_TYPE(o);
    if (t == &PyUnicode_Type) return enc_str(w, o);
    if (t == &PyLong_Type) return enc_int(w, o);
    if (t == &PyFloat_Type) return enc_float(w, PyFloat_AS_DOUBLE(o));
    if (t == &PyDict_Type || t == &PyList_Type || t == &PyTuple_Type) {
        if (ZENWS_UNLIKELY(depth >= ZENWS_JSONENC_MAX_DEPTH)) return ZENWS_JSONENC_UNSUPPORTED;
        if (t == &PyDict_Type) return enc_dict(w, o, depth + 1);
        /* PySequence_Fast_ITEMS: the item array of a list or tuple. */
        return enc_seq(w, PySequence_Fast_ITEMS(o), Py_SIZE(o), depth + 1);
    }
    if (o == Py_True || o == Py_False || o == Py_None) {
        const char *lit = o == Py_True ? "true" : o == Py_False ? "false" : "null";
        size_t k = o == Py_False ? 5 : 4;
        RESERVE(w, 5);
        memcpy(w->p, lit, k);
        w->p += k;
        return 0;
    }
    return ZENWS_JSONENC_UNSUPPORTED;
}

/* ------------------------------------------------------------ entry points */

/* Size of the last params written, so that a repeated request shape gets a
 * buffer of the right size at once (guarded by the GIL). */
static Py_ssize_t params_hint = 64;

/* JSON-RPC 2.0 §4.2: params is an object or an array; the rest is orjson's
 * (dataclasses...) or an error that orjson's path reports. */
static int request_params_ok(PyObject **params) {
    PyTypeObject *t;
    if (*params == Py_None) *params = NULL;
    if (*params == NULL) return 1;
    t = Py_TYPE(*params);
    return t == &PyDict_Type || t == &PyList_Type || t == &PyTuple_Type;
}

/* + 40: the last number's worst case (RESERVE(32)) must not grow the buffer,
 * nor the trim at the end move it to another size class. */
#define REQUEST_CAP(id_len, method_len) \
    (22 + (id_len) + 10 + (method_len) + 2 + 10 + params_hint + 1 + 40)

static int write_request(jw *w, const char *id_json, Py_ssize_t id_len, const char *method,
                         Py_ssize_t method_len, PyObject *params, int bare) {
    static const char prefix[] = "{\"jsonrpc\":\"2.0\",\"id\":";
    /* bare: {"id":.. without the "jsonrpc" member (Binance's documented requests) */
    const Py_ssize_t pn = bare ? 6 : 22;
    int rc;
    /* REQUEST_CAP reserved room for everything up to the method's text. */
    memcpy(w->p, bare ? "{\"id\":" : prefix, (size_t)pn);
    memcpy(w->p + pn, id_json, (size_t)id_len);
    memcpy(w->p + pn + id_len, ",\"method\":", 10);
    w->p += pn + id_len + 10;
    if ((rc = write_str(w, method, method_len)) != 0) return rc;
    RESERVE(w, 10 + 2 + 1);
    memcpy(w->p, ",\"params\":", 10);
    w->p += 10;
    if (params == NULL) {
        memcpy(w->p, "{}", 2);
        w->p += 2;
    } else {
        Py_ssize_t before = w->p - w->base, size;
        if ((rc = enc_value(w, params, 0)) != 0) return rc;
        size = (w->p - w->base) - before;
        params_hint = size < 64 ? 64 : size > (1 << 16) ? (1 << 16) : size;
    }
    RESERVE(w, 1);
    *w->p++ = '}';
    return 0;
}

int zenws_jsonenc_request(const char *id_json, Py_ssize_t id_len, const char *method,
                          Py_ssize_t method_len, PyObject *params, int bare, PyObject **out) {
    jw w;
    int rc;
    if (!request_params_ok(&params)) return ZENWS_JSONENC_UNSUPPORTED;
    if (jw_init(&w, REQUEST_CAP(id_len, method_len)) < 0) return -1;
    if ((rc = write_request(&w, id_json, id_len, method, method_len, params, bare)) != 0) {
        Py_XDECREF(w.obj);
        return rc;
    }
    *out = jw_finish(&w);
    return *out == NULL ? -1 : 0;
}

int zenws_jsonenc_request_into(zenws_jsonenc_buf *b, Py_ssize_t head, const char *id_json,
                               Py_ssize_t id_len, const char *method, Py_ssize_t method_len,
                               PyObject *params, int bare, Py_ssize_t *len) {
    jw w;
    int rc;
    if (!request_params_ok(&params)) return ZENWS_JSONENC_UNSUPPORTED;
    if (jw_init_buf(&w, b, head, REQUEST_CAP(id_len, method_len)) < 0) return -1;
    if ((rc = write_request(&w, id_json, id_len, method, method_len, params, bare)) != 0)
        return rc;
    *len = w.p - w.base;
    return 0;
}

void zenws_jsonenc_buf_free(zenws_jsonenc_buf *b) {
    PyMem_Free(b->data);
    b->data = NULL;
    b->cap = 0;
}

int zenws_jsonenc_dumps(PyObject *obj, PyObject **out) {
    jw w;
    int rc;
    if (jw_init(&w, 64) < 0) return -1;
    if ((rc = enc_value(&w, obj, 0)) != 0) {
        Py_XDECREF(w.obj);
        return rc;
    }
    *out = jw_finish(&w);
    return *out == NULL ? -1 : 0;
}
