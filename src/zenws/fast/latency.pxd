# C-level API of zenws.fast.latency: a ring of int64 nanosecond samples with
# nearest-rank percentiles (numpy "inverted_cdf").  cimport-able:
#     from zenws.fast.latency cimport LatencyBuffer
cimport cython
from libc.stdint cimport int64_t, uint64_t


cdef extern from "zenws_quantile.h" nogil:
    enum:
        ZENWS_Q_OK
        ZENWS_Q_EINVAL
        ZENWS_Q_ENOMEM
    int zenws_quantile_budget_extra
    size_t zenws_quantile_rank(size_t n, double q) noexcept
    void zenws_select_i64(int64_t* a, size_t n, size_t k) noexcept
    void zenws_multiselect_i64(int64_t* a, size_t n, const size_t* ranks,
                               size_t m) noexcept
    int zenws_quantiles_i64(int64_t* a, size_t n, const double* qs, size_t m,
                            int64_t* out) noexcept


@cython.final
cdef class LatencyBuffer:
    cdef int64_t* _buf          # ring storage, `_capacity` slots
    cdef int64_t* _scratch      # percentile work area, `_capacity` slots
    cdef size_t _capacity
    cdef size_t _head           # next slot to write
    cdef size_t _size           # samples held (<= _capacity)
    cdef uint64_t _count        # samples added since creation / clear()
    cdef int64_t _last          # most recent sample (0 when empty)

    # Record one sample; touches no Python object.
    cdef void add_c(self, int64_t ns) noexcept
    # Record every value of an int64 view, oldest first.
    cdef void extend_c(self, const int64_t[:] view) noexcept
    # Copy the held samples, oldest first, to dst (room for len(self)); returns the count.
    cdef size_t copy_window_c(self, int64_t* dst) noexcept
    # out[i] = percentile qs[i] of the held samples.  Returns 0, or -1 when
    # empty / a q is outside [0, 100] (no exception set), -2 out of memory.
    cdef int percentiles_c(self, const double* qs, size_t m, int64_t* out) noexcept
