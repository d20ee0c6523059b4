"""Token buckets with lazy continuous refill, and a method -> bucket table.

A :class:`TokenBucket` holds up to ``capacity`` tokens and earns
``refill_per_s`` tokens per second, computed on access from a monotonic
nanosecond clock (no timers, no threads).  It starts full.  A :class:`Limiter`
maps request method names to ``(bucket, cost)`` so one call decides whether a
request may go now.  Queueing and fairness live in :mod:`zenws.ratelimit`.
"""

cimport cython
from cpython.number cimport PyNumber_Index
from libc.math cimport INFINITY, isfinite
from libc.stdint cimport int64_t

from zenws.fast.common cimport zenws_monotonic_ns

from collections.abc import Mapping

from zenws.errors import ConfigError

__all__ = ["Limiter", "Route", "TokenBucket"]

# Relative slack on the token comparison: time_until() divides and refill
# multiplies, and the round trip may come up an ulp short.  1e-12 of the
# capacity is far below any real cost and far above float error.
cdef double _EPS = 1e-12


cdef int64_t _py_clock(TokenBucket b) noexcept:
    # An injected clock that raises is reported as unraisable (C callers have
    # no way to see an exception) and reads as 0, which earns no refill.
    return b.now_c()


cdef inline int64_t _now(TokenBucket b) noexcept:
    if b._clock is None:
        return zenws_monotonic_ns()
    return _py_clock(b)


cdef inline bint _take(TokenBucket b, double cost) noexcept:
    if b._tokens + b._eps >= cost:
        b._tokens -= cost
        if b._tokens < 0.0:
            b._tokens = 0.0
        return True
    return False


cdef inline double _wait(TokenBucket b, double cost) noexcept:
    if b._tokens + b._eps >= cost:
        return 0.0
    if cost > b._capacity or b._refill_per_s == 0.0:
        return INFINITY
    return (cost - b._tokens) / b._refill_per_s


cdef inline int _check_cost(TokenBucket b, double cost) except -1:
    if not (cost >= 0.0):
        raise ValueError(f"cost must be a number >= 0, got {cost!r}")
    if cost > b._capacity:
        raise ValueError(
            f"cost {cost:g} exceeds the bucket capacity {b._capacity:g}: "
            "it could never be acquired"
        )
    return 0


@cython.final
cdef class TokenBucket:
    """A token bucket with continuous refill.

    Args:
        capacity: maximum tokens (the burst), > 0.
        refill_per_s: tokens earned per second, >= 0 (0: a fixed budget that
            only :meth:`refund` replenishes).
        clock: a callable returning the time in integer nanoseconds (tests
            inject a fake clock); default the C monotonic clock, the one
            ``time.monotonic_ns()`` reads.

    Raises:
        ConfigError: a bad capacity, refill rate or clock (``field`` names it).
    """

    def __cinit__(self, capacity, refill_per_s, *, clock=None):
        cdef double cap, rate
        try:
            cap = capacity
        except TypeError:
            raise ConfigError(
                f"capacity must be a number, got {type(capacity).__name__}", field="capacity"
            ) from None
        try:
            rate = refill_per_s
        except TypeError:
            raise ConfigError(
                f"refill_per_s must be a number, got {type(refill_per_s).__name__}",
                field="refill_per_s",
            ) from None
        if not (cap > 0.0 and isfinite(cap)):
            raise ConfigError(
                f"capacity must be a finite number > 0, got {capacity!r}", field="capacity"
            )
        if not (rate >= 0.0 and isfinite(rate)):
            raise ConfigError(
                f"refill_per_s must be a finite number >= 0, got {refill_per_s!r}",
                field="refill_per_s",
            )
        if clock is not None and not callable(clock):
            raise ConfigError("clock must be a callable returning int nanoseconds", field="clock")
        self._capacity = cap
        self._refill_per_s = rate
        self._refill_per_ns = rate / 1e9
        self._tokens = cap
        self._eps = cap * _EPS
        self._clock = clock
        self._last_ns = self.now_c()

    # ---- C level -----------------------------------------------------------

    cdef int64_t now_c(self) except? -1:
        if self._clock is None:
            return zenws_monotonic_ns()
        return PyNumber_Index(self._clock())

    cdef void refill_c(self, int64_t now) noexcept:
        # A clock that steps back (only an injected one can) earns nothing.
        if now > self._last_ns:
            if self._tokens < self._capacity:
                self._tokens += <double>(now - self._last_ns) * self._refill_per_ns
                if self._tokens > self._capacity:
                    self._tokens = self._capacity
            self._last_ns = now

    cdef bint try_acquire_c(self, double cost) noexcept:
        if not (cost >= 0.0 and cost <= self._capacity):
            return False
        self.refill_c(_now(self))
        return _take(self, cost)

    cdef double time_until_c(self, double cost) noexcept:
        if not (cost >= 0.0):
            return INFINITY
        self.refill_c(_now(self))
        return _wait(self, cost)

    cdef void refund_c(self, double cost) noexcept:
        if not (cost > 0.0):
            return
        self.refill_c(_now(self))
        self._tokens += cost
        if self._tokens > self._capacity:
            self._tokens = self._capacity

    # ---- Python level ------------------------------------------------------

    def try_acquire(self, double cost=1.0):
        """Take ``cost`` tokens if they are available now.

        Args:
            cost: tokens to take (0 <= cost <= capacity).

        Returns:
            bool: True when taken, False when not enough tokens (nothing taken).

        Raises:
            ValueError: ``cost`` is negative, NaN or above the capacity.
        """
        _check_cost(self, cost)
        self.refill_c(self.now_c())
        return _take(self, cost)

    def time_until(self, double cost=1.0):
        """Seconds until ``cost`` tokens are available.

        Args:
            cost: tokens wanted (0 <= cost <= capacity).

        Returns:
            float: 0.0 when available now; ``math.inf`` when the bucket has no
            refill and not enough tokens.  Waiting exactly this long (on the
            bucket's clock) is enough, provided nobody else takes tokens.

        Raises:
            ValueError: ``cost`` is negative, NaN or above the capacity (such a
                request could never be served, so there is no finite wait).
        """
        _check_cost(self, cost)
        self.refill_c(self.now_c())
        return _wait(self, cost)

    def refund(self, double cost=1.0):
        """Give back ``cost`` tokens (e.g. a request that failed to send).

        The bucket never goes above its capacity.

        Raises:
            ValueError: ``cost`` is negative or NaN.
        """
        if not (cost >= 0.0):
            raise ValueError(f"cost must be a number >= 0, got {cost!r}")
        self.refund_c(cost)

    def drain(self):
        """Empty the bucket now (e.g. after the server reported a rate-limit error)."""
        self.refill_c(self.now_c())
        self._tokens = 0.0

    @property
    def tokens(self):
        """float: tokens available now (after refill)."""
        self.refill_c(self.now_c())
        return self._tokens

    @property
    def capacity(self):
        """float: maximum tokens (the burst)."""
        return self._capacity

    @property
    def refill_per_s(self):
        """float: tokens earned per second."""
        return self._refill_per_s

    def __repr__(self):
        return (
            f"TokenBucket(capacity={self._capacity:g}, refill_per_s={self._refill_per_s:g}, "
            f"tokens={self.tokens:.6g})"
        )


@cython.final
cdef class Route:
    """Where a method's requests draw from: ``bucket_name``, ``bucket``, ``cost``."""

    def __cinit__(self, str bucket_name, TokenBucket bucket not None, double cost):
        self.bucket_name = bucket_name
        self.bucket = bucket
        self.cost = cost

    def __repr__(self):
        return f"Route({self.bucket_name!r}, cost={self.cost:g})"


cdef Route _make_route(dict buckets, object spec, str what, str field):
    cdef double cost
    try:
        name, raw_cost = spec
    except (TypeError, ValueError):
        raise ConfigError(
            f"{what} must be a (bucket name, cost) pair, got {spec!r}", field=field
        ) from None
    bucket = buckets.get(name) if isinstance(name, str) else None
    if bucket is None:
        raise ConfigError(
            f"{what} names unknown bucket {name!r} (buckets: {sorted(buckets)})", field=field
        )
    try:
        cost = raw_cost
    except TypeError:
        raise ConfigError(f"{what}: cost must be a number, got {raw_cost!r}", field=field) from None
    if not (cost >= 0.0 and isfinite(cost)):
        raise ConfigError(
            f"{what}: cost must be a finite number >= 0, got {raw_cost!r}", field=field
        )
    if cost > (<TokenBucket>bucket)._capacity:
        raise ConfigError(
            f"{what}: cost {cost:g} exceeds the capacity {(<TokenBucket>bucket)._capacity:g} "
            f"of bucket {name!r}, so it could never be sent",
            field=field,
        )
    return Route(name, bucket, cost)


@cython.final
cdef class Limiter:
    """Maps request methods to ``(bucket, cost)``.

    Args:
        buckets: bucket name -> :class:`TokenBucket` (at least one).
        costs: method name -> ``(bucket name, cost)``.
        default: ``(bucket name, cost)`` for every method not in ``costs``.

    Raises:
        ConfigError: an unknown bucket name, a negative cost, or a cost above
            its bucket's capacity (``field`` is ``buckets``, ``costs`` or ``default``).
    """

    def __cinit__(self, buckets, costs, default):
        if not isinstance(buckets, Mapping) or not buckets:
            raise ConfigError("buckets must be a non-empty mapping of name -> TokenBucket",
                              field="buckets")
        for name, bucket in buckets.items():
            if not isinstance(name, str) or not isinstance(bucket, TokenBucket):
                raise ConfigError(
                    f"buckets must map str names to TokenBucket, got {name!r}: {bucket!r}",
                    field="buckets",
                )
        if not isinstance(costs, Mapping):
            raise ConfigError("costs must be a mapping of method -> (bucket name, cost)",
                              field="costs")
        self._buckets = dict(buckets)
        self._routes = {}
        for method, spec in costs.items():
            if not isinstance(method, str):
                raise ConfigError(f"method names must be str, got {method!r}", field="costs")
            self._routes[method] = _make_route(self._buckets, spec, f"costs[{method!r}]", "costs")
        self._default = _make_route(self._buckets, default, "default", "default")

    cdef Route route_c(self, object method):
        route = self._routes.get(method)
        return self._default if route is None else <Route>route

    def route(self, method):
        """The :class:`Route` (bucket name, bucket, cost) of ``method``."""
        return self.route_c(method)

    def cost_of(self, method):
        """``(bucket name, cost)`` that ``method`` draws."""
        cdef Route r = self.route_c(method)
        return (r.bucket_name, r.cost)

    def bucket_for(self, method):
        """The :class:`TokenBucket` that ``method`` draws from."""
        return self.route_c(method).bucket

    def try_acquire(self, method):
        """Take ``method``'s cost from its bucket if available now.

        Returns:
            bool: True when the request may be sent now.
        """
        cdef Route r = self.route_c(method)
        return r.bucket.try_acquire_c(r.cost)

    def time_until(self, method):
        """Seconds until ``method``'s cost is available (0.0 now, inf never)."""
        cdef Route r = self.route_c(method)
        return r.bucket.time_until(r.cost)

    def refund(self, method):
        """Give ``method``'s cost back to its bucket (a request that was not sent)."""
        cdef Route r = self.route_c(method)
        r.bucket.refund_c(r.cost)

    @property
    def buckets(self):
        """dict[str, TokenBucket]: the buckets by name (a copy of the mapping)."""
        return dict(self._buckets)

    @property
    def costs(self):
        """dict[str, tuple[str, float]]: method -> (bucket name, cost) (a copy)."""
        return {m: ((<Route>r).bucket_name, (<Route>r).cost) for m, r in self._routes.items()}

    @property
    def default(self):
        """tuple[str, float]: the (bucket name, cost) of methods not in ``costs``."""
        return (self._default.bucket_name, self._default.cost)

    def __repr__(self):
        return f"Limiter(buckets={self._buckets!r}, methods={len(self._routes)}, " \
               f"default={self.default!r})"
