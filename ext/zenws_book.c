/* zenws_book.c - L2 order book storage, sequence policies and the Deribit
 * wire parser.  See src/zenws/include/zenws_book.h for the contract. */
#include "zenws_book.h"
#include "zenws_compat.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Clinger's fast path needs double arithmetic without extended precision. */
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
#  define ZB_FAST_FLOAT 1
#else
#  define ZB_FAST_FLOAT 0
#endif

#define ZB_MAX_DEPTH 64      /* nesting accepted inside a book message */
#define ZB_NUMBER_MAX 400    /* longest number text handed to the slow path */

static double default_strtod(const char *s) { return strtod(s, NULL); }
double (*zenws_book_strtod)(const char *s) = default_strtod;

/* ------------------------------------------------------------ storage */

void zenws_book_init(zenws_book *b, int policy) {
    memset(b, 0, sizeof(*b));
    b->policy = policy;
    b->stale = 1;
}

void zenws_book_free(zenws_book *b) {
    free(b->side[0].lv);
    free(b->side[1].lv);
    free(b->ops);
    b->side[0].lv = b->side[1].lv = NULL;
    b->ops = NULL;
    b->side[0].n = b->side[1].n = b->side[0].cap = b->side[1].cap = 0;
    b->nops = b->ops_cap = 0;
}

void zenws_book_clear(zenws_book *b) { b->side[0].n = b->side[1].n = 0; }

void zenws_book_invalidate(zenws_book *b) {
    zenws_book_clear(b);
    b->stale = 1;
    b->synced = 0;
    b->stale_why = ZB_WHY_INVALIDATED;
}

static int side_reserve(zenws_side *s, size_t extra) {
    size_t need = s->n + extra, cap = s->cap ? s->cap : 64;
    zenws_level *lv;
    if (need <= s->cap) return 0;
    if (need < s->n) return ZB_ENOMEM; /* overflow */
    while (cap < need) {
        if (cap > ((size_t)-1) / 2 / sizeof(zenws_level)) return ZB_ENOMEM;
        cap *= 2;
    }
    lv = (zenws_level *)realloc(s->lv, cap * sizeof(zenws_level));
    if (lv == NULL) return ZB_ENOMEM;
    s->lv = lv;
    s->cap = cap;
    return 0;
}

int zenws_book_reserve(zenws_book *b, size_t extra_bid, size_t extra_ask) {
    if (side_reserve(&b->side[ZB_BID], extra_bid)) return ZB_ENOMEM;
    return side_reserve(&b->side[ZB_ASK], extra_ask);
}

int zenws_book_ops_reserve(zenws_book *b, size_t n) {
    size_t cap = b->ops_cap ? b->ops_cap : 64;
    zenws_op *ops;
    if (n <= b->ops_cap) return 0;
    while (cap < n) {
        if (cap > ((size_t)-1) / 2 / sizeof(zenws_op)) return ZB_ENOMEM;
        cap *= 2;
    }
    ops = (zenws_op *)realloc(b->ops, cap * sizeof(zenws_op));
    if (ops == NULL) return ZB_ENOMEM;
    b->ops = ops;
    b->ops_cap = cap;
    return 0;
}

/* First index whose key is >= key (n when none).  Gallops down from the
 * best level: feeds update near the top, so this usually ends after a few
 * probes; the worst case is 2 log2(n) comparisons. */
ZENWS_INLINE size_t lower_bound(const zenws_side *s, double key) {
    const zenws_level *lv = s->lv;
    size_t n = s->n, step = 1, lo, hi;
    if (n == 0 || lv[n - 1].key < key) return n;
    while (step < n && lv[n - 1 - step].key >= key) step *= 2;
    lo = step < n ? n - step : 0;     /* lv[lo - 1] < key (or lo == 0) */
    hi = n - 1 - step / 2;            /* lv[hi] >= key */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lv[mid].key < key) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Set (amount > 0) or delete (amount == 0) the level at key.  The caller
 * reserved room for one insert. */
ZENWS_INLINE void side_set(zenws_side *s, double key, double amount) {
    size_t i = lower_bound(s, key);
    zenws_level *lv = s->lv;
    if (i < s->n && lv[i].key == key) {
        if (amount != 0.0) {
            lv[i].amount = amount;
        } else {
            memmove(lv + i, lv + i + 1, (s->n - i - 1) * sizeof(zenws_level));
            s->n--;
        }
    } else if (amount != 0.0) {
        memmove(lv + i + 1, lv + i, (s->n - i) * sizeof(zenws_level));
        lv[i].key = key;
        lv[i].amount = amount;
        s->n++;
    }
}

int zenws_book_set(zenws_book *b, int side, double price, double amount) {
    zenws_side *s = &b->side[side];
    if (amount != 0.0 && side_reserve(s, 1)) return ZB_ENOMEM;
    side_set(s, side == ZB_BID ? price : -price, amount);
    return 0;
}

double zenws_book_depth(const zenws_book *b, int side, double price) {
    const zenws_side *s = &b->side[side];
    double key = side == ZB_BID ? price : -price;
    size_t i = lower_bound(s, key);
    return (i < s->n && s->lv[i].key == key) ? s->lv[i].amount : 0.0;
}

size_t zenws_book_top(const zenws_book *b, int side, double *out, size_t max) {
    const zenws_side *s = &b->side[side];
    size_t k = s->n < max ? s->n : max, i;
    const zenws_level *top = s->lv + s->n;
    for (i = 0; i < k; i++) {
        const zenws_level *l = top - 1 - i;
        out[2 * i] = side == ZB_BID ? l->key : -l->key;
        out[2 * i + 1] = l->amount;
    }
    return k;
}

double zenws_book_vwap(const zenws_book *b, int side, double size) {
    const zenws_side *s = &b->side[side];
    double left = size, notional = 0.0;
    size_t i;
    if (!(size > 0.0)) return NAN;
    for (i = s->n; i > 0 && left > 0.0; i--) {
        const zenws_level *l = &s->lv[i - 1];
        double take = l->amount < left ? l->amount : left;
        notional += take * (side == ZB_BID ? l->key : -l->key);
        left -= take;
    }
    return left > 0.0 ? NAN : notional / size;
}

/* Place the side's snapshot ops.  Venues send a snapshot sorted best first
 * (or worst first); then the levels are copied in one pass.  Anything else
 * (duplicates, zero amounts, no order) goes through side_set. */
static void snapshot_side(zenws_book *b, int side) {
    zenws_side *s = &b->side[side];
    const zenws_op *ops = b->ops;
    size_t i, cnt = 0, j;
    int dir = 0, ok = 1;
    double prev = 0.0;
    s->n = 0;
    for (i = 0; i < b->nops && ok; i++) {
        if (ops[i].side != side) continue;
        if (!(ops[i].amount > 0.0)) ok = 0;
        else if (cnt > 0) {
            int d = ops[i].key > prev ? 1 : (ops[i].key < prev ? -1 : 0);
            if (d == 0 || (dir != 0 && d != dir)) ok = 0;
            dir = d;
        }
        prev = ops[i].key;
        cnt++;
    }
    if (ok) {
        for (i = 0, j = 0; i < b->nops; i++) {
            if (ops[i].side != side) continue;
            size_t at = dir < 0 ? cnt - 1 - j : j;
            s->lv[at].key = ops[i].key;
            s->lv[at].amount = ops[i].amount;
            j++;
        }
        s->n = cnt;
        return;
    }
    for (i = 0; i < b->nops; i++)
        if (ops[i].side == side) side_set(s, ops[i].key, ops[i].amount);
}

int zenws_book_commit_ops(zenws_book *b, int snapshot) {
    size_t i, cnt[2] = {0, 0};
    for (i = 0; i < b->nops; i++) cnt[b->ops[i].side]++;
    if (snapshot) {
        /* capacity for cnt levels once the side is emptied */
        if (cnt[0] > b->side[0].cap && side_reserve(&b->side[0], cnt[0] - b->side[0].n))
            return ZB_ENOMEM;
        if (cnt[1] > b->side[1].cap && side_reserve(&b->side[1], cnt[1] - b->side[1].n))
            return ZB_ENOMEM;
        snapshot_side(b, ZB_BID);
        snapshot_side(b, ZB_ASK);
        return 0;
    }
    if (zenws_book_reserve(b, cnt[0], cnt[1])) return ZB_ENOMEM;
    for (i = 0; i < b->nops; i++)
        side_set(&b->side[b->ops[i].side], b->ops[i].key, b->ops[i].amount);
    return 0;
}

/* ------------------------------------------------------------ sequence policies */

static int gap(zenws_book *b, int has_expected, int64_t expected, int has_got, int64_t got,
               int64_t seq) {
    b->gap_has_expected = has_expected;
    b->gap_expected = expected;
    b->gap_has_got = has_got;
    b->gap_got = got;
    b->gap_seq = seq;
    b->gaps++;
    zenws_book_invalidate(b);
    b->stale_why = ZB_WHY_GAP;
    return ZB_GAP;
}

int zenws_book_check(zenws_book *b, int flags, int64_t seq, int64_t prev, int64_t first) {
    int64_t last = b->last;
    int has_seq = flags & ZB_HAS_SEQ, has_prev = flags & ZB_HAS_PREV;
    int has_first = flags & ZB_HAS_FIRST;
    if (b->stale) return ZB_STALE;
    switch (b->policy) {
    case ZB_SEQ_DERIBIT:
        /* https://docs.deribit.com/#book-instrument_name-interval */
        if (!has_prev || !b->has_last || prev != last)
            return gap(b, b->has_last, last, has_prev, prev, seq);
        return ZB_APPLIED;
    case ZB_SEQ_BINANCE_SPOT:
        /* "How to manage a local order book correctly", Binance spot WebSocket streams */
        if (!has_seq || !has_first || !b->has_last)
            return gap(b, b->has_last, last + 1, has_first, first, seq);
        if (!b->synced) {
            if (seq <= last) return ZB_SKIPPED;
            if (first <= last + 1) return ZB_APPLIED;
        } else if (first == last + 1) {
            return ZB_APPLIED;
        }
        return gap(b, 1, last + 1, 1, first, seq);
    case ZB_SEQ_BINANCE_FUTURES:
        /* USD-M futures: "How to manage a local order book correctly" */
        if (!has_seq || !b->has_last) return gap(b, b->has_last, last, has_prev, prev, seq);
        if (!b->synced) {
            if (seq < last) return ZB_SKIPPED;
            if (has_first && first <= last) return ZB_APPLIED;
            return gap(b, 1, last, has_first, first, seq);
        }
        if (has_prev && prev == last) return ZB_APPLIED;
        return gap(b, 1, last, has_prev, prev, seq);
    case ZB_SEQ_GENERIC:
        if (!has_seq || !b->has_last || seq != last + 1)
            return gap(b, b->has_last, last + 1, has_seq, seq, seq);
        return ZB_APPLIED;
    default:
        return ZB_APPLIED;
    }
}

void zenws_book_snapshot_done(zenws_book *b, int has_seq, int64_t seq, int64_t timestamp) {
    b->has_last = has_seq;
    b->last = has_seq ? seq : 0;
    b->stale = 0;
    b->synced = 0;
    b->timestamp = timestamp;
    b->updates++;
}

/* A delta passed zenws_book_check and was committed. */
static void delta_done(zenws_book *b, int has_seq, int64_t seq, int64_t timestamp) {
    if (has_seq) {
        b->last = seq;
        b->has_last = 1;
    }
    b->synced = 1;
    b->timestamp = timestamp;
    b->updates++;
}

/* ------------------------------------------------------------ JSON cursor */

typedef struct {
    const char *p, *end, *start;
    const char *err;
    const char *errp;
} cur;

static int fail(cur *c, const char *why) {
    if (c->err == NULL) {
        c->err = why;
        c->errp = c->p;
    }
    return -1;
}

/* Byte classes: JSON whitespace, and bytes that end a plain run inside a string. */
#define C_WS 1
#define C_STR 2
static const unsigned char cls[256] = {
    2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 2, 2, 3, 2, 2, /* \t \n \r: whitespace (and control) */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* ' ', '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, /* '\\' */
};

ZENWS_INLINE void ws(cur *c) {
    while (c->p < c->end && (cls[(unsigned char)*c->p] & C_WS)) c->p++;
}

ZENWS_INLINE int expect(cur *c, char ch, const char *why) {
    ws(c);
    if (c->p >= c->end || *c->p != ch) return fail(c, why);
    c->p++;
    return 0;
}

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    ch |= 0x20;
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

/* A string at c->p (after ws): [*s, *s + *n) is its raw text between the
 * quotes; *esc tells whether it holds escapes.  Control characters and bad
 * escapes are errors (UTF-8 is the frame layer's check). */
static int string(cur *c, const char **s, size_t *n, int *esc) {
    const char *p, *end = c->end;
    ws(c);
    if (c->p >= end || *c->p != '"') return fail(c, "expected a string");
    p = ++c->p;
    *esc = 0;
    while (p < end) {
        unsigned char ch = (unsigned char)*p;
        if (ZENWS_LIKELY(!(cls[ch] & C_STR))) {
            p++;
            continue;
        }
        if (ch == '"') {
            *s = c->p;
            *n = (size_t)(p - c->p);
            c->p = p + 1;
            return 0;
        }
        if (ch < 0x20) {
            c->p = p;
            return fail(c, "control character in string");
        }
        if (ch == '\\') {
            *esc = 1;
            if (p + 1 >= end) break;
            ch = (unsigned char)p[1];
            if (ch == 'u') {
                if (p + 6 > end || hexval(p[2]) < 0 || hexval(p[3]) < 0 || hexval(p[4]) < 0 ||
                    hexval(p[5]) < 0) {
                    c->p = p;
                    return fail(c, "bad \\u escape");
                }
                p += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", ch) || ch == 0) {
                c->p = p;
                return fail(c, "bad escape");
            }
            p += 2;
            continue;
        }
        p++;
    }
    c->p = end;
    return fail(c, "unterminated string");
}

/* Key text with escapes decoded when it is short ASCII; else copied raw
 * (then it matches no known key, as it must not). */
static size_t key_text(const char *s, size_t n, int esc, char *out, size_t cap) {
    size_t i = 0, k = 0;
    if (!esc) return n;
    while (i < n && k < cap) {
        if (s[i] != '\\') {
            out[k++] = s[i++];
            continue;
        }
        if (s[i + 1] == 'u') {
            int v = (hexval(s[i + 2]) << 12) | (hexval(s[i + 3]) << 8) | (hexval(s[i + 4]) << 4) |
                    hexval(s[i + 5]);
            out[k++] = (v > 0 && v < 0x80) ? (char)v : '\x01';
            i += 6;
        } else {
            char e = s[i + 1];
            out[k++] = e == 'b' ? '\b' : e == 'f' ? '\f' : e == 'n' ? '\n' : e == 'r' ? '\r'
                     : e == 't' ? '\t' : e;
            i += 2;
        }
    }
    return i < n ? cap + 1 : k;
}

static const double pow10_exact[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* RFC 8259 §6 number -> double (finite).  *is_int: no fraction, no exponent;
 * then *iv holds it when it fits int64 (*int_ok). */
static int number(cur *c, double *out, int *is_int, int64_t *iv, int *int_ok) {
    const char *s, *p, *end = c->end;
    uint64_t m = 0;
    int neg = 0, digits = 0, many = 0, isint = 1;
    int64_t frac = 0, expo = 0;
    ws(c);
    s = p = c->p;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    if (p < end && *p == '0') {
        p++;
    } else if (p < end && *p >= '1' && *p <= '9') {
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            if (digits < 19) m = m * 10 + (uint64_t)(*p - '0');
            else many = 1;
            digits++;
        }
    } else {
        return fail(c, "expected a number");
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') {
            c->p = p;
            return fail(c, "expected digits after '.'");
        }
        isint = 0;
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            if (digits < 19) {
                m = m * 10 + (uint64_t)(*p - '0');
                frac++;
                if (m) digits++;
            } else if (*p != '0') {
                many = 1;
            }
        }
    }
    if (p < end && (*p | 0x20) == 'e') {
        int eneg = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        if (p >= end || *p < '0' || *p > '9') {
            c->p = p;
            return fail(c, "expected digits in exponent");
        }
        isint = 0;
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            if (expo < 100000) expo = expo * 10 + (*p - '0');
            else many = 1;
        }
        if (eneg) expo = -expo;
    }
    *is_int = isint;
    *int_ok = 0;
    if (isint && !many && (neg ? m <= (uint64_t)INT64_MAX + 1 : m <= (uint64_t)INT64_MAX)) {
        *iv = neg ? (int64_t)(0 - m) : (int64_t)m;
        *int_ok = 1;
    }
    c->p = p;
#if ZB_FAST_FLOAT
    if (!many && m <= (1ULL << 53)) {
        int64_t e10 = expo - frac;
        double d = (double)m;
        if (m == 0) {
            *out = neg ? -0.0 : 0.0;
            return 0;
        }
        if (e10 >= -22 && e10 <= 22) {
            if (e10 < 0) d /= pow10_exact[-e10];
            else d *= pow10_exact[e10];
            *out = neg ? -d : d;
            return 0;
        }
    }
#endif
    {
        char local[ZB_NUMBER_MAX + 1];
        size_t n = (size_t)(p - s);
        double d;
        if (n > ZB_NUMBER_MAX) {
            c->p = s;
            return fail(c, "number too long");
        }
        memcpy(local, s, n);
        local[n] = '\0';
        d = zenws_book_strtod(local);
        if (!isfinite(d)) {
            c->p = s;
            return fail(c, "number out of range");
        }
        *out = d;
    }
    return 0;
}

static int literal(cur *c, const char *word, size_t n) {
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return fail(c, "expected a value");
    c->p += n;
    return 0;
}

/* Skip (and check) any JSON value. */
static int skip_value(cur *c, int depth) {
    const char *s;
    size_t n;
    int esc, ii, ok;
    double d;
    int64_t iv;
    ws(c);
    if (c->p >= c->end) return fail(c, "expected a value");
    switch (*c->p) {
    case '"':
        return string(c, &s, &n, &esc);
    case '{':
    case '[': {
        char close = *c->p == '{' ? '}' : ']';
        int obj = close == '}';
        if (depth >= ZB_MAX_DEPTH) return fail(c, "nested too deep");
        c->p++;
        ws(c);
        if (c->p < c->end && *c->p == close) {
            c->p++;
            return 0;
        }
        for (;;) {
            if (obj) {
                if (string(c, &s, &n, &esc) || expect(c, ':', "expected ':'")) return -1;
            }
            if (skip_value(c, depth + 1)) return -1;
            ws(c);
            if (c->p < c->end && *c->p == ',') {
                c->p++;
                continue;
            }
            return expect(c, close, obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    case 't':
        return literal(c, "true", 4);
    case 'f':
        return literal(c, "false", 5);
    case 'n':
        return literal(c, "null", 4);
    default:
        return number(c, &d, &ii, &iv, &ok);
    }
}

/* ------------------------------------------------------------ the Deribit message */

typedef struct {
    int has_data, has_type, snapshot;
    int has_change_id, has_prev, has_ts;
    int64_t change_id, prev, ts;
    int has_channel;
    const char *channel;
    size_t channel_len;
    int saw_action, saw_pair;   /* [action, price, amount] / [price, amount] levels */
    int seen_side[2];
} deribit_msg;

static int push_op(zenws_book *b, cur *c, int side, double price, double amount) {
    zenws_op *op;
    if (b->nops == b->ops_cap && zenws_book_ops_reserve(b, b->nops + 1)) {
        c->err = "out of memory";
        c->errp = c->p;
        return -2;
    }
    op = &b->ops[b->nops++];
    op->side = side;
    op->key = side == ZB_BID ? price : -price;
    op->amount = amount;
    return 0;
}

static int level_number(cur *c, double *v, const char *why) {
    int ii, ok;
    int64_t iv;
    if (number(c, v, &ii, &iv, &ok)) return fail(c, why);
    return 0;
}

/* [["new"|"change"|"delete", price, amount], ...] or [[price, amount], ...] */
static int levels(zenws_book *b, cur *c, deribit_msg *m, int side) {
    if (m->seen_side[side]) return fail(c, "duplicate bids/asks");
    m->seen_side[side] = 1;
    if (expect(c, '[', "levels must be an array")) return -1;
    ws(c);
    if (c->p < c->end && *c->p == ']') {
        c->p++;
        return 0;
    }
    for (;;) {
        double price, amount;
        int del = 0, r;
        if (expect(c, '[', "a level must be an array")) return -1;
        ws(c);
        if (c->p < c->end && *c->p == '"') {
            const char *s;
            size_t n;
            int esc;
            if (string(c, &s, &n, &esc)) return -1;
            if (n == 6 && memcmp(s, "delete", 6) == 0) del = 1;
            else if (!((n == 3 && memcmp(s, "new", 3) == 0) ||
                       (n == 6 && memcmp(s, "change", 6) == 0)))
                return fail(c, "unknown level action");
            if (expect(c, ',', "expected ',' in level")) return -1;
            m->saw_action = 1;
        } else {
            m->saw_pair = 1;
        }
        if (level_number(c, &price, "bad price")) return -1;
        if (expect(c, ',', "expected ',' in level")) return -1;
        if (level_number(c, &amount, "bad amount")) return -1;
        if (amount < 0.0) return fail(c, "negative amount");
        if (expect(c, ']', "a level has 2 or 3 members")) return -1;
        r = push_op(b, c, side, price, del ? 0.0 : amount);
        if (r) return r;
        ws(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        return expect(c, ']', "expected ',' or ']' after a level");
    }
}

/* want is a string literal: its length is known at compile time */
#define key_is(k, n, want) ((n) == sizeof(want) - 1 && memcmp((k), (want), sizeof(want) - 1) == 0)

static int integer_member(cur *c, int64_t *v, int *has, const char *why) {
    double d;
    int is_int, ok;
    ws(c);
    if (c->p < c->end && *c->p == 'n') { /* null: absent */
        *has = 0;
        return literal(c, "null", 4);
    }
    if (number(c, &d, &is_int, v, &ok)) return -1;
    if (!is_int || !ok) return fail(c, why);
    *has = 1;
    return 0;
}

typedef int (*member_fn)(zenws_book *b, cur *c, deribit_msg *m, const char *k, size_t n);

/* {"k": v, ...}: calls fn for every member; fn consumes the value. */
static int object(zenws_book *b, cur *c, deribit_msg *m, member_fn fn, const char *why) {
    if (expect(c, '{', why)) return -1;
    ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return 0;
    }
    for (;;) {
        const char *s;
        size_t n;
        int esc, r;
        char buf[32];
        if (string(c, &s, &n, &esc)) return -1;
        if (expect(c, ':', "expected ':'")) return -1;
        if (esc) {
            n = key_text(s, n, esc, buf, sizeof buf);
            s = buf;
        }
        r = fn(b, c, m, s, n);
        if (r) return r;
        ws(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        return expect(c, '}', "expected ',' or '}'");
    }
}

static int data_member(zenws_book *b, cur *c, deribit_msg *m, const char *k, size_t n) {
    if (key_is(k, n, "bids")) return levels(b, c, m, ZB_BID);
    if (key_is(k, n, "asks")) return levels(b, c, m, ZB_ASK);
    if (key_is(k, n, "change_id"))
        return integer_member(c, &m->change_id, &m->has_change_id, "change_id must be an integer");
    if (key_is(k, n, "prev_change_id"))
        return integer_member(c, &m->prev, &m->has_prev, "prev_change_id must be an integer");
    if (key_is(k, n, "timestamp"))
        return integer_member(c, &m->ts, &m->has_ts, "timestamp must be an integer");
    if (key_is(k, n, "type")) {
        const char *s;
        size_t len;
        int esc;
        if (string(c, &s, &len, &esc)) return -1;
        if (len == 8 && memcmp(s, "snapshot", 8) == 0) m->snapshot = 1;
        else if (len == 6 && memcmp(s, "change", 6) == 0) m->snapshot = 0;
        else return fail(c, "type must be \"snapshot\" or \"change\"");
        m->has_type = 1;
        return 0;
    }
    return skip_value(c, 2);
}

static int params_member(zenws_book *b, cur *c, deribit_msg *m, const char *k, size_t n) {
    if (key_is(k, n, "data")) {
        if (m->has_data) return fail(c, "duplicate data");
        m->has_data = 1;
        return object(b, c, m, data_member, "data must be an object");
    }
    if (key_is(k, n, "channel")) {
        int esc;
        if (string(c, &m->channel, &m->channel_len, &esc)) return -1;
        m->has_channel = 1;
        return 0;
    }
    return skip_value(c, 1);
}

static int top_member(zenws_book *b, cur *c, deribit_msg *m, const char *k, size_t n) {
    if (key_is(k, n, "params")) return object(b, c, m, params_member, "params must be an object");
    return skip_value(c, 0);
}

static int malformed(zenws_book *b, cur *c, const char *why) {
    b->err = why ? why : c->err;
    b->err_pos = (size_t)((c->errp ? c->errp : c->p) - c->start);
    b->nops = 0;
    return ZB_EMALFORMED;
}

int zenws_book_apply_deribit(zenws_book *b, const char *buf, size_t len) {
    cur c = {buf, buf + len, buf, NULL, NULL};
    deribit_msg m;
    int r, flags;
    memset(&m, 0, sizeof m);
    b->nops = 0;
    b->err = NULL;
    b->err_pos = 0;
    r = object(b, &c, &m, top_member, "a notification must be a JSON object");
    if (r == -2) {
        b->err = "out of memory";
        b->nops = 0;
        return ZB_ENOMEM;
    }
    if (r) return malformed(b, &c, NULL);
    ws(&c);
    if (c.p != c.end) return malformed(b, &c, "data after the JSON value");
    if (!m.has_data) return malformed(b, &c, "no params.data");
    if (b->channel_len &&
        (!m.has_channel || m.channel_len != b->channel_len ||
         memcmp(m.channel, b->channel, m.channel_len) != 0))
        return malformed(b, &c, "notification of another channel");
    if (m.saw_action && m.saw_pair) return malformed(b, &c, "levels of two formats");
    if (!m.has_type) {
        if (m.saw_action) return malformed(b, &c, "no type");
        m.snapshot = 1; /* grouped book.X.group.depth.interval: every message is whole */
    }
    if (!m.has_change_id) return malformed(b, &c, "no change_id");
    if (m.snapshot) {
        if (zenws_book_commit_ops(b, 1)) return ZB_ENOMEM;
        zenws_book_snapshot_done(b, 1, m.change_id, m.has_ts ? m.ts : b->timestamp);
        return ZB_APPLIED;
    }
    flags = ZB_HAS_SEQ | (m.has_prev ? ZB_HAS_PREV : 0);
    r = zenws_book_check(b, flags, m.change_id, m.prev, 0);
    if (r != ZB_APPLIED) {
        b->nops = 0;
        return r;
    }
    if (zenws_book_commit_ops(b, 0)) return ZB_ENOMEM;
    delta_done(b, 1, m.change_id, m.has_ts ? m.ts : b->timestamp);
    return ZB_APPLIED;
}

/* Deltas given as ops by the caller (zenws.fast.book.L2Book.apply_delta). */
int zenws_book_apply_ops_delta(zenws_book *b, int flags, int64_t seq, int64_t prev,
                               int64_t first, int64_t timestamp) {
    int r = zenws_book_check(b, flags, seq, prev, first);
    if (r != ZB_APPLIED) {
        b->nops = 0;
        return r;
    }
    if (zenws_book_commit_ops(b, 0)) return ZB_ENOMEM;
    delta_done(b, flags & ZB_HAS_SEQ, seq, timestamp);
    return ZB_APPLIED;
}
