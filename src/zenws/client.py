"""``zenws.Client``: connect, send, request, subscribe, close, reconnect.

Python owns policy here; every per-frame step runs in :mod:`zenws.fast.listener`.
A request is encoded in C, tracked in the C :class:`~zenws.fast.jsonrpc.Correlator`
and resolved by the hot path without creating a Message; this module only awaits
the future, parses the one payload it receives and applies deadlines (one timer for
all requests, re-armed at the earliest deadline).

Lifecycle (one transition function, :func:`zenws.state.transition`)::

    CONNECTING -> OPEN -> (RECONNECTING -> OPEN)* -> CLOSING -> CLOSED

On every disconnect all pending requests fail at once with ``ConnectionLost(epoch)``;
nothing is replayed.  Reconnect: backoff -> open -> reconnect hooks (re-auth) ->
restore subscriptions -> ``connection.reconnected`` event.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable
from types import TracebackType
from typing import Any

import orjson

from . import heartbeat as _hb
from . import subscriptions as _subs
from . import telemetry as _tm
from ._connection import open_transport
from ._redact import redact_mapping, redact_url
from .config import Config
from .errors import ConnectError, ConnectionLost, RequestTimeout, RpcError, ZenwsError
from .fast.jsonrpc import Correlator
from .fast.latency import LatencyBuffer, LatencySummary
from .fast.listener import FastListener, Message, MessageQueue, result_of
from .heartbeat import HeartbeatHealth
from .metrics import StateMetrics
from .reconnect import Backoff, retry_decision
from .state import State, transition

__all__ = ["Client", "connect", "run"]

Handler = Callable[[Message], Any]
ReconnectHook = Callable[["Client"], Awaitable[Any]]

_COUNTERS = (
    "frames_in",
    "frames_out",
    "bytes_in",
    "bytes_out",
    "messages_in",
    "responses",
    "notifications",
    "errors",
    "invalid_json",
    "unknown_responses",
    "callback_errors",
)


def _make_limiter(spec: Any) -> Any:
    if spec is None:
        return None
    from . import ratelimit

    if isinstance(spec, ratelimit.RateLimiter):
        return spec
    if isinstance(spec, str):
        return ratelimit.RateLimiter(ratelimit.preset(spec))
    return ratelimit.RateLimiter(spec)


def _channel_list(channels: str | Iterable[str]) -> list[str]:
    return [channels] if isinstance(channels, str) else list(dict.fromkeys(channels))


class Client:
    """A WebSocket JSON-RPC client with a C hot path (create it with :func:`connect`).

    Args:
        config: validated options.
        listener_class: a :class:`FastListener` subclass (e.g. a user Cython strategy
            overriding ``on_message_c``); it is constructed with keyword arguments.
    """

    def __init__(
        self, config: Config, *, listener_class: type[FastListener] = FastListener
    ) -> None:
        self.config = config
        self.epoch = 0
        self.transport: Any = None
        self.subprotocol: str | None = None
        self._listener_class = listener_class
        self._listener: FastListener | None = None
        self._state = State.CONNECTING
        lg = config.logger
        self._log = lg if isinstance(lg, logging.Logger) else logging.getLogger(lg or "zenws")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._correlator = Correlator()
        self.latency = LatencyBuffer(config.latency_buffer_size)
        self._queue = MessageQueue(config.queue_size, config.overflow)
        self._queue.on_overflow = self._on_overflow
        self._on_message: Handler | None = None
        self._dialect = _subs.dialect_from_config(config)
        self._subs = _subs.SubscriptionRegistry()
        self._heartbeat = _hb.create(
            config.heartbeat, config.heartbeat_interval, config.heartbeat_timeout
        )
        self._liveness = _hb.Liveness(config.heartbeat_timeout, config.idle_timeout)
        self._limiter = _make_limiter(config.rate_limit)
        self._backoff = Backoff.from_config(config)
        self._recorder: Any = None
        self._hooks: list[ReconnectHook] = []
        self._next_id = 1
        self._totals = dict.fromkeys(_COUNTERS, 0)
        self._reconnects = 0
        self._sweep: asyncio.TimerHandle | None = None
        self._sweep_at = 0
        self._writable: asyncio.Event | None = None
        self._disconnected: asyncio.Future[None] | None = None
        self._open_waiters: list[asyncio.Future[None]] = []
        self._reconnect_task: asyncio.Task[None] | None = None
        self._close_code: int | None = None
        self._close_reason = ""
        self._last_error: str | None = None
        self._manual_reconnect = False
        self._closed_exc: BaseException | None = None
        self._debug = False
        self._timeout = config.request_timeout
        self._timeout_ns = int(config.request_timeout * 1e9)
        self._idempotent = frozenset(config.idempotent_methods)

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> State:
        """State: CONNECTING, OPEN, RECONNECTING, CLOSING or CLOSED."""
        return self._state

    @property
    def closed(self) -> bool:
        """True once the client reached CLOSED (closed, or gave up reconnecting)."""
        return self._state is State.CLOSED

    def _set_state(self, new: State) -> None:
        old = self._state
        self._state = transition(old, new)
        if self._debug and old is not new:
            self._log.debug("state %s -> %s (epoch %d)", old.name, new.name, self.epoch)

    def __repr__(self) -> str:
        return (
            f"<zenws.Client {redact_url(self.config.url)} state={self._state.name} "
            f"epoch={self.epoch} pending={self._correlator.pending}>"
        )

    # ------------------------------------------------------------------ opening

    async def _start(self) -> Client:
        self._loop = asyncio.get_running_loop()
        self._debug = self.config.debug or self._log.isEnabledFor(logging.DEBUG)
        if self.config.record_to:
            from .recorder import Recorder

            self._recorder = Recorder(self.config.record_to, url=self.config.url)
        try:
            await self._open()
        except BaseException:
            self._finish_closed(None)
            raise
        return self

    def _wire(self, lst: FastListener) -> None:
        lst.client = self
        lst.handlers = self._subs.handlers
        lst.on_message = self._on_message
        lst.queue = self._queue
        lst.set_heartbeat(self._heartbeat)
        lst.channel_of = self._dialect.channel_of
        lst.recorder = self._recorder
        lst.test_timeout = self._timeout

    async def _open(self) -> None:
        cfg = self.config
        loop = self._loop = asyncio.get_running_loop()
        epoch = self.epoch + 1
        if _tm.active:
            _tm.emit("connection.connecting", {}, {"url": redact_url(cfg.url), "epoch": epoch})
        t0 = time.monotonic_ns()

        def make_listener(neg: Any) -> FastListener:
            inflater = deflater = None
            if neg.deflate is not None:
                inflater, deflater = neg.deflate.make_inflater(), neg.deflate.make_deflater()
            lst = self._listener_class(
                epoch=epoch,
                correlator=self._correlator,
                latency=self.latency,
                max_message_size=cfg.max_message_size,
                inflater=inflater,
                deflater=deflater,
                decoder=cfg.decoder,
                first_id=self._next_id,
            )
            self._wire(lst)
            return lst

        transport, lst, neg = await open_transport(cfg, make_listener)
        if self._state in (State.CLOSING, State.CLOSED):
            lst.abort()
            raise ConnectionLost("client closed while connecting", epoch=epoch)
        self.epoch = epoch
        self.transport = transport
        self.subprotocol = neg.subprotocol
        self._listener = lst
        self._disconnected = loop.create_future()
        self._writable = asyncio.Event()
        self._writable.set()
        self._set_state(State.OPEN)
        self._backoff.on_connected(time.monotonic())
        for w in self._open_waiters:
            if not w.done():
                w.set_result(None)
        self._open_waiters.clear()
        if transport.is_disconnected:  # dropped between the handshake and now
            self._on_ws_disconnected(lst)
            raise ConnectionLost("connection dropped right after the handshake", epoch=epoch)
        if self._heartbeat is not None:
            self._heartbeat.start(self)
        if self._liveness.enabled:
            self._liveness.start(self)
        if self._debug:
            self._log.debug("open %s epoch=%d", redact_url(cfg.url), epoch)
        if _tm.active:
            _tm.emit(
                "connection.open",
                {"connect_ns": time.monotonic_ns() - t0},
                {"url": redact_url(cfg.url), "epoch": epoch},
            )

    # ------------------------------------------------------------------ sending

    def _open_listener(self) -> FastListener:
        lst = self._listener
        if lst is None or self._state is not State.OPEN or lst.closed:
            raise ConnectionLost(
                f"connection is {self._state.name.lower()}",
                epoch=self.epoch,
                code=self._close_code,
                reason=self._close_reason,
            )
        return lst

    def send(self, data: str | bytes | bytearray | memoryview | dict[str, Any] | list[Any]) -> None:
        """Send one message without waiting (str -> text, bytes -> binary, dict/list -> JSON).

        Never blocks: the frame goes into the transport's write buffer (watch
        ``metrics().write_paused`` for back-pressure).

        Raises:
            ConnectionLost: the connection is not open.
            TypeError: unsupported data type.
        """
        lst = self._open_listener()
        if isinstance(data, str):
            lst.send_text(data)
        elif isinstance(data, (bytes, bytearray, memoryview)):
            lst.send_binary(bytes(data))
        elif isinstance(data, (dict, list)):
            lst.send_text(orjson.dumps(data))
        else:
            raise TypeError(f"send() takes str, bytes, dict or list, not {type(data).__name__}")

    def request(
        self, method: str, params: Any = None, *, timeout: float | None = None
    ) -> Coroutine[Any, Any, Any]:
        """Send a JSON-RPC 2.0 request and return its ``result`` (``await`` it).

        A plain method returning the coroutine: in the common case (default deadline,
        no rate limiter, no back-pressure, no telemetry handler) that is the compiled
        fast path itself, with no Python coroutine frame in between.

        Args:
            method: the JSON-RPC method.
            params: JSON-serializable params (orjson), or ``None``.
            timeout: seconds (default ``Config.request_timeout``); every request has one.

        Returns:
            The ``result`` member of the response.

        Raises:
            RpcError: the response carried an ``error`` object.
            RequestTimeout: no response before the deadline (the entry is removed).
            ConnectionLost: not open, or the connection dropped while waiting.
            RateLimited: the rate limiter's queue is full.
        """
        lst = self._listener
        if (
            timeout is None
            and self._sweep is not None
            and lst is not None
            and not lst.closed
            and self._state is State.OPEN
            and self._limiter is None
            and not lst.write_paused
            and not self._debug
            and not _tm.active
            and (not self._idempotent or method not in self._idempotent)
        ):
            # Fast path (compiled): default deadline (later than the armed sweep), no
            # limiter, no back-pressure, nothing observing.
            return lst.call(method, params, self._timeout_ns, self._loop)
        return self._request(method, params, timeout)

    async def _request(self, method: str, params: Any, timeout: float | None) -> Any:
        if method in self._idempotent:
            return await self._request_idempotent(method, params, timeout)
        return await self._request_once(method, params, timeout)

    async def _request_idempotent(self, method: str, params: Any, timeout: float | None) -> Any:
        # Config.idempotent_methods opt in: a read lost with its connection is sent again
        # on the next one, within the same overall deadline.  Orders never are.
        t = self._timeout if timeout is None else timeout
        deadline = time.monotonic() + t
        while True:
            try:
                return await self._request_once(method, params, max(deadline - time.monotonic(), 0))
            except ConnectionLost:
                left = deadline - time.monotonic()
                if self._state in (State.CLOSING, State.CLOSED) or left <= 0:
                    raise
                try:
                    await self._wait_open(left)
                except (asyncio.TimeoutError, TimeoutError):
                    raise ConnectionLost(
                        f"{method}: not reconnected within its {t} s deadline", epoch=self.epoch
                    ) from None

    async def _wait_open(self, timeout: float) -> None:
        if self._state is State.OPEN:
            return
        waiter = (self._loop or asyncio.get_running_loop()).create_future()
        self._open_waiters.append(waiter)
        await asyncio.wait_for(waiter, timeout)

    async def _request_once(self, method: str, params: Any, timeout: float | None) -> Any:
        lst = self._listener
        if lst is None or lst.closed or self._state is not State.OPEN:
            lst = self._open_listener()  # raises ConnectionLost
        if self._limiter is not None:
            await self._limiter.acquire(method)
            lst = self._open_listener()
        if lst.write_paused:
            await self._wait_writable()
            lst = self._open_listener()
        t = self._timeout if timeout is None else timeout
        sent = 0
        fut = self._loop.create_future()  # type: ignore[union-attr]
        rid = lst.send_request(method, params, fut, int(t * 1e9))
        deadline = lst.last_deadline_ns
        if deadline < self._sweep_at or self._sweep is None:
            self._arm_sweep(deadline, time.monotonic_ns())
        if self._debug:
            self._log.debug(
                "request %s id=%d params=%s epoch=%d",
                method,
                rid,
                redact_mapping(params),
                self.epoch,
            )
        if _tm.active:
            sent = time.monotonic_ns()
            _tm.emit("request.sent", {}, {"method": method, "id": rid, "epoch": self.epoch})
        try:
            payload = await fut
        except asyncio.CancelledError:
            self._correlator.discard(rid)
            raise
        except RequestTimeout:
            if _tm.active:
                _tm.emit("request.timeout", {"timeout": t}, {"method": method, "id": rid})
            raise RequestTimeout(
                f"{method} (id {rid}) got no response within {t} s",
                method=method,
                request_id=rid,
                timeout=t,
            ) from None
        except ConnectionLost:
            if _tm.active:
                _tm.emit("request.failed", {}, {"method": method, "id": rid, "epoch": self.epoch})
            raise
        try:
            result = result_of(payload, method)
        except RpcError:
            if _tm.active:
                _tm.emit("request.failed", {}, {"method": method, "id": rid})
            raise
        if _tm.active:
            rtt = {"rtt_ns": time.monotonic_ns() - sent} if sent else {}
            _tm.emit("request.resolved", rtt, {"method": method})
        return result

    async def _wait_writable(self) -> None:
        ev = self._writable
        if ev is not None:
            await ev.wait()

    def _arm_sweep(self, deadline_ns: int, now_ns: int) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
        self._sweep_at = deadline_ns
        self._sweep = self._loop.call_later(  # type: ignore[union-attr]
            max(deadline_ns - now_ns, 0) / 1e9 + 0.0005, self._expire
        )

    def _expire(self) -> None:
        self._sweep = None
        self._sweep_at = 0
        now = time.monotonic_ns()
        for rid, waiter in self._correlator.expire(now):
            exc = RequestTimeout("request timed out", request_id=rid)
            if isinstance(waiter, asyncio.Future):
                if not waiter.done():
                    waiter.set_exception(exc)
            else:
                try:
                    waiter(exc)
                except Exception as e:  # a hot-path waiter must not break the sweep
                    self._log.debug("expired waiter raised %r", e)
        nxt = self._correlator.next_deadline()
        if nxt is not None:
            self._arm_sweep(nxt, now)

    # ------------------------------------------------------------------ receiving

    @property
    def on_message(self) -> Handler | None:
        """Sync callback receiving every unrouted :class:`Message` (replaces the queue)."""
        return self._on_message

    @on_message.setter
    def on_message(self, handler: Handler | None) -> None:
        if handler is not None and not callable(handler):
            raise TypeError("on_message must be callable or None")
        self._on_message = handler
        if self._listener is not None:
            self._listener.on_message = handler

    def __aiter__(self) -> Client:
        return self

    async def __anext__(self) -> Message:
        msg: Message = await self._queue.get(self._loop or asyncio.get_running_loop())
        return msg

    # ------------------------------------------------------------------ subscriptions

    def _chunk_size(self) -> int:
        return max(1, min(self.config.subscribe_chunk, self._dialect.max_per_request))

    async def subscribe(
        self, channels: str | Iterable[str], handler: Handler | None = None
    ) -> list[str]:
        """Subscribe, track the channels and restore them after every reconnect.

        Args:
            channels: one channel or several.
            handler: called with each notification of these channels (else ``on_message``
                / the ``async for`` queue receives them).

        Returns:
            The channels the server confirmed.

        Raises:
            RpcError: the server refused the request (the channels are not restored).
            ConnectionLost: the connection dropped (channels stay pending; restored later).
        """
        chs = _channel_list(channels)
        new = self._subs.add_pending(chs, handler)
        confirmed = [c for c in chs if c not in new]
        # claim(): a subscribe racing the post-reconnect restore never doubles a request
        to_send = self._subs.claim(new, self.epoch)
        size = self._chunk_size()
        for i in range(0, len(to_send), size):
            confirmed += await self._subscribe_chunk(to_send[i : i + size])
        if _tm.active:
            _tm.emit("subscription.add", {"count": len(confirmed)}, {"epoch": self.epoch})
        return confirmed

    async def _subscribe_chunk(self, chunk: list[str]) -> list[str]:
        ok_all: list[str] = []
        for method, params in self._dialect.subscribe_requests(chunk):
            # a dialect may split a chunk (Deribit: public/private): check each request
            # against its own channels
            requested = _subs.channels_in(params, chunk)
            try:
                result = await self.request(method, params)
            except ConnectionLost:
                raise  # stays pending: restored on the next connection
            except BaseException:
                self._subs.reject(requested)
                raise
            ok, rejected = self._dialect.confirmed(requested, result)
            self._subs.confirm(ok)
            if rejected:
                self._subs.reject(rejected)
                self._log.warning("server rejected subscriptions: %s", rejected[:10])
            ok_all += ok
        return ok_all

    async def unsubscribe(self, channels: str | Iterable[str]) -> None:
        """Unsubscribe and stop tracking the channels.

        Raises:
            RpcError: the server refused (the channels stay subscribed and tracked).
        """
        chs = self._subs.begin_unsubscribe(_channel_list(channels))
        size = self._chunk_size()
        for i in range(0, len(chs), size):
            chunk = chs[i : i + size]
            try:
                for method, params in self._dialect.unsubscribe_requests(chunk):
                    await self.request(method, params)
            except ConnectionLost:
                pass  # the server forgot them with the connection; do not restore
            except BaseException:
                self._subs.cancel_unsubscribe(chunk)
                raise
            self._subs.remove(chunk)
        if _tm.active:
            _tm.emit("subscription.remove", {"count": len(chs)}, {"epoch": self.epoch})

    @property
    def subscriptions(self) -> list[str]:
        """Tracked channels (pending and confirmed), in subscription order."""
        return self._subs.to_restore()

    def add_reconnect_hook(self, hook: ReconnectHook) -> None:
        """Run ``await hook(client)`` after each reconnect, before subscriptions are restored.

        Hooks run in the order added (e.g. an adapter's re-authentication).
        """
        self._hooks.append(hook)

    async def _restore(self) -> None:
        chs = self._subs.claim(self._subs.to_restore(), self.epoch)
        size = self._chunk_size()
        n = 0
        for i in range(0, len(chs), size):
            n += len(await self._subscribe_chunk(chs[i : i + size]))
        if chs and _tm.active:
            _tm.emit("subscription.restore", {"count": n}, {"epoch": self.epoch})

    # ------------------------------------------------------------------ callbacks from C

    def _on_ws_disconnected(self, lst: FastListener) -> None:
        if lst is not self._listener:
            return
        self._next_id = lst.next_id
        for k, v in lst.counters().items():
            if k in self._totals:
                self._totals[k] += v
        self._listener = None
        self.transport = None
        if self._heartbeat is not None:
            self._heartbeat.stop()
        self._liveness.stop()
        code = lst.close_code if lst.close_code >= 0 else None
        reason = lst.close_reason
        if code is not None:
            self._close_code, self._close_reason = code, reason
        exc = ConnectionLost(
            f"connection lost (epoch {lst.epoch}"
            + (f", close code {code}" if code is not None else "")
            + ")",
            epoch=lst.epoch,
            code=code,
            reason=reason,
        )
        self._correlator.fail_all(exc)
        self._subs.mark_all_pending()  # the server forgot them with the connection
        if self._writable is not None:
            self._writable.set()
        self._backoff.on_disconnected(time.monotonic())
        if self._disconnected is not None and not self._disconnected.done():
            self._disconnected.set_result(None)
        if _tm.active:
            _tm.emit(
                "connection.closed",
                {"code": code, "reason": reason},
                {"epoch": lst.epoch, "url": redact_url(self.config.url)},
            )
        self._log.info("disconnected (epoch %d, code %s)", lst.epoch, code)
        if self._state in (State.CLOSING, State.CLOSED, State.CONNECTING):
            return
        if self.config.reconnect_on_error or self._manual_reconnect:
            self._manual_reconnect = False
            self._set_state(State.RECONNECTING)
            loop = self._loop or asyncio.get_running_loop()
            self._reconnect_task = loop.create_task(self._reconnect_loop(exc))
        else:
            self._finish_closed(exc)

    def _on_peer_close(self, lst: FastListener, code: int, reason: str) -> None:
        self._close_code, self._close_reason = code, reason
        self._log.info("server closed the connection: %d %r", code, reason[:120])
        self._correlator.fail_all(
            ConnectionLost(
                f"server closed the connection ({code})", epoch=lst.epoch, code=code, reason=reason
            )
        )
        self._abort_later(lst)

    def _on_protocol_error(self, code: int, reason: str) -> None:
        self._last_error = f"protocol error {code}: {reason}"
        self._log.warning("closing with %d: %s", code, reason)
        if _tm.active:
            _tm.emit("protocol.error", {"code": code}, {"reason": reason, "epoch": self.epoch})
        if self._listener is not None:
            self._abort_later(self._listener)

    def _on_error_no_id(self, payload: bytes, recv_ns: int) -> None:
        if _tm.active:
            _tm.emit(
                "protocol.error",
                {"bytes": len(payload)},
                {"reason": "error response without id", "epoch": self.epoch},
            )

    def _on_callback_error(self, exc: BaseException, msg: Message | None) -> None:
        self._log.error("user callback raised %s (isolated)", type(exc).__name__, exc_info=exc)
        if _tm.active:
            _tm.emit(
                "handler.error",
                {},
                {
                    "error": repr(exc)[:200],
                    "epoch": self.epoch,
                    "channel": getattr(msg, "channel", None),
                },
            )

    def _on_write_paused(self, paused: bool) -> None:
        if self._writable is not None:
            if paused:
                self._writable.clear()
            else:
                self._writable.set()

    def _on_overflow(self, what: str) -> None:
        if what in ("drop_oldest", "drop_newest"):
            if _tm.active:
                _tm.emit("message.dropped", {"count": 1}, {"policy": what, "epoch": self.epoch})
        elif what in ("pause", "resume") and self.transport is not None:
            tr = self.transport.underlying_transport
            tr.pause_reading() if what == "pause" else tr.resume_reading()
        elif what == "disconnect":
            if _tm.active:
                _tm.emit("message.dropped", {"count": 1}, {"policy": what, "epoch": self.epoch})
            lst = self._listener
            if lst is not None and not lst.closed:
                # RFC 6455 §7.4.1: 1008 = policy violation (we cannot keep up).
                lst.close(1008, "receive queue overflow")
                self._abort_later(lst)

    def _abort_later(self, lst: FastListener) -> None:
        loop = self._loop
        if loop is not None:
            loop.call_later(self.config.close_timeout, lst.abort)

    # ------------------------------------------------------------------ HeartbeatHost

    def send_ping(self, payload: bytes) -> None:
        """Send a PING frame (heartbeat strategies)."""
        self._open_listener().send_ping(payload)

    def send_text(self, data: str | bytes) -> None:
        """Send a text frame (heartbeat strategies)."""
        self._open_listener().send_text(data)

    def force_reconnect(self, reason: str) -> None:
        """Drop the connection now (CLOSE 1011, then abort): pending fail, reconnect follows."""
        lst = self._listener
        if lst is None:
            return
        self._last_error = reason
        lst.close(1011, reason[:100])
        lst.abort()

    def last_frame_ns(self) -> int:
        """Monotonic ns of the last frame of any kind (connection time if none)."""
        lst = self._listener
        return lst.last_frame_ns if lst is not None else 0

    def last_data_ns(self) -> int:
        """Monotonic ns of the last data frame (connection time if none)."""
        lst = self._listener
        return lst.last_data_ns if lst is not None else 0

    # ------------------------------------------------------------------ reconnect

    async def _reconnect_loop(self, cause: BaseException) -> None:
        down_at = time.time()
        old_epoch = self.epoch
        while self._state is State.RECONNECTING:
            retry, retry_after = retry_decision(cause)
            delay = self._backoff.next_delay(retry_after) if retry else None
            if delay is None:
                self._give_up(cause)
                return
            if _tm.active:
                _tm.emit(
                    "connection.reconnecting",
                    {"attempt": self._backoff.attempt, "delay": delay},
                    {"epoch": old_epoch},
                )
            await asyncio.sleep(delay)
            if self._state is not State.RECONNECTING:
                return
            try:
                await self._open()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                cause = exc
                self._last_error = str(exc)
                self._log.info("reconnect attempt %d failed: %s", self._backoff.attempt, exc)
                continue
            self._reconnects += 1
            try:
                await self._after_reconnect()
            except ConnectionLost:
                return  # a new disconnect started its own reconnect
            if _tm.active:
                up_at = time.time()
                _tm.emit(
                    "connection.reconnected",
                    {"gap_s": up_at - down_at},
                    {
                        "down_at": down_at,
                        "up_at": up_at,
                        "epoch": self.epoch,
                        "previous_epoch": old_epoch,
                    },
                )
            return

    async def _after_reconnect(self) -> None:
        for hook in list(self._hooks):
            try:
                await hook(self)
            except ConnectionLost:
                raise
            except Exception as exc:
                self._on_callback_error(exc, None)
        if self.config.restore_subscriptions:
            await self._restore()

    def _give_up(self, cause: BaseException) -> None:
        self._log.error("giving up reconnecting: %s", cause)
        if _tm.active:
            _tm.emit(
                "connection.gave_up",
                {"attempts": self._backoff.attempt},
                {"error": str(cause)[:200], "epoch": self.epoch},
            )
        self._finish_closed(cause)

    async def reconnect(self) -> None:
        """Drop the current connection and reconnect now (pending requests fail).

        Raises:
            ZenwsError: the client is closed, or reconnecting gave up.
        """
        if self._state in (State.CLOSING, State.CLOSED):
            raise ZenwsError("client is closed")
        waiter = (self._loop or asyncio.get_running_loop()).create_future()
        self._open_waiters.append(waiter)
        if self._state is State.OPEN and self._listener is not None:
            self._backoff.reset()
            self._manual_reconnect = True
            lst = self._listener
            lst.close(1000, "reconnect")
            lst.abort()
        await waiter

    # ------------------------------------------------------------------ closing

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with the closing handshake (bounded by ``Config.close_timeout``).

        Args:
            code: close code sent to the server (RFC 6455 §7.4).
            reason: UTF-8 reason (truncated to fit a control frame).
        """
        if self._state is State.CLOSED:
            return
        if self._state is State.CLOSING:
            while not self.closed:
                await asyncio.sleep(0.01)
            return
        self._set_state(State.CLOSING)
        task = self._reconnect_task
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
        lst, fut = self._listener, self._disconnected
        if lst is not None and fut is not None:
            lst.close(code, reason)
            try:
                await asyncio.wait_for(asyncio.shield(fut), self.config.close_timeout)
            except (asyncio.TimeoutError, TimeoutError):
                lst.abort()
                try:
                    await asyncio.wait_for(asyncio.shield(fut), 1.0)
                except (asyncio.TimeoutError, TimeoutError):
                    self._on_ws_disconnected(lst)
        self._finish_closed(None)

    def _finish_closed(self, exc: BaseException | None) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()
        self._liveness.stop()
        lost = ConnectionLost(
            "client closed", epoch=self.epoch, code=self._close_code, reason=self._close_reason
        )
        self._correlator.fail_all(lost)
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        self._queue.close(exc if isinstance(exc, ConnectError) else None)
        for w in self._open_waiters:
            if not w.done():
                w.set_exception(exc if exc is not None else lost)
        self._open_waiters.clear()
        if self._recorder is not None:
            self._recorder.close()
        self._closed_exc = exc
        if self._state is not State.CLOSED:
            if self._state not in (State.CLOSING, State.CONNECTING):
                self._set_state(State.CLOSING)
            self._set_state(State.CLOSED)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ observability

    def metrics(self) -> StateMetrics:
        """Return a snapshot of the counters (all epochs) and the current state."""
        tot = dict(self._totals)
        lst = self._listener
        if lst is not None:
            for k, v in lst.counters().items():
                if k in tot:
                    tot[k] += v
        lim = self._limiter
        return StateMetrics(
            state=self._state,
            epoch=self.epoch,
            pending=self._correlator.pending,
            subscriptions=len(self._subs.to_restore()),
            reconnects=self._reconnects,
            dropped=self._queue.dropped,
            queue_depth=len(self._queue),
            rate_limit_pressure=lim.pressure if lim is not None else "none",
            rate_limit_queue=lim.queue_depth if lim is not None else 0,
            write_paused=bool(lst is not None and lst.write_paused),
            close_code=self._close_code,
            close_reason=self._close_reason,
            last_error=self._last_error,
            **tot,
        )

    def latency_stats(self) -> LatencySummary:
        """p50/p90/p99/p999/min/max/mean/last/count of request round trips, in ns."""
        return self.latency.summary()

    def heartbeat_health(self) -> HeartbeatHealth:
        """Heartbeat snapshot (kind "none" when no heartbeat is configured)."""
        if self._heartbeat is None:
            return HeartbeatHealth.disabled()
        return self._heartbeat.health()


class _Connect:
    """Awaitable and async context manager returned by :func:`connect`."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def __await__(self) -> Generator[Any, None, Client]:
        return self._client._start().__await__()

    async def __aenter__(self) -> Client:
        return await self._client._start()

    async def __aexit__(self, *exc: Any) -> None:
        await self._client.close()


def connect(
    url: str | Config, *, listener_class: type[FastListener] = FastListener, **options: Any
) -> _Connect:
    """Open a client: ``client = await zenws.connect(url, **options)``.

    Also usable as ``async with zenws.connect(url) as client:``.

    Args:
        url: ws:// or wss:// URL, or a ready :class:`Config` (then no options).
        listener_class: FastListener subclass for the hot path.
        **options: :class:`Config` options.

    Returns:
        An awaitable resolving to an OPEN :class:`Client`.

    Raises:
        ConfigError: invalid options (raised immediately).
        ConnectError: when awaited, if the connection cannot be opened.
    """
    if isinstance(url, Config):
        config = url.replace(**options) if options else url
    else:
        config = Config.new(url, **options)
    return _Connect(Client(config, listener_class=listener_class))


def run(main: Awaitable[Any], *, debug: bool | None = None) -> Any:
    """Run a coroutine on uvloop when installed (plain asyncio otherwise).

    Args:
        main: the coroutine to run (e.g. ``main()``).
        debug: asyncio debug mode.

    Returns:
        What ``main`` returns.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main, debug=debug)  # type: ignore[arg-type]
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=uvloop.new_event_loop, debug=debug) as runner:
            return runner.run(main)  # type: ignore[arg-type]
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # pragma: no cover - 3.10
    return asyncio.run(main, debug=debug)  # type: ignore[arg-type]  # pragma: no cover
