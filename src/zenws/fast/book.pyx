"""L2Book: a compiled L2 order book, applied from the wire and sequence-checked.

Each side is one contiguous C array of ``(key, amount)`` sorted with the best
level at the end (``ext/zenws_book.c``): best bid/ask are O(1), a level is
found by galloping down from the top then binary search (O(log n)), and the
updates real feeds send (near the top of the book) move few bytes.

Prices are doubles compared exactly (a wire price parses to its one nearest
double, so no tick size is needed); see docs/book.md.

``apply_deribit(raw)`` parses a whole Deribit ``book.*`` notification in C and
applies it: no dict, list or float object per level, and nothing is applied
unless the whole message parsed (a malformed message raises ProtocolError
and leaves the book as it was).  Sequence policies (``policy=``): ``"deribit"``
(change_id / prev_change_id), ``"binance_spot"`` (U / u), ``"binance_futures"``
(pu == previous u), ``"seq"`` (seq == last + 1) and ``"none"``.  A broken
sequence clears the book, marks it stale and records a :class:`Gap`.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.math cimport isfinite
from libc.stdint cimport int64_t

from collections.abc import Mapping
from typing import NamedTuple, Optional

from zenws.errors import ProtocolError

__all__ = [
    "APPLIED",
    "ASK",
    "BID",
    "GAP",
    "POLICIES",
    "SKIPPED",
    "STALE",
    "Gap",
    "L2Book",
    "SideView",
]

BID = ZB_BID
ASK = ZB_ASK
APPLIED = ZB_APPLIED
SKIPPED = ZB_SKIPPED
GAP = ZB_GAP
STALE = ZB_STALE

POLICIES = {
    "none": ZB_SEQ_NONE,
    "deribit": ZB_SEQ_DERIBIT,
    "binance_spot": ZB_SEQ_BINANCE_SPOT,
    "binance_futures": ZB_SEQ_BINANCE_FUTURES,
    "seq": ZB_SEQ_GENERIC,
}
_POLICY_NAMES = {v: k for k, v in POLICIES.items()}

Gap = NamedTuple(
    "Gap",
    [("channel", str), ("expected", Optional[int]), ("got", Optional[int]), ("seq", int)],
)
Gap.__module__ = __name__
Gap.__doc__ = """A broken sequence.

Attributes:
    channel: the book's channel.
    expected: the sequence value the policy wanted (Deribit: the last change_id,
        which prev_change_id should equal; Binance spot: last u + 1; futures:
        the last u; "seq": last + 1), None before any snapshot.
    got: what arrived instead (prev_change_id, U, pu or seq), None when absent.
    seq: the offending message's own id (change_id, u or seq).
"""


cdef extern from "Python.h":
    double PyOS_string_to_double(const char* s, char** endptr, void* overflow) noexcept nogil


cdef double _strtod(const char* s) noexcept nogil:
    # Correctly rounded and locale-independent (David Gay's strtod in CPython);
    # only numbers Clinger's fast path cannot convert exactly get here, and
    # their text already matched the JSON grammar, so this cannot fail.
    return PyOS_string_to_double(s, NULL, NULL)


zenws_book_strtod = _strtod


cdef inline int _side(object side) except -1:
    if side == 0 or side == "bid" or side == "bids":
        return ZB_BID
    if side == 1 or side == "ask" or side == "asks":
        return ZB_ASK
    raise ValueError(f"side must be BID (0) or ASK (1), got {side!r}")


cdef inline double _price(object price) except? -1.0:
    cdef double p = price
    if not isfinite(p):
        raise ValueError(f"price must be finite, got {price!r}")
    return p


cdef inline double _amount(object amount) except? -1.0:
    cdef double a = amount
    if not isfinite(a) or a < 0.0:
        raise ValueError(f"amount must be finite and >= 0, got {amount!r}")
    return a


def _levels_array(levels):
    import numpy  # deferred: importing zenws.fast must not pull numpy in

    arr = numpy.ascontiguousarray(levels, dtype=numpy.float64)
    if arr.size == 0:
        return arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError("levels must be (price, amount) pairs")
    return arr


@cython.final
cdef class L2Book:
    """An L2 order book: price -> amount for bids and asks.

    Args:
        channel: the channel it follows (Deribit ``book.BTC-PERPETUAL.100ms``); when
            given, ``apply_deribit`` rejects notifications of another channel.
        policy: sequence policy, one of :data:`POLICIES` (default ``"deribit"``).

    The book starts stale (no levels) until the first snapshot.
    """

    def __cinit__(self, str channel="", *, str policy="deribit"):
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {sorted(POLICIES)}, got {policy!r}")
        zenws_book_init(&self._b, POLICIES[policy])
        self._channel = channel
        self._channel_b = channel.encode()
        self._b.channel = PyBytes_AS_STRING(self._channel_b)
        self._b.channel_len = PyBytes_GET_SIZE(self._channel_b)
        self._reason = "invalidated"

    def __dealloc__(self):
        zenws_book_free(&self._b)

    # ------------------------------------------------------------------ applying

    cdef int apply_deribit_c(self, const char* buf, size_t length) noexcept:
        return zenws_book_apply_deribit(&self._b, buf, length)

    def apply_deribit(self, raw):
        """Apply one raw Deribit ``book.*`` notification (the WebSocket message bytes).

        ``change`` messages are sequence-checked (``prev_change_id`` == last
        ``change_id``, with ``policy="deribit"``); ``snapshot`` messages and the
        grouped ``book.X.group.depth.interval`` format (``[price, amount]`` levels,
        every message whole) replace the book.

        Args:
            raw: the message (bytes, or any contiguous byte buffer).

        Returns:
            APPLIED, STALE (ignored: waiting for a snapshot) or GAP (the book was
            cleared and is stale; see :attr:`last_gap`).

        Raises:
            ProtocolError: malformed or of another channel; the book is unchanged.
        """
        cdef const unsigned char[::1] view
        cdef int r
        if type(raw) is bytes:
            r = self.apply_deribit_c(PyBytes_AS_STRING(raw), <size_t>PyBytes_GET_SIZE(raw))
        else:
            view = raw
            if view.shape[0] == 0:
                r = self.apply_deribit_c(b"", 0)
            else:
                r = self.apply_deribit_c(<const char*>&view[0], <size_t>view.shape[0])
        if r < 0:
            self._raise(r)
        return r

    cdef int _raise(self, int r) except -1:
        if r == ZB_ENOMEM:
            raise MemoryError("order book: out of memory")
        why = (<bytes>self._b.err).decode() if self._b.err != NULL else "malformed"
        raise ProtocolError(f"malformed book notification: {why} (at byte {self._b.err_pos})")

    cdef int _load(self, bids, asks) except -1:
        cdef double[:, ::1] v
        cdef Py_ssize_t i, k
        cdef int s
        cdef zenws_op* op
        arrays = (_levels_array(bids), _levels_array(asks))
        total = arrays[0].shape[0] + arrays[1].shape[0]
        if zenws_book_ops_reserve(&self._b, total):
            raise MemoryError("order book: out of memory")
        self._b.nops = 0
        k = 0
        for s in range(2):
            v = arrays[s]
            for i in range(v.shape[0]):
                if not isfinite(v[i, 0]) or not isfinite(v[i, 1]) or v[i, 1] < 0.0:
                    self._b.nops = 0
                    raise ValueError(
                        f"level ({v[i, 0]!r}, {v[i, 1]!r}): price must be finite, "
                        "amount finite and >= 0"
                    )
                op = &self._b.ops[k]
                op.side = s
                op.key = v[i, 0] if s == ZB_BID else -v[i, 0]
                op.amount = v[i, 1]
                k += 1
        self._b.nops = k
        return 0

    def apply_snapshot(self, bids, asks, seq=None, *, int64_t timestamp=0):
        """Replace the book (and restart the sequence at ``seq``).

        Args:
            bids: ``(price, amount)`` pairs (any order; a sequence or an (n, 2) array).
            asks: likewise.
            seq: the snapshot's sequence id (Deribit change_id, Binance lastUpdateId,
                the generic seq); None when the policy needs none.
            timestamp: exchange timestamp to keep with the book.

        Raises:
            ValueError: a price that is not finite or an amount < 0.
        """
        self._load(bids, asks)
        if zenws_book_commit_ops(&self._b, 1):
            self._b.nops = 0
            raise MemoryError("order book: out of memory")
        zenws_book_snapshot_done(&self._b, seq is not None, seq if seq is not None else 0,
                                 timestamp)

    def apply_delta(self, bids, asks, seq=None, *, prev=None, first=None,
                    int64_t timestamp=0):
        """Set, change or delete levels (amount 0 deletes), after the sequence check.

        Args:
            bids: ``(price, amount)`` pairs applied in order.
            asks: likewise.
            seq: the delta's id (Deribit change_id, Binance u, the generic seq).
            prev: Deribit prev_change_id, Binance futures pu.
            first: Binance U (first update id in the event).
            timestamp: exchange timestamp to keep with the book.

        Returns:
            APPLIED, SKIPPED (an old event the policy drops), STALE (waiting for a
            snapshot) or GAP (the book was cleared and is stale; see :attr:`last_gap`).
        """
        cdef int flags = 0
        cdef int64_t s = 0, p = 0, f = 0
        if seq is not None:
            flags |= ZB_HAS_SEQ
            s = seq
        if prev is not None:
            flags |= ZB_HAS_PREV
            p = prev
        if first is not None:
            flags |= ZB_HAS_FIRST
            f = first
        self._load(bids, asks)
        cdef int r = zenws_book_apply_ops_delta(&self._b, flags, s, p, f, timestamp)
        if r == ZB_ENOMEM:
            self._b.nops = 0
            raise MemoryError("order book: out of memory")
        return r

    def set_level(self, side, price, amount):
        """Set one level outside any sequence (amount 0 deletes it)."""
        if zenws_book_set(&self._b, _side(side), _price(price), _amount(amount)):
            raise MemoryError("order book: out of memory")

    def invalidate(self, str reason="invalidated"):
        """Drop every level and wait for a snapshot (``stale_reason`` = reason)."""
        zenws_book_invalidate(&self._b)
        self._reason = reason

    # ------------------------------------------------------------------ reading

    def best_bid(self):
        """Highest bid ``(price, amount)`` or None (O(1))."""
        cdef double p, a
        if self.best_c(ZB_BID, &p, &a):
            return (p, a)
        return None

    def best_ask(self):
        """Lowest ask ``(price, amount)`` or None (O(1))."""
        cdef double p, a
        if self.best_c(ZB_ASK, &p, &a):
            return (p, a)
        return None

    def spread(self):
        """Best ask minus best bid, or None when a side is empty."""
        cdef double bp, ba, ap, aa
        if self.best_c(ZB_BID, &bp, &ba) and self.best_c(ZB_ASK, &ap, &aa):
            return ap - bp
        return None

    def mid(self):
        """Mean of the best bid and ask prices, or None when a side is empty."""
        cdef double bp, ba, ap, aa
        if self.best_c(ZB_BID, &bp, &ba) and self.best_c(ZB_ASK, &ap, &aa):
            return (ap + bp) * 0.5
        return None

    @property
    def crossed(self):
        """Best bid >= best ask (both sides non-empty): the book cannot be right."""
        cdef double bp, ba, ap, aa
        return bool(self.best_c(ZB_BID, &bp, &ba) and self.best_c(ZB_ASK, &ap, &aa)
                    and bp >= ap)

    def top(self, side, Py_ssize_t n=10):
        """The best ``n`` levels of side, best first, as a new ``(k, 2)`` float64 array.

        ``k = min(n, levels)``; columns are price and amount.
        """
        import numpy

        cdef int s = _side(side)
        cdef size_t k = min(<size_t>max(n, 0), self._b.side[s].n)
        arr = numpy.empty((k, 2), dtype=numpy.float64)
        cdef double[:, ::1] v = arr
        if k:
            zenws_book_top(&self._b, s, &v[0, 0], k)
        return arr

    def top_into(self, side, double[:, ::1] out):
        """Fill a caller's ``(n, 2)`` C-contiguous float64 array with the best levels.

        Rows past the returned count are left as they were.

        Returns:
            How many rows were written (``min(len(out), levels)``).
        """
        if out.shape[1] != 2:
            raise ValueError("out must have shape (n, 2)")
        if out.shape[0] == 0:
            return 0
        return zenws_book_top(&self._b, _side(side), &out[0, 0], <size_t>out.shape[0])

    def to_numpy(self, Py_ssize_t depth=10):
        """The best ``depth`` levels of both sides as a ``(depth, 4)`` float64 array.

        Columns: bid price, bid amount, ask price, ask amount; missing levels are NaN.
        """
        import numpy

        if depth < 0:
            raise ValueError("depth must be >= 0")
        arr = numpy.full((depth, 4), numpy.nan, dtype=numpy.float64)
        cdef double[:, ::1] v = arr
        cdef size_t i, k
        cdef double pair[2]
        cdef int s
        for s in range(2):
            k = min(<size_t>depth, self._b.side[s].n)
            for i in range(k):
                zenws_book_top_one(&self._b, s, i, pair)
                v[i, 2 * s] = pair[0]
                v[i, 2 * s + 1] = pair[1]
        return arr

    def depth_at(self, price, side=None):
        """Amount at ``price`` on side (bids, then asks when side is None); 0.0 if absent."""
        cdef double p = _price(price)
        if side is not None:
            return zenws_book_depth(&self._b, _side(side), p)
        cdef double a = zenws_book_depth(&self._b, ZB_BID, p)
        return a if a != 0.0 else zenws_book_depth(&self._b, ZB_ASK, p)

    def vwap(self, side, double size):
        """Volume-weighted price of taking ``size`` from side (walking from the best level).

        Returns:
            The average price, or NaN when the side holds less than ``size`` (or
            ``size`` <= 0).
        """
        return zenws_book_vwap(&self._b, _side(side), size)

    def levels(self, side):
        """Number of levels on side."""
        return self._b.side[_side(side)].n

    def __len__(self):
        return self._b.side[0].n + self._b.side[1].n

    def side_view(self, side):
        """A read-only live Mapping price -> amount of side (iterates best first)."""
        return SideView(self, _side(side))

    def last_change(self):
        """Levels of the last applied message as a ``(k, 3)`` float64 array.

        Columns: side (0 bid, 1 ask), price, amount (0 = deleted).  Empty after a
        gap or a rejected message.
        """
        import numpy

        cdef size_t i, k = self._b.nops
        arr = numpy.empty((k, 3), dtype=numpy.float64)
        cdef double[:, ::1] v = arr
        for i in range(k):
            s = self._b.ops[i].side
            v[i, 0] = s
            v[i, 1] = zenws_book_price(s, self._b.ops[i].key)
            v[i, 2] = self._b.ops[i].amount
        return arr

    # ------------------------------------------------------------------ state

    @property
    def channel(self):
        """The channel this book follows ("" = any)."""
        return self._channel

    @property
    def policy(self):
        """The sequence policy's name."""
        return _POLICY_NAMES[self._b.policy]

    @property
    def stale(self):
        """True until a snapshot arrives (initially, after a gap, after invalidate())."""
        return bool(self._b.stale)

    @property
    def stale_reason(self):
        """Why the book is stale ("" when live)."""
        if not self._b.stale:
            return ""
        if self._b.stale_why == ZB_WHY_GAP:
            return "sequence gap"
        if self._b.stale_why == ZB_WHY_INVALIDATED:
            return self._reason
        return "no snapshot yet"

    @property
    def seq(self):
        """Last applied sequence id (change_id / u / seq), None before a snapshot."""
        return self._b.last if self._b.has_last else None

    @property
    def timestamp(self):
        """Exchange timestamp of the last applied message (0 before any)."""
        return self._b.timestamp

    @property
    def updates(self):
        """Snapshots and deltas applied."""
        return self._b.updates

    @property
    def gaps(self):
        """Sequence gaps detected."""
        return self._b.gaps

    @property
    def last_gap(self):
        """The last :class:`Gap` (None when there has been none)."""
        if self._b.gaps == 0:
            return None
        return Gap(
            self._channel,
            self._b.gap_expected if self._b.gap_has_expected else None,
            self._b.gap_got if self._b.gap_has_got else None,
            self._b.gap_seq,
        )

    def __repr__(self):
        state = f"stale ({self.stale_reason})" if self._b.stale else f"seq={self.seq}"
        return (f"<L2Book {self._channel!r} {self.policy} {state} "
                f"bids={self._b.side[0].n} asks={self._b.side[1].n}>")


cdef inline void zenws_book_top_one(const zenws_book* b, int side, size_t i,
                                    double* out) noexcept:
    cdef const zenws_side* s = &b.side[side]
    out[0] = zenws_book_price(side, s.lv[s.n - 1 - i].key)
    out[1] = s.lv[s.n - 1 - i].amount


@cython.final
cdef class SideView:
    """Read-only live view of one side: a Mapping price -> amount, best price first."""

    cdef L2Book _book
    cdef int _side

    def __cinit__(self, L2Book book not None, side):
        self._book = book
        self._side = _side(side)

    def __getitem__(self, price):
        cdef double p = price
        cdef double a = zenws_book_depth(&self._book._b, self._side, p)
        if a == 0.0:
            raise KeyError(price)
        return a

    def get(self, price, default=None, /):
        """Amount at price, or default."""
        cdef double a = zenws_book_depth(&self._book._b, self._side, <double>price)
        return a if a != 0.0 else default

    def __contains__(self, price):
        try:
            return zenws_book_depth(&self._book._b, self._side, <double>price) != 0.0
        except TypeError:
            return False

    def __len__(self):
        return self._book._b.side[self._side].n

    def __bool__(self):
        return self._book._b.side[self._side].n != 0

    def items(self):
        """``(price, amount)`` pairs, best first (a list: a copy of this moment)."""
        cdef const zenws_side* s = &self._book._b.side[self._side]
        cdef size_t i
        return [(zenws_book_price(self._side, s.lv[s.n - 1 - i].key), s.lv[s.n - 1 - i].amount)
                for i in range(s.n)]

    def keys(self):
        """Prices, best first (a list)."""
        return [p for p, _ in self.items()]

    def values(self):
        """Amounts, best price first (a list)."""
        return [a for _, a in self.items()]

    def __iter__(self):
        return iter(self.keys())

    def __eq__(self, other):
        if isinstance(other, (SideView, Mapping)):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    def __repr__(self):
        name = "bids" if self._side == ZB_BID else "asks"
        return f"<SideView {name} {dict(self.items())!r}>"


Mapping.register(SideView)
