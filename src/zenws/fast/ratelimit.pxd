# C-level API of zenws.fast.ratelimit: token buckets with lazy continuous
# refill and a method -> (bucket, cost) table.  cimport-able:
#     from zenws.fast.ratelimit cimport TokenBucket, Limiter, Route
cimport cython
from libc.stdint cimport int64_t


@cython.final
cdef class TokenBucket:
    cdef double _capacity
    cdef double _refill_per_s
    cdef double _refill_per_ns
    cdef double _tokens
    cdef double _eps             # float slack so a wait of time_until() always suffices
    cdef int64_t _last_ns        # clock reading of the last refill
    cdef object _clock           # None: the C monotonic clock; else callable -> int ns

    # Current time in ns from the bucket's clock (a Python clock may raise).
    cdef int64_t now_c(self) except? -1
    # Add the tokens earned since the last refill (capped at capacity).
    cdef void refill_c(self, int64_t now) noexcept
    # Take `cost` tokens if available.  False when not (and for a negative/NaN
    # cost or one above capacity).  With a Python clock that raises, the error
    # is reported as unraisable and the bucket is not refilled.
    cdef bint try_acquire_c(self, double cost) noexcept
    # Seconds until `cost` tokens are available (0.0 now); INFINITY when they
    # never will be (cost above capacity, or no refill).
    cdef double time_until_c(self, double cost) noexcept
    # Give back `cost` tokens (capped at capacity), e.g. a request not sent.
    cdef void refund_c(self, double cost) noexcept


@cython.final
cdef class Route:
    cdef readonly str bucket_name   #: str
    cdef readonly TokenBucket bucket  #: TokenBucket
    cdef readonly double cost       #: float


@cython.final
cdef class Limiter:
    cdef dict _buckets              # name -> TokenBucket
    cdef dict _routes               # method -> Route
    cdef Route _default

    # The route of a method (the default route for unknown methods).
    cdef Route route_c(self, object method)
