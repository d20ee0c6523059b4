/* zenws_json.c - single-pass JSON -> Python decoder (see zenws_json.h).
 *
 * One iterative pass over the bytes with an explicit container stack:
 *   - objects are dicts filled as their members are read (PyDict_SetItem:
 *     last duplicate wins, first position kept, as json.loads);
 *   - array items are pushed on a value stack and moved into a list of the
 *     exact size when the ']' is read (no list over-allocation);
 *   - strings: the bytes up to the first '"', '\\', control character or
 *     non-ASCII byte are found 16 (SSE2) or 8 (SWAR) bytes at a time; a
 *     plain ASCII string is PyUnicode_New(n, 127) + memcpy; escapes are
 *     decoded into a scratch buffer; non-ASCII text goes through CPython's
 *     strict UTF-8 decoder (RFC 3629: no overlongs, surrogates, > U+10FFFF);
 *   - object keys: ASCII keys without escapes up to 64 bytes come from a
 *     1024-slot cache of interned str, so a repeated key costs a hash and a
 *     memcmp;
 *   - integers up to 19 digits are accumulated in a uint64; longer ones go
 *     through PyLong_FromString (arbitrary precision, like json.loads);
 *   - floats: Clinger's fast path (a mantissa <= 2^53 times or divided by an
 *     exact power of ten <= 10^22 is correctly rounded by one IEEE
 *     operation; W. D. Clinger, "How to read floating point numbers
 *     accurately", PLDI 1990), otherwise PyOS_string_to_double on a
 *     NUL-terminated copy (David Gay's correctly rounded strtod), so every
 *     float is bit-for-bit float(text).
 * The grammar is RFC 8259 §2-§8; error messages follow json.decoder's. */
#include "zenws_json.h"
#include "zenws_compat.h"
#include "zenws_cpu.h"
#include "zenws_jstr.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* ZENWS_JSON_NO_SIMD=1 forces the portable SWAR path (used to test it). */
#if !defined(ZENWS_JSON_NO_SIMD) && \
    (defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2))
#  include <emmintrin.h>
#  define ZENWS_JSON_SSE2 1
#else
#  define ZENWS_JSON_SSE2 0
#endif

/* Clinger's fast path needs double arithmetic without extended precision. */
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
#  define ZENWS_JSON_FAST_FLOAT 1
#else
#  define ZENWS_JSON_FAST_FLOAT 0
#endif

#define VALUE_STACK_LOCAL 128   /* array items held on the C stack first */
#define SCRATCH_LOCAL 256       /* unescaped strings up to this size: C stack */
#define NUMBER_LOCAL 64         /* number copies up to this size: C stack */

#if ZENWS_JSON_SSE2 && (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#  include <immintrin.h>
#  define ZENWS_JSON_AVX2 1
#  define ZENWS_JSON_TARGET_AVX2 __attribute__((target("avx2")))
#else
#  define ZENWS_JSON_AVX2 0
#endif

#include <stdlib.h>

/* ------------------------------------------------------------ kernel choice */

/* Read by the string scans of this file and of zenws_jsonenc.c.  Written at
 * import (zenws_json_kernel_init) and by the test hook only. */
int zenws_json_simd = ZENWS_JSON_SSE2 ? ZENWS_JSON_KERNEL_SSE2 : ZENWS_JSON_KERNEL_SWAR;

static const char *const json_kernel_names[3] = {"swar", "sse2", "avx2"};

static int json_kernel_supported(int k) {
    if (k == ZENWS_JSON_KERNEL_SWAR) return 1;
    if (k == ZENWS_JSON_KERNEL_SSE2) return ZENWS_JSON_SSE2;
#if ZENWS_JSON_AVX2
    if (k == ZENWS_JSON_KERNEL_AVX2) return (zenws_cpu_features() & ZENWS_CPU_AVX2) != 0;
#endif
    return 0;
}

static int json_kernel_best(void) {
    const int cap = zenws_cpu_cap();
    int k;
    for (k = ZENWS_JSON_KERNEL_AVX2; k > ZENWS_JSON_KERNEL_SWAR; k--)
        if (zenws_cpu_level_of(json_kernel_names[k]) <= cap && json_kernel_supported(k)) return k;
    return ZENWS_JSON_KERNEL_SWAR;
}

const char *zenws_json_kernel(void) { return json_kernel_names[zenws_json_simd]; }

int zenws_json_set_kernel(const char *name) {
    int k;
    if (name == NULL) return -1;
    if (strcmp(name, "auto") == 0) {
        zenws_json_simd = json_kernel_best();
        return 0;
    }
    for (k = 0; k < 3; k++) {
        if (strcmp(name, json_kernel_names[k]) == 0 && json_kernel_supported(k)) {
            zenws_json_simd = k;
            return 0;
        }
    }
    return -1;
}

const char *zenws_json_kernel_init(void) {
    const char *want = zenws_cpu_forced("JSON");
    if (want == NULL || want[0] == '\0' || zenws_json_set_kernel(want) != 0)
        zenws_json_simd = json_kernel_best();
    return zenws_json_kernel();
}

/* ------------------------------------------------------------ tables */

/* Bytes that end the plain part of a string: '"', '\\', the control
 * characters RFC 8259 §7 forbids unescaped, and every non-ASCII byte. */
static const unsigned char str_stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20: '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50: '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x70 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x80.. non-ASCII */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* Exact powers of ten: 10^22 is the largest one a double holds exactly. */
static const double pow10_exact[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* RFC 8259 §2: the four whitespace bytes. */
#define WS_MASK ((1ULL << ' ') | (1ULL << '\t') | (1ULL << '\n') | (1ULL << '\r'))
#define IS_WS(c) ((unsigned char)(c) <= ' ' && ((WS_MASK >> (unsigned char)(c)) & 1))
#define IS_DIGIT(c) ((unsigned char)((c) - '0') < 10)
/* Compact JSON has no whitespace between tokens and json.dumps' default
 * separators put exactly one space after ',' and ':', so those two cases
 * are tested first. */
ZENWS_INLINE const char *skip_ws(const char *p, const char *end) {
    if (ZENWS_LIKELY(p < end) && *p == ' ') p++;
    if (ZENWS_UNLIKELY(p < end && (unsigned char)*p <= ' '))
        while (p < end && IS_WS(*p)) p++;
    return p;
}
#define SKIP_WS(p, end) ((p) = skip_ws((p), (end)))

/* ------------------------------------------------------------ errors */

typedef struct {
    const char *buf;
    const char *end;
} json_ctx;

/* Raise json.JSONDecodeError(msg, doc, pos); pos is the byte offset of
 * ``at`` and doc the input decoded with errors="replace".  Error path only,
 * so the class is looked up each time (no cached global). */
static void json_error(const json_ctx *cx, const char *msg, const char *at) {
    PyObject *mod, *cls, *doc, *exc;
    mod = PyImport_ImportModule("json.decoder");
    if (mod == NULL) return;
    cls = PyObject_GetAttrString(mod, "JSONDecodeError");
    Py_DECREF(mod);
    if (cls == NULL) return;
    doc = PyUnicode_DecodeUTF8(cx->buf, cx->end - cx->buf, "replace");
    if (doc == NULL) {
        Py_DECREF(cls);
        return;
    }
    exc = PyObject_CallFunction(cls, "sOn", msg, doc, (Py_ssize_t)(at - cx->buf));
    Py_DECREF(doc);
    if (exc != NULL) {
        PyErr_SetObject(cls, exc);
        Py_DECREF(exc);
    }
    Py_DECREF(cls);
}

/* Index of the first byte of s[0..n) that is not part of well-formed UTF-8
 * (Unicode Table 3-7), or n.  Error path only. */
static Py_ssize_t utf8_first_bad(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        unsigned char lo = 0x80, hi = 0xBF;
        int need;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else return i;
        if (i + 1 >= n || s[i + 1] < lo || s[i + 1] > hi) return i;
        for (int k = 2; k <= need; k++)
            if (i + k >= n || s[i + k] < 0x80 || s[i + k] > 0xBF) return i;
        i += need + 1;
    }
    return n;
}

/* ------------------------------------------------------------ strings */

#if ZENWS_JSON_AVX2
/* AVX2 part of skip_plain for long strings (end - p >= 32): 64 bytes per
 * iteration, one test for both vectors.  Run-time dispatch only. */
ZENWS_JSON_TARGET_AVX2 static const char *skip_plain_avx2(const char *p, const char *end) {
    const __m256i quote = _mm256_set1_epi8('"');
    const __m256i bslash = _mm256_set1_epi8('\\');
    const __m256i space = _mm256_set1_epi8(0x20);
    unsigned int m;
#  define JSON_HITS256(v)                                                                  \
    _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, bslash)), \
                    _mm256_cmpgt_epi8(space, v))
    while (end - p >= 64) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)p);
        __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
        __m256i ha = JSON_HITS256(a), hb = JSON_HITS256(b);
        if (!_mm256_testz_si256(_mm256_or_si256(ha, hb), _mm256_or_si256(ha, hb))) {
            m = (unsigned int)_mm256_movemask_epi8(ha);
            if (m) return p + zenws_ctz32(m);
            return p + 32 + zenws_ctz32((unsigned int)_mm256_movemask_epi8(hb));
        }
        p += 64;
    }
    if (end - p >= 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)p);
        m = (unsigned int)_mm256_movemask_epi8(JSON_HITS256(v));
        if (m) return p + zenws_ctz32(m);
        p += 32;
    }
    if (p < end) {
        /* The 32 bytes that end at `end` (the string began >= 32 bytes
         * before p); the first 32 - (end - p) of them were checked. */
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(end - 32));
        m = (unsigned int)_mm256_movemask_epi8(JSON_HITS256(v)) >> (32 - (end - p));
        if (m) return p + zenws_ctz32(m);
        return end;
    }
#  undef JSON_HITS256
    return p;
}
#endif

/* First byte in [p, end) that str_stop flags, or end.  `simd` is a
 * ZENWS_JSON_KERNEL_* constant: the parser is compiled once per kernel family
 * (see zenws_json_loads), so the common case pays no kernel test per string. */
ZENWS_INLINE const char *skip_plain(const char *p, const char *end, const int simd) {
#if ZENWS_JSON_SSE2
    if (simd != ZENWS_JSON_KERNEL_SWAR) {
        const __m128i quote = _mm_set1_epi8('"');
        const __m128i bslash = _mm_set1_epi8('\\');
        const __m128i space = _mm_set1_epi8(0x20);
        unsigned int mask;
        /* Signed v < 0x20 holds for 0x00..0x1F and for 0x80..0xFF. */
#  define JSON_HITS128(v)                                                               \
    (unsigned int)_mm_movemask_epi8(_mm_or_si128(                                       \
        _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)), _mm_cmplt_epi8(v, space)))
        if (end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
            mask = JSON_HITS128(v);
            if (mask) return p + zenws_ctz32(mask);
            p += 16;
            if (end - p >= 16) {
                v = _mm_loadu_si128((const __m128i *)(const void *)p);
                mask = JSON_HITS128(v);
                if (mask) return p + zenws_ctz32(mask);
                p += 16;
#  if ZENWS_JSON_AVX2
                /* 32 bytes without a stop: a long string, AVX2 if chosen. */
                if (end - p >= 32 && zenws_json_simd == ZENWS_JSON_KERNEL_AVX2)
                    return skip_plain_avx2(p, end);
#  endif
                while (end - p >= 16) {
                    v = _mm_loadu_si128((const __m128i *)(const void *)p);
                    mask = JSON_HITS128(v);
                    if (mask) return p + zenws_ctz32(mask);
                    p += 16;
                }
            }
        }
#  undef JSON_HITS128
        while (p < end && !str_stop[(unsigned char)*p]) p++;
        return p;
    }
#endif
    {
        /* SWAR: does the word hold a '"' / '\\' byte, a byte < 0x20 or a byte
         * >= 0x80?  Exact as a yes/no answer; the position is found below. */
        const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
        (void)simd;
        while (end - p >= 8) {
            uint64_t w, q, b, hit;
            memcpy(&w, p, 8);
            q = w ^ (ones * '"');
            b = w ^ (ones * '\\');
            hit = ((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w;
            if (hit & high) break;
            p += 8;
        }
    }
    while (p < end && !str_stop[(unsigned char)*p]) p++;
    return p;
}

ZENWS_INLINE PyObject *ascii_str(const char *s, Py_ssize_t n) {
    PyObject *u = PyUnicode_New(n, 127);
    if (ZENWS_LIKELY(u != NULL)) memcpy(PyUnicode_1BYTE_DATA(u), s, (size_t)n);
    return u;
}

/* Strict UTF-8 decode of s[0..n); on invalid UTF-8 a JSONDecodeError at the
 * first bad byte of the raw string raw[0..rawn). */
static PyObject *utf8_str(const json_ctx *cx, const char *s, Py_ssize_t n,
                          const char *raw, Py_ssize_t rawn) {
    PyObject *u = PyUnicode_DecodeUTF8(s, n, NULL);
    if (u == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        json_error(cx, "Invalid UTF-8 in string",
                   raw + utf8_first_bad((const unsigned char *)raw, rawn));
    }
    return u;
}

/* Decode the escapes of the string body s[0..e) into out (the JSON string
 * unit, strict).  Returns the length, or -1 with a JSONDecodeError.  *wide is
 * set when the output is not ASCII. */
static Py_ssize_t unescape(const json_ctx *cx, const char *s, const char *e, char *out,
                           int *wide) {
    const char *bad = s;
    Py_ssize_t n = zenws_jstr_unescape(s, e - s, out, 1, &bad, wide);
    if (ZENWS_LIKELY(n >= 0)) return n;
    json_error(cx,
               n == ZENWS_JSTR_BAD_U            ? "Invalid \\uXXXX escape"
               : n == ZENWS_JSTR_LONE_SURROGATE ? "Lone surrogate in \\u escape"
                                                : "Invalid \\escape",
               bad);
    return -1;
}

/* The general string case: q is the first stop byte after the opening
 * quote that precedes s.  Finds the closing quote, then decodes. */
static PyObject *string_slow(const json_ctx *cx, const char *s, const char *q,
                             const char **pp) {
    const char *end = cx->end;
    int escaped = 0, wide = 0;
    Py_ssize_t n, m;
    char local[SCRATCH_LOCAL];
    char *tmp;
    PyObject *u;
    for (;;) {
        unsigned char c;
        if (q >= end) {
            json_error(cx, "Unterminated string starting at", s - 1);
            return NULL;
        }
        c = (unsigned char)*q;
        if (c == '"') break;
        if (c == '\\') {
            if (end - q < 2) {
                json_error(cx, "Unterminated string starting at", s - 1);
                return NULL;
            }
            escaped = 1;
            q += 2;
        } else if (c < 0x20) {
            json_error(cx, "Invalid control character at", q);
            return NULL;
        } else {
            wide = 1;
            q++;
        }
        q = skip_plain(q, end, zenws_json_simd);
    }
    *pp = q + 1;
    n = q - s;
    if (!escaped) return wide ? utf8_str(cx, s, n, s, n) : ascii_str(s, n);
    tmp = n <= SCRATCH_LOCAL ? local : (char *)PyMem_Malloc((size_t)n);
    if (tmp == NULL) return PyErr_NoMemory();
    m = unescape(cx, s, q, tmp, &wide);
    if (m < 0) u = NULL;
    else u = wide ? utf8_str(cx, tmp, m, s, n) : ascii_str(tmp, m);
    if (tmp != local) PyMem_Free(tmp);
    return u;
}

/* ------------------------------------------------------------ str caches */

/* A cache entry remembers its string's bytes as two words a, b: for n <= 16
 * (a, b, n) determine the bytes exactly (overlapping loads cover them all),
 * so a hit costs three compares; longer keys also need a memcmp. */
typedef struct {
    uint64_t a, b;
    Py_ssize_t n;
    PyObject *str; /* NULL when empty */
} str_slot;

/* The only global state.  Keys: ASCII keys without escapes up to
 * ZENWS_JSON_KEY_CACHE_MAX bytes, interned.  Values: ASCII string values up
 * to 16 bytes ("2.0", "BTC-PERPETUAL", "new", "buy"), not interned.  Entries
 * are filled on first sight and replaced when another string takes their
 * slot.  Guarded by the GIL (the module is not free-threading compatible). */
static str_slot key_cache[ZENWS_JSON_KEY_CACHE_SLOTS];
static str_slot value_cache[ZENWS_JSON_KEY_CACHE_SLOTS];

#define VALUE_CACHE_MAX 16

ZENWS_INLINE void str_words(const char *s, Py_ssize_t n, uint64_t *a, uint64_t *b) {
    if (n >= 8) {
        memcpy(a, s, 8);
        memcpy(b, s + n - 8, 8);
    } else if (n >= 4) {
        uint32_t x, y;
        memcpy(&x, s, 4);
        memcpy(&y, s + n - 4, 4);
        *a = x;
        *b = y;
    } else {
        *a = n ? (uint64_t)(unsigned char)s[0] | ((uint64_t)(unsigned char)s[n / 2] << 8) |
                     ((uint64_t)(unsigned char)s[n - 1] << 16)
               : 0;
        *b = 0;
    }
}

ZENWS_INLINE int slot_match(const str_slot *slot, uint64_t a, uint64_t b, const char *s,
                            Py_ssize_t n) {
    return slot->a == a && slot->b == b && slot->n == n && slot->str != NULL &&
           (n <= 16 || memcmp(PyUnicode_1BYTE_DATA(slot->str), s, (size_t)n) == 0);
}

/* Cache miss: a new str for s[0..n) goes to ``slot``, whose occupant moves
 * to ``other`` (evicting other's occupant). */
static PyObject *cache_insert(str_slot *slot, str_slot *other, const char *s, Py_ssize_t n,
                              uint64_t a, uint64_t b, int intern) {
    PyObject *u = ascii_str(s, n), *evicted;
    if (u == NULL) return NULL;
    if (intern) PyUnicode_InternInPlace(&u);
    evicted = other->str;
    *other = *slot;
    Py_INCREF(u);
    slot->a = a;
    slot->b = b;
    slot->n = n;
    slot->str = u;
    Py_XDECREF(evicted);
    return u;
}

/* The str of the ASCII bytes s[0..n) from ``cache`` (a new reference).
 * Two-way set associative: the hash picks a pair of slots and a string may
 * sit in either; a new string goes to the first slot and the previous
 * occupant of the first slot moves to the second (evicting the second's),
 * so two strings that share a pair do not evict each other. */
ZENWS_INLINE PyObject *cached_str(str_slot *cache, const char *s, Py_ssize_t n, int intern) {
    uint64_t a, b, h;
    str_slot *pair;
    str_words(s, n, &a, &b);
    /* Multiplicative hashing: the top bits of the product depend on every
     * input bit, so the pair is taken from there. */
    h = (a * 0x9E3779B97F4A7C15ULL) ^ ((b + (uint64_t)n) * 0xC2B2AE3D27D4EB4FULL);
    pair = &cache[(h >> 54) & (ZENWS_JSON_KEY_CACHE_SLOTS - 2)];
    if (ZENWS_LIKELY(slot_match(&pair[0], a, b, s, n))) {
        Py_INCREF(pair[0].str);
        return pair[0].str;
    }
    if (slot_match(&pair[1], a, b, s, n)) {
        Py_INCREF(pair[1].str);
        return pair[1].str;
    }
    return cache_insert(&pair[0], &pair[1], s, n, a, b, intern);
}

/* *pp points at the opening quote; on success it is moved past the closing one. */
ZENWS_INLINE PyObject *parse_string(const json_ctx *cx, const char **pp, const int simd) {
    const char *s = *pp + 1;
    const char *q = skip_plain(s, cx->end, simd);
    if (ZENWS_LIKELY(q < cx->end && *q == '"')) {
        *pp = q + 1;
        if (q - s <= VALUE_CACHE_MAX) return cached_str(value_cache, s, q - s, 0);
        return ascii_str(s, q - s);
    }
    return string_slow(cx, s, q, pp);
}

/* *pp points at the opening quote of an object key. */
ZENWS_INLINE PyObject *parse_key(const json_ctx *cx, const char **pp, const int simd) {
    const char *s = *pp + 1;
    const char *q = skip_plain(s, cx->end, simd);
    if (ZENWS_LIKELY(q < cx->end && *q == '"')) {
        *pp = q + 1;
        if (ZENWS_LIKELY(q - s <= ZENWS_JSON_KEY_CACHE_MAX))
            return cached_str(key_cache, s, q - s, 1);
        return ascii_str(s, q - s);
    }
    return string_slow(cx, s, q, pp);
}

/* ------------------------------------------------------------ numbers */

static const uint64_t pow10_u64[9] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
};

/* Value of the 8 decimal digit values (0..9, one per byte, the first digit
 * in the lowest byte) of d (the technique of simdjson / fast_float,
 * "parse_eight_digits_unrolled"). */
ZENWS_INLINE uint64_t value_8digits(uint64_t d) {
    const uint64_t mask = 0x000000FF000000FFULL;
    const uint64_t mul1 = 0x000F424000000064ULL; /* 100 + (1000000 << 32) */
    const uint64_t mul2 = 0x0000271000000001ULL; /* 1 + (10000 << 32) */
    d = (d * 10) + (d >> 8);
    return (((d & mask) * mul1) + (((d >> 16) & mask) * mul2)) >> 32;
}

/* Read the run of digits at p (possibly empty).  Up to 19 significant
 * digits are accumulated into *m (*digits counts them); more set *many.
 * Leading zeros while *m == 0 are not significant.  *consumed counts the
 * digits read except the non-significant ones dropped by *many. */
ZENWS_INLINE const char *digit_run(const char *p, const char *end, uint64_t *m, int *digits,
                                   int *many, int64_t *consumed) {
#if !ZENWS_BIG_ENDIAN
    /* 8 bytes at a time: subtract '0' from every byte; a byte is a digit
     * iff the result is <= 9.  Borrows and carries only travel from a
     * non-digit byte to later bytes, so the first non-digit is exact.  The
     * k leading digits are then shifted to the top of the word (zero bytes,
     * i.e. leading zeros, come in below) and converted at once. */
    while (end - p >= 8) {
        uint64_t w, d, stop;
        int k;
        memcpy(&w, p, 8);
        d = w - 0x3030303030303030ULL;
        stop = ((d + 0x7676767676767676ULL) | d) & 0x8080808080808080ULL;
        k = stop ? zenws_ctz64(stop) >> 3 : 8;
        if (k == 0) return p;
        if (*digits + k > 19 || (*m == 0 && *p == '0')) break;
        if (k <= 2) {
            /* Short runs ("5" of 37010.5): two multiply-adds beat the SWAR sum. */
            *m = *m * 10 + (uint64_t)(p[0] - '0');
            if (k == 2) *m = *m * 10 + (uint64_t)(p[1] - '0');
        } else {
            *m = *m * pow10_u64[k] + value_8digits(k == 8 ? d : d << (8 * (8 - k)));
        }
        *digits += k;
        *consumed += k;
        p += k;
        if (k < 8) return p;
    }
#endif
    while (p < end && IS_DIGIT(*p)) {
        if (*m == 0 && *p == '0') {
            (*consumed)++;  /* leading zeros of 0.00123 */
        } else if (*digits < 19) {
            *m = *m * 10 + (uint64_t)(*p - '0');
            (*digits)++;
            (*consumed)++;
        } else {
            *many = 1;
        }
        p++;
    }
    return p;
}

/* Number text [s, e) checked against the grammar: exact conversion by
 * CPython (arbitrary-precision int, correctly rounded float). */
static PyObject *number_slow(const json_ctx *cx, const char *s, const char *e, int is_float) {
    char local[NUMBER_LOCAL];
    size_t n = (size_t)(e - s);
    char *tmp = n < NUMBER_LOCAL ? local : (char *)PyMem_Malloc(n + 1);
    PyObject *r;
    if (tmp == NULL) return PyErr_NoMemory();
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (is_float) {
        double d = PyOS_string_to_double(tmp, NULL, NULL);
        if (d == -1.0 && PyErr_Occurred()) r = NULL;
        else if (isinf(d)) {
            /* RFC 8259 §6 lets a parser limit the range; json.loads would
             * give inf, orjson rejects: so do we. */
            json_error(cx, "Number out of range", s);
            r = NULL;
        } else r = PyFloat_FromDouble(d);
    } else {
        r = PyLong_FromString(tmp, NULL, 10);
    }
    if (tmp != local) PyMem_Free(tmp);
    return r;
}

/* RFC 8259 §6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
 * *pp points at '-' or a digit; on success it is moved past the number. */
ZENWS_INLINE PyObject *parse_number(const json_ctx *cx, const char **pp) {
    const char *s = *pp, *p = s, *end = cx->end;
    uint64_t m = 0;
    int neg = 0, digits = 0, many = 0, is_float = 0;
    int64_t frac = 0, expo = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (p < end && *p == '0') {
        p++;
    } else if (p < end && IS_DIGIT(*p)) {
        int64_t unused = 0;
        p = digit_run(p, end, &m, &digits, &many, &unused);
    } else {
        json_error(cx, "Expecting value", s);
        return NULL;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !IS_DIGIT(*p)) {
            json_error(cx, "Expecting digits after '.' in number", s);
            return NULL;
        }
        is_float = 1;
        p = digit_run(p, end, &m, &digits, &many, &frac);
    }
    if (p < end && (*p | 0x20) == 'e') {
        int eneg = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        if (p >= end || !IS_DIGIT(*p)) {
            json_error(cx, "Expecting digits in number exponent", s);
            return NULL;
        }
        is_float = 1;
        do {
            if (expo < 100000000) expo = expo * 10 + (*p - '0');
            else many = 1;  /* absurd exponent: leave it to strtod */
            p++;
        } while (p < end && IS_DIGIT(*p));
        if (eneg) expo = -expo;
    }
    *pp = p;
    if (!is_float) {
        if (ZENWS_LIKELY(!many)) {
            if (!neg) return PyLong_FromUnsignedLongLong(m);
            if (m <= (uint64_t)INT64_MAX + 1) return PyLong_FromLongLong((long long)(0 - m));
        }
        return number_slow(cx, s, p, 0);
    }
#if ZENWS_JSON_FAST_FLOAT
    if (!many && m <= (1ULL << 53)) {
        int64_t e10 = expo - frac;
        double d = (double)m;
        if (m == 0 || (e10 >= -22 && e10 <= 22)) {
            if (e10 < 0) d /= pow10_exact[-e10 > 22 ? 0 : -e10];
            else d *= pow10_exact[e10 > 22 ? 0 : e10];
            return PyFloat_FromDouble(neg ? -d : d);
        }
    }
#endif
    return number_slow(cx, s, p, 1);
}

/* ------------------------------------------------------------ the parser */

typedef struct {
    PyObject *dict;   /* object being filled, or NULL for an array */
    PyObject *key;    /* key waiting for its value (objects) */
    Py_ssize_t base;  /* first item on the value stack (arrays) */
} json_frame;

ZENWS_INLINE PyObject *json_loads_impl(const char *buf, Py_ssize_t len, const int simd) {
    json_ctx cx = {buf, buf + len};
    const char *p = buf, *end = buf + len;
    json_frame frames[ZENWS_JSON_MAX_DEPTH];
    json_frame *f;
    int depth = 0;
    PyObject *local[VALUE_STACK_LOCAL];
    PyObject **vs = local;
    Py_ssize_t vn = 0, vcap = VALUE_STACK_LOCAL, i;
    PyObject *v = NULL;

value:
    SKIP_WS(p, end);
    if (ZENWS_UNLIKELY(p >= end)) {
        json_error(&cx, "Expecting value", p);
        goto fail;
    }
    switch (*p) {
    case '"':
        v = parse_string(&cx, &p, simd);
        if (v == NULL) goto fail;
        break;
    case '{':
        if (ZENWS_UNLIKELY(depth == ZENWS_JSON_MAX_DEPTH)) goto too_deep;
        v = PyDict_New();
        if (v == NULL) goto fail;
        p++;
        SKIP_WS(p, end);
        if (p < end && *p == '}') {
            p++;
            break;
        }
        frames[depth].dict = v;
        frames[depth].key = NULL;
        depth++;
        v = NULL;
        goto key;
    case '[':
        if (ZENWS_UNLIKELY(depth == ZENWS_JSON_MAX_DEPTH)) goto too_deep;
        p++;
        SKIP_WS(p, end);
        if (p < end && *p == ']') {
            p++;
            v = PyList_New(0);
            if (v == NULL) goto fail;
            break;
        }
        frames[depth].dict = NULL;
        frames[depth].key = NULL;
        frames[depth].base = vn;
        depth++;
        goto value;
    case 't':
        if (end - p < 4 || memcmp(p, "true", 4) != 0) goto bad_value;
        p += 4;
        v = Py_True;
        Py_INCREF(v);
        break;
    case 'f':
        if (end - p < 5 || memcmp(p, "false", 5) != 0) goto bad_value;
        p += 5;
        v = Py_False;
        Py_INCREF(v);
        break;
    case 'n':
        if (end - p < 4 || memcmp(p, "null", 4) != 0) goto bad_value;
        p += 4;
        v = Py_None;
        Py_INCREF(v);
        break;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        v = parse_number(&cx, &p);
        if (v == NULL) goto fail;
        break;
    default:
        goto bad_value;
    }

have_value:
    if (ZENWS_UNLIKELY(depth == 0)) goto done;
    f = &frames[depth - 1];
    if (f->dict != NULL) {
        int rc = PyDict_SetItem(f->dict, f->key, v);
        Py_CLEAR(f->key);
        Py_CLEAR(v);
        if (rc < 0) goto fail;
        SKIP_WS(p, end);
        if (ZENWS_LIKELY(p < end)) {
            if (*p == ',') {
                p++;
                SKIP_WS(p, end);
                goto key;
            }
            if (*p == '}') {
                p++;
                v = f->dict;
                f->dict = NULL;
                depth--;
                goto have_value;
            }
        }
        json_error(&cx, "Expecting ',' delimiter", p);
        goto fail;
    }
    if (ZENWS_UNLIKELY(vn == vcap)) {
        PyObject **grown;
        if (vs == local) {
            grown = PyMem_Malloc(2 * (size_t)vcap * sizeof(PyObject *));
            if (grown != NULL) memcpy(grown, local, (size_t)vn * sizeof(PyObject *));
        } else {
            grown = PyMem_Realloc(vs, 2 * (size_t)vcap * sizeof(PyObject *));
        }
        if (grown == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
        vs = grown;
        vcap *= 2;
    }
    vs[vn++] = v;
    v = NULL;
    SKIP_WS(p, end);
    if (ZENWS_LIKELY(p < end)) {
        if (*p == ',') {
            p++;
            goto value;
        }
        if (*p == ']') {
            Py_ssize_t n = vn - f->base;
            p++;
            v = PyList_New(n);
            if (v == NULL) goto fail;
            for (i = 0; i < n; i++) PyList_SET_ITEM(v, i, vs[f->base + i]);
            vn = f->base;
            depth--;
            goto have_value;
        }
    }
    json_error(&cx, "Expecting ',' delimiter", p);
    goto fail;

key:
    if (ZENWS_UNLIKELY(p >= end || *p != '"')) {
        json_error(&cx, "Expecting property name enclosed in double quotes", p);
        goto fail;
    }
    frames[depth - 1].key = parse_key(&cx, &p, simd);
    if (frames[depth - 1].key == NULL) goto fail;
    SKIP_WS(p, end);
    if (ZENWS_UNLIKELY(p >= end || *p != ':')) {
        json_error(&cx, "Expecting ':' delimiter", p);
        goto fail;
    }
    p++;
    goto value;

done:
    SKIP_WS(p, end);
    if (ZENWS_UNLIKELY(p != end)) {
        json_error(&cx, "Extra data", p);
        goto fail;
    }
    if (vs != local) PyMem_Free(vs);
    return v;

bad_value:
    json_error(&cx, "Expecting value", p);
    goto fail;
too_deep:
    json_error(&cx, "Nesting deeper than 1024 levels", p);
fail:
    Py_XDECREF(v);
    for (i = 0; i < depth; i++) {
        Py_XDECREF(frames[i].dict);
        Py_XDECREF(frames[i].key);
    }
    for (i = 0; i < vn; i++) Py_DECREF(vs[i]);
    if (vs != local) PyMem_Free(vs);
    return NULL;
}

/* The parser compiled twice: with the SIMD string scan (sse2; avx2 takes
 * over inside long strings) and with the portable one.  One kernel test per
 * document instead of one per string. */
static PyObject *json_loads_simd(const char *buf, Py_ssize_t len) {
    return json_loads_impl(buf, len, ZENWS_JSON_KERNEL_SSE2);
}

static PyObject *json_loads_swar(const char *buf, Py_ssize_t len) {
    return json_loads_impl(buf, len, ZENWS_JSON_KERNEL_SWAR);
}

PyObject *zenws_json_loads(const char *buf, Py_ssize_t len) {
    if (ZENWS_LIKELY(zenws_json_simd != ZENWS_JSON_KERNEL_SWAR)) return json_loads_simd(buf, len);
    return json_loads_swar(buf, len);
}
