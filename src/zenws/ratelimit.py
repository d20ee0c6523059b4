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
from collections.abc import Callable
from typing import Literal, NoReturn

from zenws import telemetry
from zenws._ratelimit_presets import (
    BINANCE_WEIGHTS,
    DERIBIT_MATCHING_ENGINE_METHODS,
    DERIBIT_SUBSCRIBE_METHODS,
    preset,
)
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

_MAX_CACHED_METHODS = 4096


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
        # method -> (lane, bound try_acquire, cost): saves the table lookup on the fast path.
        self._entries: dict[str, tuple[_Lane, Callable[[float], bool], float]] = {}

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
        entry = self._entries.get(method)
        if entry is None:
            entry = self._entry(method)
        lane, try_acquire, cost = entry
        if lane.waiters:
            return False
        return try_acquire(cost)

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

    def _entry(self, method: str) -> tuple[_Lane, Callable[[float], bool], float]:
        route = self._limiter.route(method)
        entry = (self._lanes[route.bucket_name], route.bucket.try_acquire, route.cost)
        if len(self._entries) < _MAX_CACHED_METHODS:  # bounded: method names may be dynamic
            self._entries[method] = entry
        return entry

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
