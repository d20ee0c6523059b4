"""Rate-limit policy: exchange presets and the async FIFO :class:`RateLimiter`.

The mechanism (token buckets, the method -> bucket table) is compiled in
:mod:`zenws.fast.ratelimit`; this module decides the numbers and the queueing::

    from zenws.ratelimit import RateLimiter, preset

    limiter = RateLimiter(preset("deribit", credits_refill=20_000), max_queue=256)
    if not limiter.acquire_nowait("private/buy"):   # fast path: no await, no allocation
        await limiter.acquire("private/buy")         # waits in FIFO order or raises RateLimited
    client.send(...)

Requests that find their bucket empty wait in a bounded FIFO per bucket, so a
cheap request never overtakes an earlier, more expensive one drawing from the
same bucket (requests on other buckets are independent).  One timer per
bucket, computed from :meth:`TokenBucket.time_until`, wakes the head of the
queue: no polling.  A full queue raises :class:`~zenws.errors.RateLimited`
at once, so nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, NoReturn

from zenws import telemetry
from zenws.errors import ConfigError, ConnectionLost, RateLimited
from zenws.fast.ratelimit import Limiter, TokenBucket

__all__ = [
    "BINANCE_WEIGHTS",
    "DERIBIT_MATCHING_ENGINE_METHODS",
    "DERIBIT_SUBSCRIBE_METHODS",
    "Limiter",
    "Pressure",
    "RateLimiter",
    "TokenBucket",
    "preset",
]

Pressure = Literal["none", "low", "medium", "high"]

# ---- Deribit ---------------------------------------------------------------
# Credit system, https://docs.deribit.com/articles/rate-limits: every request
# costs credits from a pool that refills continuously (a token bucket).
# Defaults are the documented ones for a default-tier sub-account; every number
# is a preset() keyword because tiers differ.

#: Requests executed by the matching engine (orders, edits, cancels); Deribit
#: limits them separately (default tier 5 requests/s, burst 20).  Mass quotes
#: (private/mass_quote, private/cancel_quotes) follow their own documented
#: limits and are not in this table; add them with ``costs=`` when used.
DERIBIT_MATCHING_ENGINE_METHODS: tuple[str, ...] = (
    "private/buy",
    "private/sell",
    "private/edit",
    "private/edit_by_label",
    "private/cancel",
    "private/cancel_by_label",
    "private/cancel_all",
    "private/cancel_all_by_instrument",
    "private/cancel_all_by_currency",
    "private/cancel_all_by_currency_pair",
    "private/cancel_all_by_kind_or_type",
    "private/close_position",
    "private/verify_block_trade",
    "private/execute_block_trade",
    "private/move_positions",
)

#: Subscription management draws from its own, more expensive pool.
DERIBIT_SUBSCRIBE_METHODS: tuple[str, ...] = (
    "public/subscribe",
    "private/subscribe",
    "public/unsubscribe",
    "private/unsubscribe",
    "public/unsubscribe_all",
    "private/unsubscribe_all",
)

_DERIBIT_DEFAULTS: dict[str, float] = {
    "request_cost": 500,  # non-matching-engine request
    "credits_pool": 50_000,  # -> burst of 100 requests
    "credits_refill": 10_000,  # credits/s -> 20 requests/s sustained
    "subscribe_cost": 3_000,
    "subscribe_pool": 30_000,  # -> burst of 10 subscribe calls
    "subscribe_refill": 10_000,  # credits/s -> ~3.3 subscribe calls/s
    "matching_engine_rate": 5,  # requests/s (testnet / default tier)
    "matching_engine_burst": 20,
}

# ---- Binance ---------------------------------------------------------------
# Spot WebSocket API, https://developers.binance.com/docs/binance-spot-api-docs/
# web-socket-api (sections "Rate limits" and each method's "Weight"): requests
# share a REQUEST_WEIGHT limit of 6000 per 1-minute interval per IP.  Weights
# that depend on parameters are given for the default parameters (one symbol,
# default limit); override with ``costs=`` for heavier calls.

#: Weight of common Binance Spot WebSocket API methods (unlisted methods: 1).
BINANCE_WEIGHTS: dict[str, float] = {
    "ping": 1,
    "time": 1,
    "exchangeInfo": 20,
    "depth": 5,  # limit 1-100 (default 100); 101-500: 25, 501-1000: 50, 1001-5000: 250
    "trades.recent": 25,
    "trades.historical": 25,
    "trades.aggregate": 4,
    "klines": 2,
    "uiKlines": 2,
    "avgPrice": 2,
    "ticker.24hr": 2,  # 1-20 symbols; 21-100: 40, more or all: 80
    "ticker.tradingDay": 4,  # per symbol
    "ticker": 4,  # per symbol (rolling window)
    "ticker.price": 2,  # one symbol; several or all: 4
    "ticker.book": 2,  # one symbol; several or all: 4
    "session.logon": 2,
    "session.status": 2,
    "session.logout": 2,
    "order.test": 1,  # 20 with computeCommissionRates
    "order.place": 1,
    "order.status": 4,
    "order.cancel": 1,
    "order.cancelReplace": 1,
    "openOrders.status": 6,  # one symbol; all symbols: 80
    "openOrders.cancelAll": 1,
    "orderList.place": 1,
    "orderList.place.oco": 1,
    "orderList.place.oto": 1,
    "orderList.place.otoco": 1,
    "orderList.status": 4,
    "orderList.cancel": 1,
    "openOrderLists.status": 6,
    "sor.order.place": 1,
    "sor.order.test": 1,
    "account.status": 20,
    "account.rateLimits.orders": 40,
    "account.commission": 20,
    "allOrders": 20,
    "allOrderLists": 20,
    "myTrades": 20,
    "myPreventedMatches": 20,
    "myAllocations": 20,
    "userDataStream.start": 2,
    "userDataStream.ping": 2,
    "userDataStream.stop": 2,
    "userDataStream.subscribe": 2,
    "userDataStream.unsubscribe": 2,
}

_BINANCE_DEFAULTS: dict[str, float] = {
    "weight_per_minute": 6000,
    # Binance counts per calendar minute, a bucket over any 60 s: with
    # burst + 60 * refill == weight_per_minute no minute can exceed the limit.
    "burst": 1200,
    "default_weight": 1,
}

_SIMPLE_DEFAULTS: dict[str, float] = {"rate": 10.0, "burst": 10.0}


def _number(preset_name: str, key: str, value: object, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(
            f"rate_limit preset {preset_name!r}: {key} must be a finite number, got {value!r}",
            field="rate_limit",
        )
    if value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ConfigError(
            f"rate_limit preset {preset_name!r}: {key} must be {bound}, got {value!r}",
            field="rate_limit",
        )
    return float(value)


def _split(
    name: str, defaults: Mapping[str, float], overrides: dict[str, Any], extra: Iterable[str]
) -> dict[str, float]:
    allowed = {*defaults, *extra}
    unknown = sorted(set(overrides) - allowed)
    if unknown:
        raise ConfigError(
            f"rate_limit preset {name!r} has no option(s) {', '.join(unknown)}; "
            f"options: {', '.join(sorted(allowed))}",
            field="rate_limit",
        )
    values = {}
    for key, default in defaults.items():
        value = overrides.get(key, default)
        values[key] = _number(name, key, value, positive=key != "default_weight")
    return values


def _costs(name: str, value: object) -> dict[str, tuple[str, float]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"rate_limit preset {name!r}: costs must map method -> (bucket, cost)",
            field="rate_limit",
        )
    return dict(value)


def _methods(name: str, key: str, value: object, default: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return default
    methods = tuple(value) if isinstance(value, Iterable) and not isinstance(value, str) else None
    if methods is None or not all(isinstance(m, str) for m in methods):
        raise ConfigError(
            f"rate_limit preset {name!r}: {key} must be an iterable of method names",
            field="rate_limit",
        )
    return methods


def _deribit(clock: Callable[[], int] | None, overrides: dict[str, Any]) -> Limiter:
    extra = ("costs", "matching_engine_methods", "subscribe_methods")
    v = _split("deribit", _DERIBIT_DEFAULTS, overrides, extra)
    buckets = {
        "non_matching": TokenBucket(v["credits_pool"], v["credits_refill"], clock=clock),
        "subscribe": TokenBucket(v["subscribe_pool"], v["subscribe_refill"], clock=clock),
        "matching_engine": TokenBucket(
            v["matching_engine_burst"], v["matching_engine_rate"], clock=clock
        ),
    }
    costs: dict[str, tuple[str, float]] = {}
    me = _methods(
        "deribit",
        "matching_engine_methods",
        overrides.get("matching_engine_methods"),
        DERIBIT_MATCHING_ENGINE_METHODS,
    )
    subs = _methods(
        "deribit",
        "subscribe_methods",
        overrides.get("subscribe_methods"),
        DERIBIT_SUBSCRIBE_METHODS,
    )
    costs.update((m, ("matching_engine", 1.0)) for m in me)
    costs.update((m, ("subscribe", v["subscribe_cost"])) for m in subs)
    costs.update(_costs("deribit", overrides.get("costs")))
    return Limiter(buckets, costs, ("non_matching", v["request_cost"]))


def _binance(clock: Callable[[], int] | None, overrides: dict[str, Any]) -> Limiter:
    v = _split("binance", _BINANCE_DEFAULTS, overrides, ("costs",))
    per_minute, burst = v["weight_per_minute"], v["burst"]
    if burst > per_minute:
        raise ConfigError(
            f"rate_limit preset 'binance': burst ({burst:g}) cannot exceed "
            f"weight_per_minute ({per_minute:g})",
            field="rate_limit",
        )
    bucket = TokenBucket(burst, (per_minute - burst) / 60.0, clock=clock)
    costs = {m: ("weight", float(w)) for m, w in BINANCE_WEIGHTS.items()}
    costs.update(_costs("binance", overrides.get("costs")))
    return Limiter({"weight": bucket}, costs, ("weight", v["default_weight"]))


def _simple(clock: Callable[[], int] | None, overrides: dict[str, Any]) -> Limiter:
    defaults = dict(_SIMPLE_DEFAULTS)
    if "rate" in overrides and "burst" not in overrides:
        rate = _number("simple", "rate", overrides["rate"], positive=True)
        defaults["burst"] = max(1.0, rate)  # burst follows the rate
    v = _split("simple", defaults, overrides, ("costs",))
    if v["burst"] < 1:
        raise ConfigError(
            f"rate_limit preset 'simple': burst must be >= 1 (one request), got {v['burst']:g}",
            field="rate_limit",
        )
    bucket = TokenBucket(v["burst"], v["rate"], clock=clock)
    return Limiter({"default": bucket}, _costs("simple", overrides.get("costs")), ("default", 1.0))


_PRESETS = {"deribit": _deribit, "binance": _binance, "simple": _simple}


def preset(name: str, *, clock: Callable[[], int] | None = None, **overrides: Any) -> Limiter:
    """Build the :class:`Limiter` of a named exchange preset.

    Presets and their options (every number can be overridden):

    * ``"deribit"`` (buckets ``non_matching``, ``subscribe``, ``matching_engine``):
      ``request_cost=500``, ``credits_pool=50_000``, ``credits_refill=10_000`` (per s);
      ``subscribe_cost=3_000``, ``subscribe_pool=30_000``, ``subscribe_refill=10_000``;
      ``matching_engine_rate=5`` (requests/s), ``matching_engine_burst=20``;
      ``matching_engine_methods`` and ``subscribe_methods`` replace the method lists.
    * ``"binance"`` (bucket ``weight``): ``weight_per_minute=6000``, ``burst=1200``
      (refill is ``(weight_per_minute - burst) / 60`` per s, so no calendar minute
      exceeds the limit), ``default_weight=1``; method weights from
      :data:`BINANCE_WEIGHTS`.
    * ``"simple"`` (bucket ``default``): one token per request, ``rate=10`` per s,
      ``burst`` (default ``max(1, rate)``).

    Every preset also takes ``costs={method: (bucket, cost)}`` to add or replace
    table entries, and ``clock`` (a callable returning int ns; tests use it).

    Args:
        name: ``"deribit"``, ``"binance"`` or ``"simple"``.
        clock: the buckets' clock (default the C monotonic clock).
        **overrides: the preset's options above.

    Returns:
        A new :class:`Limiter` (buckets start full).

    Raises:
        ConfigError: an unknown preset or option, or a bad value (``field="rate_limit"``).
    """
    build = _PRESETS.get(name) if isinstance(name, str) else None
    if build is None:
        raise ConfigError(
            f"unknown rate_limit preset {name!r}; choose one of {', '.join(sorted(_PRESETS))}",
            field="rate_limit",
        )
    return build(clock, overrides)


# ---- the async queue ------------------------------------------------------------


class _Waiter:
    __slots__ = ("cost", "future", "method", "since_ns")

    def __init__(self, future: asyncio.Future[None], cost: float, method: str) -> None:
        self.future = future
        self.cost = cost
        self.method = method
        self.since_ns = time.monotonic_ns()


class _Lane:
    """The FIFO of one bucket and its single wake-up timer."""

    __slots__ = ("bucket", "name", "queued_cost", "timer", "waiters")

    def __init__(self, name: str, bucket: TokenBucket) -> None:
        self.name = name
        self.bucket = bucket
        self.waiters: deque[_Waiter] = deque()
        self.queued_cost = 0.0
        self.timer: asyncio.TimerHandle | None = None


def _level(depth: int, max_queue: int) -> Pressure:
    if max_queue <= 0 or depth * 4 < max_queue:
        return "none"
    if depth * 2 < max_queue:
        return "low"
    if depth * 4 < max_queue * 3:
        return "medium"
    return "high"


class RateLimiter:
    """Async, FIFO-fair front of a :class:`Limiter`.

    Contract: :meth:`acquire_nowait` succeeds only when the method's bucket has
    the tokens *and* nobody is waiting on that bucket (so FIFO order holds).
    :meth:`acquire` waits otherwise, in arrival order per bucket, up to
    ``max_queue`` waiters in total; past that it raises
    :class:`~zenws.errors.RateLimited` immediately.  A cancelled waiter leaves
    the queue (tokens it was already granted are refunded) and the next one
    proceeds.  :meth:`close` fails every waiter, e.g. on disconnect; the
    limiter stays usable afterwards (token state survives reconnects, as the
    exchange's does).

    Telemetry: ``ratelimit.wait`` (``wait_ns``; metadata method, bucket) when a
    queued request is released, ``ratelimit.rejected`` (``queue_depth``,
    ``retry_after``; metadata method, bucket, reason), ``ratelimit.pressure``
    (``queue_depth``, ``max_queue``; metadata level, previous) on level changes.

    Args:
        limiter: a :class:`Limiter` or a preset name for :func:`preset`.
        max_queue: most requests waiting at once (>= 0; 0 never queues).
        loop: the event loop for timers (default: the running loop).

    Raises:
        ConfigError: bad ``limiter`` or ``max_queue``.
    """

    def __init__(
        self,
        limiter: Limiter | str,
        *,
        max_queue: int = 1024,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if isinstance(limiter, str):
            limiter = preset(limiter)
        if not isinstance(limiter, Limiter):
            raise ConfigError(
                f"rate_limit must be a preset name or a Limiter, got {type(limiter).__name__}",
                field="rate_limit",
            )
        if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 0:
            raise ConfigError(
                f"max_queue must be an int >= 0, got {max_queue!r}", field="max_queue"
            )
        self._limiter = limiter
        self._max_queue = max_queue
        self._loop = loop
        self._lanes = {name: _Lane(name, b) for name, b in limiter.buckets.items()}
        self._depth = 0
        self._pressure: Pressure = "none"

    # ---- state ------------------------------------------------------------------

    @property
    def limiter(self) -> Limiter:
        """The underlying :class:`Limiter`."""
        return self._limiter

    @property
    def max_queue(self) -> int:
        """Most requests that may wait at once."""
        return self._max_queue

    @property
    def queue_depth(self) -> int:
        """Requests waiting now, over all buckets."""
        return self._depth

    @property
    def pressure(self) -> Pressure:
        """``"none"``/``"low"``/``"medium"``/``"high"`` at 25/50/75 % queue fill."""
        return self._pressure

    # ---- acquiring --------------------------------------------------------------

    def acquire_nowait(self, method: str) -> bool:
        """Take ``method``'s tokens now if possible (no await, no allocation).

        Returns:
            True when the request may be sent now; False when it must wait
            (bucket empty, or earlier requests are queued on the same bucket).
        """
        route = self._limiter.route(method)
        if self._lanes[route.bucket_name].waiters:
            return False
        return route.bucket.try_acquire(route.cost)

    async def acquire(self, method: str) -> None:
        """Wait until ``method`` may be sent, in FIFO order within its bucket.

        Raises:
            RateLimited: the queue is full, or the bucket never refills
                (``retry_after`` estimates the wait; ``inf`` for never).
            asyncio.CancelledError: cancelled while waiting (the queue is left clean).
            Exception: the ``exc`` passed to :meth:`close` while waiting.
        """
        if self.acquire_nowait(method):
            return
        route = self._limiter.route(method)
        lane = self._lanes[route.bucket_name]
        bucket, cost = route.bucket, route.cost
        if bucket.refill_per_s == 0.0:
            self._reject(method, lane, math.inf, "no_refill")
        if self._depth >= self._max_queue:
            deficit = lane.queued_cost + cost - bucket.tokens
            self._reject(method, lane, max(0.0, deficit) / bucket.refill_per_s, "queue_full")
        loop = self._loop if self._loop is not None else asyncio.get_running_loop()
        waiter = _Waiter(loop.create_future(), cost, method)
        lane.waiters.append(waiter)
        lane.queued_cost += cost
        self._depth += 1
        self._update_pressure()
        if len(lane.waiters) == 1:
            self._arm(lane, loop)
        try:
            await waiter.future
        except asyncio.CancelledError:
            self._cancelled(lane, waiter, loop)
            raise
        if telemetry.active:
            telemetry.emit(
                "ratelimit.wait",
                {"wait_ns": time.monotonic_ns() - waiter.since_ns},
                {"method": method, "bucket": lane.name},
            )

    def refund(self, method: str) -> None:
        """Return ``method``'s tokens (a request that could not be sent) and wake waiters."""
        route = self._limiter.route(method)
        route.bucket.refund(route.cost)
        lane = self._lanes[route.bucket_name]
        if lane.waiters:
            self._service(lane)

    def close(self, exc: BaseException | None = None) -> None:
        """Fail every waiter with ``exc`` (default :class:`~zenws.errors.ConnectionLost`).

        Used on disconnect.  Timers are cancelled; the limiter stays usable.
        """
        if exc is None:
            exc = ConnectionLost("connection closed while waiting for the rate limiter")
        for lane in self._lanes.values():
            if lane.timer is not None:
                lane.timer.cancel()
                lane.timer = None
            waiters, lane.waiters = lane.waiters, deque()
            lane.queued_cost = 0.0
            for w in waiters:
                if not w.future.done():
                    w.future.set_exception(exc)
        self._depth = 0
        self._update_pressure()

    # ---- internals ---------------------------------------------------------------

    def _reject(self, method: str, lane: _Lane, retry_after: float, reason: str) -> NoReturn:
        if telemetry.active:
            telemetry.emit(
                "ratelimit.rejected",
                {"queue_depth": self._depth, "retry_after": retry_after},
                {"method": method, "bucket": lane.name, "reason": reason},
            )
        if reason == "no_refill":
            msg = f"rate limit bucket {lane.name!r} is empty and has no refill ({method})"
        else:
            msg = (
                f"rate limiter queue is full ({self._max_queue} waiting); bucket "
                f"{lane.name!r} expects tokens for {method!r} in {retry_after:.3f}s"
            )
        raise RateLimited(msg, bucket=lane.name, retry_after=retry_after)

    def _arm(self, lane: _Lane, loop: asyncio.AbstractEventLoop) -> None:
        head = lane.waiters[0]
        delay = lane.bucket.time_until(head.cost)
        # Round up to whole milliseconds: uvloop rounds timers to the nearest
        # ms and asyncio waits in ms, so a sub-ms re-arm could fire early and
        # spin.  Tokens keep accruing meanwhile, so throughput is unaffected.
        delay = math.ceil(delay * 1000.0) / 1000.0
        lane.timer = loop.call_later(delay, self._service, lane)

    def _service(self, lane: _Lane) -> None:
        """Release waiters from the head of ``lane`` while tokens last; re-arm its timer."""
        if lane.timer is not None:
            lane.timer.cancel()
            lane.timer = None
        waiters, bucket = lane.waiters, lane.bucket
        while waiters:
            head = waiters[0]
            if head.future.done():  # failed by close() or cancelled: just drop it
                self._pop(lane)
                continue
            if not bucket.try_acquire(head.cost):
                self._arm(lane, head.future.get_loop())
                break
            self._pop(lane)
            head.future.set_result(None)
        self._update_pressure()

    def _pop(self, lane: _Lane) -> None:
        w = lane.waiters.popleft()
        lane.queued_cost = max(0.0, lane.queued_cost - w.cost)
        self._depth -= 1

    def _cancelled(self, lane: _Lane, waiter: _Waiter, loop: asyncio.AbstractEventLoop) -> None:
        if waiter.future.done() and not waiter.future.cancelled():
            if waiter.future.exception() is None:
                # Granted, then cancelled before it could run: the tokens are unused.
                lane.bucket.refund(waiter.cost)
                if lane.waiters:
                    self._service(lane)
            return
        try:
            was_head = lane.waiters[0] is waiter
            lane.waiters.remove(waiter)
        except (IndexError, ValueError):  # already removed by close()
            return
        lane.queued_cost = max(0.0, lane.queued_cost - waiter.cost)
        self._depth -= 1
        if was_head:
            # The timer was computed for this waiter's cost; the next may need less.
            self._service(lane)
        else:
            self._update_pressure()

    def _update_pressure(self) -> None:
        level = _level(self._depth, self._max_queue)
        if level is self._pressure:
            return
        previous, self._pressure = self._pressure, level
        if telemetry.active:
            telemetry.emit(
                "ratelimit.pressure",
                {"queue_depth": self._depth, "max_queue": self._max_queue},
                {"level": level, "previous": previous},
            )

    def __repr__(self) -> str:
        return (
            f"RateLimiter(queue_depth={self._depth}, max_queue={self._max_queue}, "
            f"pressure={self._pressure!r})"
        )
