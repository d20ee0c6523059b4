"""LatencyBuffer: a fixed-size ring of int64 nanosecond samples.

``add`` is a store and two index updates in C.  Statistics cross into Python
in batches: ``percentiles((50, 99, 99.9))`` copies the live window into a
scratch area and selects every requested rank in one pass of Floyd-Rivest
selection (``ext/zenws_quantile.c``), and ``to_numpy()`` exports the window.

Percentiles are nearest-rank, identical to
``numpy.percentile(x, q, method="inverted_cdf")``: every result is a sample
that was actually observed.

Memory is bounded by ``capacity``: the buffer holds the last ``capacity``
samples (16 bytes per slot: the ring plus the scratch area), so the statistics
describe that window, not the whole history; ``count`` says how many samples
were added in total.
"""

cimport cython
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.number cimport PyNumber_Index
from cpython.pyport cimport PY_SSIZE_T_MAX
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy

from array import array
from typing import NamedTuple

from zenws.errors import ConfigError

__all__ = ["LatencyBuffer", "LatencySummary"]

# Percentiles that summary() reports.
cdef double[4] _SUMMARY_QS = [50.0, 90.0, 99.0, 99.9]
# Requests for up to this many percentiles need no heap allocation.
cdef enum:
    _STACK_QS = 16
# Slots are 16 bytes (ring + scratch): refuse sizes whose byte count would
# overflow Py_ssize_t (32-bit builds) and absurd ones (over 2**40 samples).
cdef uint64_t _MAX_CAPACITY = min(<uint64_t>1 << 40, <uint64_t>(PY_SSIZE_T_MAX // 16))

LatencySummary = NamedTuple(
    "LatencySummary",
    [
        ("p50", int),
        ("p90", int),
        ("p99", int),
        ("p999", int),
        ("min", int),
        ("max", int),
        ("mean", float),
        ("last", int),
        ("count", int),
    ],
)
LatencySummary.__module__ = __name__
LatencySummary.__doc__ = """Latency statistics in nanoseconds (all 0 for an empty buffer).

Attributes:
    p50, p90, p99, p999: nearest-rank percentiles 50, 90, 99 and 99.9 of the
        held samples (numpy "inverted_cdf").
    min, max: smallest and largest held sample.
    mean: arithmetic mean of the held samples (float).
    last: the most recent sample.
    count: samples added since creation or the last clear() (the statistics
        cover the last min(count, capacity) of them).
"""


def _force_selection_fallback(bint on):
    """Test hook: run the heap-select fallback on every range (True) or restore (False)."""
    global zenws_quantile_budget_extra
    zenws_quantile_budget_extra = -1_000_000 if on else 8


@cython.final
cdef class LatencyBuffer:
    """Ring buffer of int64 nanosecond latency samples.

    Args:
        capacity: number of most recent samples kept (>= 1).  Memory use is
            16 bytes per slot, allocated once here.

    Raises:
        ConfigError: ``capacity`` is not a positive integer of sane size.
        MemoryError: the allocation failed.
    """

    def __cinit__(self, capacity=1024):
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise ConfigError(
                f"capacity must be an int, got {type(capacity).__name__}", field="capacity"
            )
        if capacity < 1 or capacity > _MAX_CAPACITY:
            raise ConfigError(
                f"capacity must be between 1 and {_MAX_CAPACITY}, got {capacity}",
                field="capacity",
            )
        self._capacity = <size_t>capacity
        self._buf = <int64_t*>PyMem_Malloc(self._capacity * sizeof(int64_t))
        self._scratch = <int64_t*>PyMem_Malloc(self._capacity * sizeof(int64_t))
        if self._buf == NULL or self._scratch == NULL:
            raise MemoryError(f"cannot allocate a LatencyBuffer of {capacity} samples")
        self._head = 0
        self._size = 0
        self._count = 0
        self._last = 0

    def __dealloc__(self):
        PyMem_Free(self._buf)
        PyMem_Free(self._scratch)

    # ---- C level -----------------------------------------------------------

    cdef void add_c(self, int64_t ns) noexcept:
        self._buf[self._head] = ns
        self._head += 1
        if self._head == self._capacity:
            self._head = 0
        if self._size < self._capacity:
            self._size += 1
        self._count += 1
        self._last = ns

    cdef size_t copy_window_c(self, int64_t* dst) noexcept:
        cdef size_t tail
        if self._size < self._capacity:
            # Not wrapped yet (clear() rewinds _head): oldest is slot 0.
            memcpy(dst, self._buf, self._size * sizeof(int64_t))
        else:
            tail = self._capacity - self._head
            memcpy(dst, self._buf + self._head, tail * sizeof(int64_t))
            memcpy(dst + tail, self._buf, self._head * sizeof(int64_t))
        return self._size

    cdef int percentiles_c(self, const double* qs, size_t m, int64_t* out) noexcept:
        cdef int rc
        if self._size == 0:
            return -1
        self.copy_window_c(self._scratch)
        rc = zenws_quantiles_i64(self._scratch, self._size, qs, m, out)
        if rc == ZENWS_Q_ENOMEM:
            return -2
        return 0 if rc == ZENWS_Q_OK else -1

    # ---- Python level ------------------------------------------------------

    def add(self, ns):
        """Record one sample.

        Args:
            ns: the latency in nanoseconds (any int64; negative values are kept).

        Raises:
            TypeError: ``ns`` is not an integer.
            OverflowError: ``ns`` does not fit in int64.
        """
        # An int64_t argument would silently truncate floats; demand an
        # integer (numpy integers pass through __index__).
        if not isinstance(ns, int):
            ns = PyNumber_Index(ns)
        self.add_c(<int64_t>ns)

    def extend(self, values):
        """Record many samples, oldest first.

        int64 buffers (numpy arrays, ``array('q')``, memoryviews) are read
        directly; any other iterable of ints is converted first.  Either all
        values are recorded or, on a bad value, none.

        Args:
            values: an int64 buffer or an iterable of ints.

        Raises:
            TypeError: a value is not an integer.
            OverflowError: a value does not fit in int64.
        """
        cdef const int64_t[:] view
        try:
            view = values
        except (TypeError, ValueError, BufferError):
            view = array("q", values)
        self.extend_c(view)

    cdef void extend_c(self, const int64_t[:] view) noexcept:
        cdef Py_ssize_t n = view.shape[0]
        cdef Py_ssize_t i, start = 0
        if n == 0:
            return
        if <size_t>n > self._capacity:
            # Only the newest `capacity` values can survive; skip the rest.
            start = n - <Py_ssize_t>self._capacity
        for i in range(start, n):
            self._buf[self._head] = view[i]
            self._head += 1
            if self._head == self._capacity:
                self._head = 0
        self._size = min(self._size + <size_t>(n - start), self._capacity)
        self._count += <uint64_t>n
        self._last = view[n - 1]

    @property
    def capacity(self):
        """int: the maximum number of samples held."""
        return self._capacity

    @property
    def count(self):
        """int: samples added since creation or the last :meth:`clear`."""
        return self._count

    @property
    def last(self):
        """int: the most recent sample, 0 when empty."""
        return self._last

    def __len__(self):
        return self._size

    def __repr__(self):
        return (
            f"LatencyBuffer(capacity={self._capacity}, len={self._size}, "
            f"count={self._count})"
        )

    def percentiles(self, qs):
        """Nearest-rank percentiles of the held samples in one pass.

        Args:
            qs: an iterable of percentiles, each within [0, 100]
                (e.g. ``(50, 99, 99.9)``).

        Returns:
            One int per requested percentile, in the order asked, equal to
            ``numpy.percentile(self.to_numpy(), q, method="inverted_cdf")``.

        Raises:
            ValueError: the buffer is empty, or a percentile is outside
                [0, 100] or NaN.
            TypeError: ``qs`` is not an iterable of numbers.
        """
        cdef double[_STACK_QS] qs_stack
        cdef int64_t[_STACK_QS] out_stack
        cdef double* qbuf = qs_stack
        cdef int64_t* obuf = out_stack
        cdef tuple items = tuple(qs)
        cdef Py_ssize_t i, m = len(items)
        cdef double q
        cdef int rc
        if self._size == 0:
            raise ValueError("LatencyBuffer is empty: add samples before asking for percentiles")
        if m > _STACK_QS:
            qbuf = <double*>PyMem_Malloc(m * sizeof(double))
            obuf = <int64_t*>PyMem_Malloc(m * sizeof(int64_t))
            if qbuf == NULL or obuf == NULL:
                PyMem_Free(qbuf)
                PyMem_Free(obuf)
                raise MemoryError()
        try:
            for i in range(m):
                q = items[i]
                if not (0.0 <= q <= 100.0):
                    raise ValueError(f"percentile must be within [0, 100], got {items[i]!r}")
                qbuf[i] = q
            rc = self.percentiles_c(qbuf, m, obuf)
            if rc == -2:
                raise MemoryError()
            return tuple([obuf[i] for i in range(m)])
        finally:
            if m > _STACK_QS:
                PyMem_Free(qbuf)
                PyMem_Free(obuf)

    def summary(self):
        """Percentiles 50/90/99/99.9, min, max, mean, last and count at once.

        Returns:
            LatencySummary: in nanoseconds; every field is 0 when empty.
        """
        cdef int64_t[4] p
        cdef size_t i, n = self._size
        cdef int64_t x, lo, hi
        cdef double total = 0.0
        if n == 0:
            return LatencySummary(0, 0, 0, 0, 0, 0, 0.0, 0, self._count)
        self.copy_window_c(self._scratch)
        lo = hi = self._scratch[0]
        for i in range(n):
            x = self._scratch[i]
            if x < lo:
                lo = x
            if x > hi:
                hi = x
            total += <double>x
        zenws_quantiles_i64(self._scratch, n, _SUMMARY_QS, 4, p)
        return LatencySummary(
            p[0], p[1], p[2], p[3], lo, hi, total / <double>n, self._last, self._count
        )

    def to_numpy(self):
        """The held samples as a new int64 numpy array, oldest first."""
        import numpy  # deferred: importing zenws.fast must not pull numpy in

        arr = numpy.empty(self._size, dtype=numpy.int64)
        cdef int64_t[::1] view = arr
        if self._size:
            self.copy_window_c(&view[0])
        return arr

    def clear(self):
        """Forget every sample (``count`` and ``last`` go back to 0)."""
        self._head = 0
        self._size = 0
        self._count = 0
        self._last = 0
