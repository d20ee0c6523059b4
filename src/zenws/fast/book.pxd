# C-level API of zenws.fast.book: an L2 order book over ext/zenws_book.c.
# cimport-able:
#     from zenws.fast.book cimport L2Book, zenws_book_top, ZB_BID, ZB_ASK
cimport cython
from libc.stdint cimport int64_t, uint64_t


cdef extern from "zenws_book.h" nogil:
    enum:
        ZB_BID
        ZB_ASK
        ZB_SEQ_NONE
        ZB_SEQ_DERIBIT
        ZB_SEQ_BINANCE_SPOT
        ZB_SEQ_BINANCE_FUTURES
        ZB_SEQ_GENERIC
        ZB_APPLIED
        ZB_SKIPPED
        ZB_GAP
        ZB_STALE
        ZB_EMALFORMED
        ZB_ENOMEM
        ZB_HAS_SEQ
        ZB_HAS_PREV
        ZB_HAS_FIRST
        ZB_WHY_NEW
        ZB_WHY_GAP
        ZB_WHY_INVALIDATED

    ctypedef struct zenws_level:
        double key
        double amount

    ctypedef struct zenws_side:
        zenws_level* lv
        size_t n
        size_t cap

    ctypedef struct zenws_op:
        double key
        double amount
        int side

    ctypedef struct zenws_book:
        zenws_side side[2]
        int policy
        int stale
        int stale_why
        int synced
        int has_last
        int64_t last
        int64_t timestamp
        uint64_t updates
        uint64_t gaps
        int64_t gap_expected
        int64_t gap_got
        int64_t gap_seq
        int gap_has_expected
        int gap_has_got
        zenws_op* ops
        size_t nops
        size_t ops_cap
        const char* err
        size_t err_pos
        const char* channel
        size_t channel_len

    double (*zenws_book_strtod)(const char* s)

    void zenws_book_init(zenws_book* b, int policy) noexcept
    void zenws_book_free(zenws_book* b) noexcept
    void zenws_book_clear(zenws_book* b) noexcept
    void zenws_book_invalidate(zenws_book* b) noexcept
    int zenws_book_reserve(zenws_book* b, size_t extra_bid, size_t extra_ask) noexcept
    int zenws_book_set(zenws_book* b, int side, double price, double amount) noexcept
    double zenws_book_depth(const zenws_book* b, int side, double price) noexcept
    int zenws_book_check(zenws_book* b, int flags, int64_t seq, int64_t prev,
                         int64_t first) noexcept
    void zenws_book_snapshot_done(zenws_book* b, int has_seq, int64_t seq,
                                  int64_t timestamp) noexcept
    int zenws_book_commit_ops(zenws_book* b, int snapshot) noexcept
    int zenws_book_apply_ops_delta(zenws_book* b, int flags, int64_t seq, int64_t prev,
                                   int64_t first, int64_t timestamp) noexcept
    int zenws_book_ops_reserve(zenws_book* b, size_t n) noexcept
    int zenws_book_apply_deribit(zenws_book* b, const char* buf, size_t length) noexcept
    size_t zenws_book_top(const zenws_book* b, int side, double* out, size_t maximum) noexcept
    double zenws_book_vwap(const zenws_book* b, int side, double size) noexcept
    double zenws_book_price(int side, double key) noexcept


@cython.final
cdef class L2Book:
    cdef zenws_book _b
    cdef bytes _channel_b       #: channel as UTF-8 (the C book points into it)
    cdef str _channel           #: the channel name ("" = any)
    cdef str _reason            #: text of the last invalidate(reason)

    # Apply a raw Deribit book notification (no Python object per level).
    # Returns ZB_APPLIED, ZB_STALE or ZB_GAP; ZB_EMALFORMED / ZB_ENOMEM leave the
    # book unchanged with the reason in _b.err (no exception set).
    cdef int apply_deribit_c(self, const char* buf, size_t length) noexcept
    # Raise the exception for a negative result code.
    cdef int _raise(self, int r) except -1
    # Fill the ops scratch from (price, amount) pairs (validated).
    cdef int _load(self, bids, asks) except -1
    # Best level of side into price/amount; 0 when the side is empty.
    cdef inline bint best_c(self, int side, double* price, double* amount) noexcept:
        cdef const zenws_side* s = &self._b.side[side]
        if s.n == 0:
            return 0
        price[0] = zenws_book_price(side, s.lv[s.n - 1].key)
        amount[0] = s.lv[s.n - 1].amount
        return 1
