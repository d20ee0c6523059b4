/* zenws_book.h - an L2 order book (price -> amount per side) with pluggable
 * sequence policies and an all-or-nothing Deribit `book.*` wire parser.
 * No Python API here.
 *
 * Storage: each side is one contiguous array of {key, amount} sorted by key
 * ascending, with the BEST level at the END.  key is the price for bids and
 * -price for asks (negation is exact), so both sides share one comparator and
 * the best level is always lv[n - 1]: best bid/ask are O(1) loads, and the
 * updates that dominate real feeds (near the top) move few bytes.  Search is
 * galloping from the end (O(log d), d = distance from the top), then binary.
 *
 * Prices are doubles compared exactly: a decimal price on the wire parses to
 * the one nearest double (correctly rounded), so equal wire prices give equal
 * keys whatever their spelling ("100", "100.0", "1e2") and no tick size has to
 * be known per instrument.
 *
 * Sequence policies (zenws_book.policy):
 *   ZB_SEQ_NONE            every delta applies.
 *   ZB_SEQ_DERIBIT         delta.prev (prev_change_id) == last change_id.
 *   ZB_SEQ_BINANCE_SPOT    after a snapshot (lastUpdateId L): drop u <= L;
 *                          the first applied has U <= L + 1 <= u; then each
 *                          U == previous u + 1.
 *   ZB_SEQ_BINANCE_FUTURES after a snapshot: drop u < L; the first applied has
 *                          U <= L <= u; then each pu == previous u.
 *   ZB_SEQ_GENERIC         seq == last + 1.
 * A broken sequence records a gap (expected, got, seq), clears both sides and
 * marks the book stale; deltas are ignored until the next snapshot. */
#ifndef ZENWS_BOOK_H
#define ZENWS_BOOK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZB_BID 0
#define ZB_ASK 1

#define ZB_SEQ_NONE 0
#define ZB_SEQ_DERIBIT 1
#define ZB_SEQ_BINANCE_SPOT 2
#define ZB_SEQ_BINANCE_FUTURES 3
#define ZB_SEQ_GENERIC 4

/* Results of the apply functions. */
#define ZB_APPLIED 0     /* applied (a snapshot or an in-sequence delta) */
#define ZB_SKIPPED 1     /* an old delta the policy drops (Binance u <= L) */
#define ZB_GAP 2         /* sequence broken: gap recorded, book cleared and stale */
#define ZB_STALE 3       /* ignored: the book waits for a snapshot */
#define ZB_EMALFORMED (-1) /* bad input: the book is unchanged, err/err_pos say why */
#define ZB_ENOMEM (-2)   /* out of memory: the book is unchanged */

/* Why a book is stale (zenws_book.stale_why). */
#define ZB_WHY_NEW 0          /* no snapshot yet */
#define ZB_WHY_GAP 1          /* a sequence gap */
#define ZB_WHY_INVALIDATED 2  /* zenws_book_invalidate() */

/* Delta flags: which sequence fields the delta carries. */
#define ZB_HAS_SEQ 1
#define ZB_HAS_PREV 2
#define ZB_HAS_FIRST 4

typedef struct {
    double key;     /* price (bids) or -price (asks) */
    double amount;  /* > 0 */
} zenws_level;

typedef struct {
    zenws_level *lv;  /* ascending keys, best at lv[n - 1] */
    size_t n, cap;
} zenws_side;

/* One parsed level update (scratch of the wire parser). */
typedef struct {
    double key;
    double amount;   /* 0 deletes */
    int side;
} zenws_op;

typedef struct {
    zenws_side side[2];
    int policy;
    int stale;          /* no snapshot yet, or a gap since the last one */
    int stale_why;      /* ZB_WHY_* */
    int synced;         /* Binance: the first delta after the snapshot applied */
    int has_last;
    int64_t last;       /* last applied sequence id */
    int64_t timestamp;  /* exchange timestamp of the last applied message */
    uint64_t updates;   /* snapshots + deltas applied */
    uint64_t gaps;
    /* the last gap */
    int64_t gap_expected, gap_got, gap_seq;
    int gap_has_expected, gap_has_got;
    /* ops of the last parsed / applied message */
    zenws_op *ops;
    size_t nops, ops_cap;
    /* why the last call failed (static text), and the byte offset */
    const char *err;
    size_t err_pos;
    /* optional channel the wire messages must carry (not owned) */
    const char *channel;
    size_t channel_len;
} zenws_book;

/* Correctly rounded decimal -> double for numbers the fast path cannot do
 * exactly (NUL-terminated text already checked against the JSON grammar).
 * Defaults to strtod; the Cython module installs a locale-independent one. */
extern double (*zenws_book_strtod)(const char *s);

void zenws_book_init(zenws_book *b, int policy);
void zenws_book_free(zenws_book *b);
/* Drop every level (stale flag untouched). */
void zenws_book_clear(zenws_book *b);
/* Clear and mark stale (after a gap, a reconnect, a malformed message). */
void zenws_book_invalidate(zenws_book *b);

/* Room for `extra` more levels on each side (0, or ZB_ENOMEM). */
int zenws_book_reserve(zenws_book *b, size_t extra_bid, size_t extra_ask);
/* Set one level; amount 0 deletes.  Needs capacity for one insert
 * (zenws_book_reserve); returns 0 or ZB_ENOMEM when it had to grow and could not. */
int zenws_book_set(zenws_book *b, int side, double price, double amount);
/* Amount at price on side (0 when absent). */
double zenws_book_depth(const zenws_book *b, int side, double price);

/* Sequence check of a delta (seq, prev, first as flagged): ZB_APPLIED (go on),
 * ZB_SKIPPED, ZB_STALE or ZB_GAP (gap recorded, book invalidated). */
int zenws_book_check(zenws_book *b, int flags, int64_t seq, int64_t prev, int64_t first);
/* After a snapshot: sequence state restarts at seq (lastUpdateId / change_id). */
void zenws_book_snapshot_done(zenws_book *b, int has_seq, int64_t seq, int64_t timestamp);

/* Apply b->ops[0..nops) as a snapshot (replace both sides) or a delta
 * (set/delete levels).  Reserves first: returns 0 or ZB_ENOMEM with the
 * book unchanged. */
int zenws_book_commit_ops(zenws_book *b, int snapshot);
/* Sequence-check, then commit the ops as a delta (zenws_book_check's
 * results, or ZB_ENOMEM with the book unchanged). */
int zenws_book_apply_ops_delta(zenws_book *b, int flags, int64_t seq, int64_t prev,
                               int64_t first, int64_t timestamp);
/* Make room for n ops in the scratch (0 or ZB_ENOMEM). */
int zenws_book_ops_reserve(zenws_book *b, size_t n);

/* Parse a whole Deribit book notification (book.X.interval with
 * [action, price, amount] levels, or book.X.group.depth.interval with
 * [price, amount] levels) and apply it.  Nothing is applied unless the whole
 * message parsed.  Returns ZB_APPLIED, ZB_STALE, ZB_GAP, ZB_EMALFORMED or
 * ZB_ENOMEM.  buf need not be NUL-terminated. */
int zenws_book_apply_deribit(zenws_book *b, const char *buf, size_t len);

/* Copy up to max levels of side, best first, as (price, amount) pairs into
 * out (row-major, 2 doubles per level).  Returns the count. */
size_t zenws_book_top(const zenws_book *b, int side, double *out, size_t max);
/* Volume-weighted price to fill size on side; NaN when the side holds less. */
double zenws_book_vwap(const zenws_book *b, int side, double size);

static inline double zenws_book_price(int side, double key) {
    return side == ZB_BID ? key : -key;
}

#ifdef __cplusplus
}
#endif

#endif /* ZENWS_BOOK_H */
