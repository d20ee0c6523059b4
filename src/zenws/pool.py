"""Pool: supervised clients to several endpoints, health scoring, balanced sends and requests.

Each member has a supervisor task that connects its client, restarts it with jittered
exponential backoff when it closes for good (initial connect failed, or the client gave up
reconnecting) and suspends only that member for ``restart_window`` seconds when it restarts
more than ``max_restarts`` times within the window, so one flapping endpoint never affects the
others. Plain connection drops are handled by each client's own reconnect logic.

A health score (0-100) per member is *pushed* by a periodic tick that reads cheap client
snapshots (``state``, ``metrics()``, ``latency_stats()``, ``heartbeat_health()``); routing only
reads the cached scores, so sending costs no extra calls. See :func:`score`.

Example::

    async with zenws.Pool([url_a, url_b, url_c], heartbeat="ping_pong") as pool:
        result = await pool.request_balanced("public/get_time")
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from . import registry as _registry
from . import telemetry as _tm
from ._pool_health import MemberHealth, score
from ._redact import redact_url
from .errors import ConnectError, ConnectionLost, RateLimited, RequestTimeout, ZenwsError

__all__ = ["MemberHealth", "Pool", "score"]

log = logging.getLogger("zenws.pool")

Callback = Callable[[Any], "Awaitable[None] | None"]
Discovery = Callable[[], "Iterable[Any] | Awaitable[Iterable[Any]]"]


@dataclass(eq=False)
class _Member:
    index: int
    name: str
    target: Any  # URL or Config
    url: str
    client: Any = None
    task: asyncio.Task[None] | None = None
    score: int = 0
    health: MemberHealth | None = None
    was_open: bool = False
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    first_attempt: asyncio.Event = field(default_factory=asyncio.Event)
    restart_times: deque[float] = field(default_factory=deque)
    restarts: int = 0
    suspended_until: float = 0.0
    errors: float = 0.0  # decayed error level
    last_errors: int = 0  # client error counters seen on the previous tick
    last_tick: float = 0.0


class Pool:
    """Supervise clients to several endpoints and route to the healthiest.

    Args:
        urls_or_configs: URLs and/or :class:`zenws.Config` objects.
        size: number of clients (endpoints are cycled); default one per endpoint.
        on_connect: ``callback(client)`` (sync or async) each time a member becomes open.
        on_disconnect: ``callback(client)`` each time an open member stops being open.
        discovery: ``() -> iterable of URLs/Configs`` (sync or async), called by
            :meth:`start` and added to ``urls_or_configs``.
        max_restarts: restarts allowed per member within ``restart_window`` before that
            member is suspended for ``restart_window`` seconds.
        restart_window: seconds.
        restart_delay: first restart backoff (seconds, full jitter, doubling).
        max_restart_delay: backoff cap.
        health_interval: seconds between health ticks.
        error_half_life: seconds for the recent-error level to halve.
        latency_ref: p99 latency (seconds) that costs half the latency penalty.
        tie_margin: members within this many points of the best score share round-robin.
        name: pool name (members are ``name[i]`` in :mod:`zenws.registry`).
        **options: :class:`zenws.Config` options for every client.

    Raises:
        ValueError: no endpoint (and no discovery), or a bad size/limit.
    """

    _count = 0

    def __init__(
        self,
        urls_or_configs: Sequence[Any] = (),
        *,
        size: int | None = None,
        on_connect: Callback | None = None,
        on_disconnect: Callback | None = None,
        discovery: Discovery | None = None,
        max_restarts: int = 10,
        restart_window: float = 60.0,
        restart_delay: float = 0.5,
        max_restart_delay: float = 30.0,
        health_interval: float = 0.25,
        error_half_life: float = 10.0,
        latency_ref: float = 0.025,
        tie_margin: int = 5,
        name: str | None = None,
        **options: Any,
    ) -> None:
        if isinstance(urls_or_configs, str):
            urls_or_configs = [urls_or_configs]
        if not urls_or_configs and discovery is None:
            raise ValueError("Pool needs at least one URL/Config or a discovery callable")
        if size is not None and size < 1:
            raise ValueError("size must be >= 1")
        if max_restarts < 0 or restart_window <= 0 or health_interval <= 0:
            raise ValueError("max_restarts >= 0, restart_window > 0, health_interval > 0")
        Pool._count += 1
        self.name = name or f"pool{Pool._count}"
        self._targets = list(urls_or_configs)
        self._size = size
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self._discovery = discovery
        self.max_restarts = max_restarts
        self.restart_window = restart_window
        self.restart_delay = restart_delay
        self.max_restart_delay = max_restart_delay
        self.health_interval = health_interval
        self.error_half_life = error_half_life
        self.latency_ref_ns = int(latency_ref * 1e9)
        self.tie_margin = tie_margin
        self._options = options
        self._members: list[_Member] = []
        self._rr = 0
        self._ticker: asyncio.Task[None] | None = None
        self._running = False
        self._bg: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> Pool:
        """Start every member and wait for each one's first connect attempt.

        Returns:
            The pool.

        Raises:
            ConnectError: no member could connect (the pool is stopped again).
        """
        if self._running:
            return self
        targets = list(self._targets)
        if self._discovery is not None:
            found = self._discovery()
            if inspect.isawaitable(found):
                found = await found
            targets += list(found)
        if not targets:
            raise ConnectError("pool discovery returned no endpoint")
        n = self._size or len(targets)
        self._running = True
        for i in range(n):
            target = targets[i % len(targets)]
            url = target if isinstance(target, str) else getattr(target, "url", str(target))
            m = _Member(i, f"{self.name}[{i}]", target, redact_url(url))
            self._members.append(m)
            m.task = asyncio.create_task(self._supervise(m), name=f"zenws-pool:{m.name}")
        await asyncio.gather(*(m.first_attempt.wait() for m in self._members))
        self._tick()
        self._ticker = asyncio.create_task(self._tick_loop(), name=f"zenws-pool:{self.name}")
        if not any(m.score > 0 for m in self._members):
            await self.stop()
            raise ConnectError(f"no member of {self.name} could connect")
        return self

    async def stop(self) -> None:
        """Stop supervising and close every client."""
        self._running = False
        tasks = [t for t in (self._ticker, *(m.task for m in self._members)) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        clients = [m.client for m in self._members if m.client is not None]
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        for m in self._members:
            _registry.unregister(m.name, m.client)
            m.score = 0
        for t in list(self._bg):
            t.cancel()

    async def __aenter__(self) -> Pool:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ supervision

    async def _connect(self, m: _Member) -> Any:
        from .client import connect

        target = m.target
        if isinstance(target, str):
            return await connect(target, **self._options)
        return await connect(target, **self._options) if self._options else await connect(target)

    async def _supervise(self, m: _Member) -> None:
        failures = 0
        while self._running:
            now = time.monotonic()
            if m.suspended_until > now:
                await asyncio.sleep(m.suspended_until - now)
            m.closed.clear()
            try:
                m.client = await self._connect(m)
            except (ZenwsError, OSError) as exc:
                log.warning("%s: connect to %s failed: %s", m.name, m.url, exc)
                m.first_attempt.set()
            else:
                failures = 0
                _registry.register(m.name, m.client, replace=True)
                m.first_attempt.set()
                self._tick_member(m, time.monotonic())
                await m.closed.wait()  # set by the tick when the client is CLOSED
                _registry.unregister(m.name, m.client)
                m.client = None
                if not self._running:
                    return
                log.warning("%s: client to %s closed, restarting", m.name, m.url)
            failures += 1
            self._count_restart(m)
            cap = min(self.max_restart_delay, self.restart_delay * 2 ** min(failures - 1, 30))
            await asyncio.sleep(random.uniform(0, cap))  # full jitter

    def _count_restart(self, m: _Member) -> None:
        now = time.monotonic()
        m.restarts += 1
        m.restart_times.append(now)
        while m.restart_times and m.restart_times[0] < now - self.restart_window:
            m.restart_times.popleft()
        if len(m.restart_times) > self.max_restarts:
            m.suspended_until = now + self.restart_window
            m.restart_times.clear()
            log.error(
                "%s: %d restarts within %.0f s, suspended for %.0f s (other members unaffected)",
                m.name, self.max_restarts + 1, self.restart_window, self.restart_window,
            )  # fmt: skip

    # ------------------------------------------------------------------ health

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.health_interval)
            self._tick()

    def _tick(self) -> None:
        now = time.monotonic()
        for m in self._members:
            self._tick_member(m, now)

    def _tick_member(self, m: _Member, now: float) -> None:
        c = m.client
        dt = now - m.last_tick if m.last_tick else 0.0
        m.last_tick = now
        if self.error_half_life > 0 and dt > 0:
            m.errors *= 0.5 ** (dt / self.error_half_life)
        if c is None:
            state = "SUSPENDED" if m.suspended_until > now else "DOWN"
            m.score = 0
            m.health = MemberHealth(m.name, m.url, state, 0, restarts=m.restarts)
            return
        st = c.state
        is_open = st.name == "OPEN"
        met = c.metrics()
        errs = (
            met.errors + met.invalid_json + met.unknown_responses + met.callback_errors
            + met.reconnects
        )  # fmt: skip
        if errs > m.last_errors:
            m.errors += errs - m.last_errors
        m.last_errors = errs
        p99 = int(c.latency_stats().p99)
        hb = c.heartbeat_health()
        m.score = score(
            open=is_open, pending=met.pending, p99_ns=p99, errors=m.errors,
            pressure=met.rate_limit_pressure, heartbeat_ok=bool(hb.healthy),
            write_paused=met.write_paused, latency_ref_ns=self.latency_ref_ns,
        )  # fmt: skip
        m.health = MemberHealth(
            m.name, m.url, st.name, m.score, met.pending, p99, round(m.errors, 3),
            met.rate_limit_pressure, bool(hb.healthy), m.restarts,
        )  # fmt: skip
        if is_open != m.was_open:
            m.was_open = is_open
            self._callback(self.on_connect if is_open else self.on_disconnect, c)
        if st.name == "CLOSED":
            m.closed.set()

    def _callback(self, fn: Callback | None, client: Any) -> None:
        if fn is None:
            return
        try:
            r = fn(client)
            if inspect.isawaitable(r):
                t = asyncio.ensure_future(r)
                self._bg.add(t)
                t.add_done_callback(self._bg_done)
        except Exception:
            log.exception("%s: pool callback %r raised", self.name, fn)

    def _bg_done(self, t: asyncio.Task[Any]) -> None:
        self._bg.discard(t)
        if not t.cancelled() and t.exception() is not None:
            log.error("%s: pool callback raised", self.name, exc_info=t.exception())

    def health(self) -> dict[str, int]:
        """Scores from the last tick: ``{member name: 0..100}``."""
        return {m.name: m.score for m in self._members}

    def health_details(self) -> list[MemberHealth]:
        """Full :class:`MemberHealth` of every member from the last tick."""
        return [m.health or MemberHealth(m.name, m.url, "DOWN", 0) for m in self._members]

    def record_error(self, client: Any, weight: float = 1.0) -> None:
        """Count an application-level error against a member (lowers its score, decays)."""
        for m in self._members:
            if m.client is client:
                m.errors += weight
                m.score = min(m.score, max(0, m.score - round(10 * weight)))

    @property
    def clients(self) -> list[Any]:
        """Current client of every member (None while down), in member order."""
        return [m.client for m in self._members]

    @property
    def members(self) -> list[str]:
        """Member names."""
        return [m.name for m in self._members]

    # ------------------------------------------------------------------ rotation

    async def rotate(self, member: int | str | None = None) -> dict[str, Any]:
        """Rotate members' connections, make-before-break (:meth:`zenws.Client.rotate`).

        Members rotate one after the other, so the others keep serving meanwhile; a
        rotating member stays OPEN (no ``on_disconnect``, its score is kept).  Members
        that are down are skipped.  Automatic rotation comes from the clients' own
        ``max_connection_age`` option (``Pool(..., max_connection_age=...)``).

        Args:
            member: a member index or name; None rotates every member.

        Returns:
            ``{member name: RotationReport or the RotationFailed/ZenwsError it raised}``
            (a failed rotation leaves that member on its old connection).

        Raises:
            KeyError: no such member.
        """
        if member is None:
            chosen = list(self._members)
        else:
            chosen = [m for m in self._members if member in (m.index, m.name)]
            if not chosen:
                raise KeyError(f"no member {member!r} in {self.name}")
        out: dict[str, Any] = {}
        for m in chosen:
            client = m.client
            if client is None or client.state.name != "OPEN":
                continue
            try:
                out[m.name] = await client.rotate()
            except ZenwsError as exc:
                log.warning("%s: rotation failed: %s", m.name, exc)
                out[m.name] = exc
        return out

    # ------------------------------------------------------------------ routing

    def _candidates(self, exclude: set[int]) -> list[_Member]:
        ms = [
            m for m in self._members
            if m.index not in exclude and m.score > 0 and m.client is not None
            and m.client.state.name == "OPEN"
        ]  # fmt: skip
        if not ms:
            return []
        best = max(m.score for m in ms)
        top = [m for m in ms if m.score >= best - self.tie_margin]
        rest = sorted((m for m in ms if m.score < best - self.tie_margin), key=lambda m: -m.score)
        self._rr += 1
        k = self._rr % len(top)
        return top[k:] + top[:k] + rest

    def _route(self, exclude: set[int], what: str) -> _Member:
        ms = self._candidates(exclude)
        if not ms:
            raise ConnectionLost(f"{self.name}: no open client to {what}")
        m = ms[0]
        if _tm.active:
            _tm.emit("pool.route", {"health": m.score}, {"pool": self.name, "client": m.name})
        return m

    def _failover(self, m: _Member, exc: BaseException, attempt: int) -> None:
        self.record_error(m.client, 0.5)
        log.info("%s: failover from %s after %s", self.name, m.name, type(exc).__name__)
        if _tm.active:
            _tm.emit(
                "pool.failover", {"attempt": attempt},
                {"pool": self.name, "client": m.name, "reason": type(exc).__name__},
            )  # fmt: skip

    def send_balanced(self, msg: Any, *, max_attempts: int = 3) -> Any:
        """Send on the healthiest open client; fail over only if the send provably failed.

        Args:
            msg: as for ``Client.send`` (str, bytes, dict/list).
            max_attempts: clients to try at most.

        Returns:
            The client that sent the message.

        Raises:
            ConnectionLost: no open client could send it.
            TypeError: unsupported message type (not retried).
        """
        tried: set[int] = set()
        last: BaseException | None = None
        for attempt in range(1, max_attempts + 1):
            m = self._route(tried, "send") if last is None else self._next(tried, last)
            try:
                m.client.send(msg)
                return m.client
            except (ConnectionLost, OSError) as exc:  # raised before/at the write: not sent
                tried.add(m.index)
                last = exc
                self._failover(m, exc, attempt)
        raise ConnectionLost(f"{self.name}: send failed on {len(tried)} client(s)") from last

    def _next(self, tried: set[int], last: BaseException) -> _Member:
        try:
            return self._route(tried, "fail over to")
        except ConnectionLost:
            raise last from None

    async def request_balanced(
        self,
        method: str,
        params: Any = None,
        *,
        idempotent: bool = False,
        max_attempts: int = 3,
        timeout: float | None = None,
    ) -> Any:
        """JSON-RPC request on the healthiest open client, with safe failover.

        A request is retried on another client only when it provably was not sent (the client
        was not open or rate-limited it before writing) or when ``idempotent=True`` (then also
        after a timeout or a connection lost while waiting). An error response is never retried.

        Args:
            method: JSON-RPC method.
            params: its params.
            idempotent: the request may be executed twice (reads, cancel-by-label...).
            max_attempts: clients to try at most.
            timeout: per-attempt timeout in seconds (default: the client's).

        Returns:
            The ``result`` member.

        Raises:
            ConnectionLost / RequestTimeout / RateLimited: the last failure when not retried.
            RpcError: the server answered with an error.
        """
        tried: set[int] = set()
        for attempt in range(1, max_attempts + 1):
            m = self._route(tried, f"request {method}")
            try:
                return await m.client.request(method, params, timeout=timeout)
            except (ConnectionLost, RequestTimeout, RateLimited) as exc:
                tried.add(m.index)
                self.record_error(m.client)
                # Failover only when the client says the request was provably not
                # written (exc.sent is False; RateLimited is raised before writing).
                unsent = isinstance(exc, RateLimited) or getattr(exc, "sent", None) is False
                if not (idempotent or unsent):
                    raise
                if attempt == max_attempts or not self._candidates(tried):
                    raise
                self._failover(m, exc, attempt)
        raise AssertionError("unreachable")  # pragma: no cover
