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

Parts (this package): :mod:`._handshake` opens one connection (TCP/TLS, the upgrade, the
listener); :mod:`._lifecycle` handles what the listener reports (:class:`ClientEvents`, a
:class:`~zenws.fast.listener.ListenerEvents`), the reconnect loop and the close;
:mod:`._requests` sends and awaits requests; :mod:`._deadlines` owns the one deadline timer;
:mod:`._subscriptions` owns the tracked channels; :mod:`._supervisor` owns backoff, reconnect
hooks and the reconnect count.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Generator, Iterable
from types import TracebackType
from typing import Any

from .. import heartbeat as _hb
from .. import registry as _registry
from .. import telemetry as _tm
from .._redact import redact_url
from ..config import Config
from ..errors import ConnectError, ConnectionLost, ProtocolConnectError, ZenwsError
from ..fast.jsonrpc import Correlator
from ..fast.latency import LatencyBuffer, LatencySummary
from ..fast.listener import FastListener, Message, MessageQueue, Requester
from ..heartbeat import HeartbeatHealth
from ..metrics import StateMetrics
from ..state import State, transition
from ._base import Handler, ReconnectHook
from ._deadlines import Deadlines
from ._handshake import open_transport
from ._lifecycle import ClientEvents, LifecycleMixin
from ._requests import RequestsMixin, WriteGate
from ._subscriptions import Subscriptions
from ._supervisor import Supervisor

__all__ = ["Client", "connect", "run"]


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
    from .. import ratelimit

    if isinstance(spec, ratelimit.RateLimiter):
        return spec
    if isinstance(spec, str):
        return ratelimit.RateLimiter(ratelimit.preset(spec))
    return ratelimit.RateLimiter(spec)


def _write_buffer(lst: FastListener | None) -> int:
    wst = lst.transport if lst is not None else None
    if wst is None:
        return 0
    return int(wst.underlying_transport.get_write_buffer_size())


class Client(RequestsMixin, LifecycleMixin):
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
        self._handshaking: FastListener | None = None
        self._state = State.CONNECTING
        lg = config.logger
        self._log = lg if isinstance(lg, logging.Logger) else logging.getLogger(lg or "zenws")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._correlator = Correlator()
        self.latency = LatencyBuffer(config.latency_buffer_size)
        self._queue = MessageQueue(config.queue_size, config.overflow)
        self._queue.on_overflow = self._on_overflow
        self._on_message: Handler | None = None
        self._subscriptions = Subscriptions(config, self, self._log)  # registry + dialect
        # from_config applies the documented defaults: dead-peer window = heartbeat_timeout,
        # else max(2 x interval, the strategy's interval + timeout) with a heartbeat; the
        # dead-peer timer defers to the strategy's verdict; rejects timeout <= interval.
        heartbeat, liveness = _hb.from_config(config)
        self._heartbeat = heartbeat
        self._liveness = liveness if liveness is not None else _hb.Liveness(None, None)
        self._limiter = _make_limiter(config.rate_limit)
        self._supervisor = Supervisor(config)  # backoff, reconnect hooks, reconnect count
        self._recorder: Any = None
        self._owns_recorder = False
        self._recorder_closing: asyncio.Task[None] | None = None
        self._next_id = 1
        self._totals = dict.fromkeys(_COUNTERS, 0)
        self._write_gate = WriteGate()  # requests waiting for a writable socket
        self._waiting = 0  # requests not sent yet: limiter queue or write gate
        self._disconnected: asyncio.Future[None] | None = None
        self._open_waiters: list[asyncio.Future[None]] = []
        self._reconnect_task: asyncio.Task[None] | None = None
        self._close_code: int | None = None
        self._violation: tuple[FastListener, int, str] | None = None
        self._violation_timer: asyncio.TimerHandle | None = None
        self._abort_timers: dict[int, asyncio.TimerHandle] = {}
        self._close_reason = ""
        self._last_error: str | None = None
        self._manual_reconnect = False
        self._closed_exc: BaseException | None = None
        self._closed_by_app = False  # close() was called: requests get ClientClosed
        self._debug = False
        self._timeout = config.request_timeout
        self._timeout_ns = int(config.request_timeout * 1e9)
        self._idempotent = frozenset(config.idempotent_methods)
        self._events = ClientEvents(self)  # what every listener reports to
        # request() is compiled: the Requester takes the common call with no Python frame
        # and hands everything else to _request (kept current by _set_state/Deadlines.arm).
        req = self._req = Requester()
        req.slow = self._request
        req.timeout_ns = self._timeout_ns
        req.idempotent = self._idempotent or None
        self._deadlines = Deadlines(self._correlator, req, self._timeout_ns, self._log)
        if type(self).request is RequestsMixin.request:  # not overridden by a subclass
            self.request = req.request  # type: ignore[method-assign]

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> State:
        """State: CONNECTING, OPEN, RECONNECTING, CLOSING or CLOSED."""
        return self._state

    def _set_state(self, new: State) -> None:
        old = self._state
        self._state = transition(old, new)
        self._req.lst = self._listener if new is State.OPEN else None
        if self._debug and old is not new:
            self._log.debug("state %s -> %s (epoch %d)", old.name, new.name, self.epoch)

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
            RpcError: the server refused the request: a fatal refusal forgets the channels;
                a recoverable one (``zenws.errors.categorize``, e.g. Deribit 10028/13028)
                keeps them pending, restored after the next reconnect.
            ConnectionLost: the connection dropped (channels stay pending; restored later).
            asyncio.CancelledError: cancelled (channels stay pending; restored later).
        """
        return await self._subscriptions.subscribe(channels, handler)

    async def unsubscribe(self, channels: str | Iterable[str]) -> None:
        """Unsubscribe and stop tracking the channels.

        Raises:
            RpcError: the server refused (the channels stay subscribed and tracked).
        """
        await self._subscriptions.unsubscribe(channels)

    @property
    def subscriptions(self) -> list[str]:
        """Tracked channels (pending and confirmed), in subscription order."""
        return self._subscriptions.registry.to_restore()

    def add_reconnect_hook(self, hook: ReconnectHook) -> None:
        """Run ``await hook(client)`` after each reconnect, before subscriptions are restored.

        Hooks run in the order added (e.g. an adapter's re-authentication).
        """
        self._supervisor.add_hook(hook)

    def __repr__(self) -> str:
        return (
            f"<zenws.Client {redact_url(self.config.url)} state={self._state.name} "
            f"epoch={self.epoch} pending={self._correlator.pending + self._waiting}>"
        )

    # ------------------------------------------------------------------ opening

    async def start(self) -> Client:
        """Open the connection (what ``await zenws.connect(...)`` does).

        Use it to wire ``on_message`` (or subscriptions' handlers) *before* the
        handshake, so that messages arriving together with the 101 response are
        delivered to the callback in order::

            client = zenws.Client(zenws.Config.new(url))
            client.on_message = handle
            await client.start()

        Returns:
            The client, OPEN.

        Raises:
            ConnectError: the connection could not be opened.
        """
        if self._state is not State.CONNECTING or self._loop is not None:
            raise ZenwsError("start() can be called once, on a new client")
        return await self._start()

    async def _start(self) -> Client:
        self._loop = asyncio.get_running_loop()
        self._debug = self.config.debug or self._log.isEnabledFor(logging.DEBUG)
        self._req.loop = self._deadlines.loop = self._loop
        self._req.plain = self._limiter is None and not self._debug
        rec = self.config.record_to
        if isinstance(rec, str):
            from ..recording import Recorder

            self._recorder = Recorder(rec, url=self.config.url)
            self._owns_recorder = True
        elif rec is not None:  # the caller's Recorder: written to, closed by its owner
            self._recorder = rec
        try:
            await self._open()
            if self._state is not State.OPEN:  # dropped right after the handshake
                raise self._closed_early()
        except BaseException:
            task = self._reconnect_task
            if task is not None:
                task.cancel()
            self._finish_closed(None)
            await self._await_recorder()
            raise
        if self.config.name is not None:
            # Weak reference; removed again by close() (_finish_closed).
            _registry.register(self.config.name, self, replace=True)
        return self

    def _wire(self, lst: FastListener) -> None:
        lst.events = self._events
        lst.handlers = self._subscriptions.registry.handlers
        lst.on_message = self._on_message
        lst.queue = self._queue
        lst.set_heartbeat(self._heartbeat)
        lst.deliver_heartbeats = self.config.deliver_heartbeats
        lst.channel_of = self._subscriptions.dialect.channel_of
        rec = self._recorder
        # a Recorder's C queue is what the listener pushes to (Recorder.write is its push)
        lst.recorder = getattr(rec, "queue", rec) if rec is not None else None
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
            self._handshaking = lst
            return lst

        try:
            transport, lst, neg = await open_transport(cfg, make_listener)
        finally:
            self._handshaking = None
        if self._state in (State.CLOSING, State.CLOSED):
            lst.abort()
            raise ConnectionLost("client closed while connecting", epoch=epoch)
        guard = getattr(lst, "guard", None)
        if guard is not None and guard.fail_code and not lst.fail_code:
            # The guard stopped at a violation in the bytes that came with the 101 and
            # reports it from a scheduled callback, after the frames before it; on Python
            # 3.12+ open_transport() returns before that callback ran. Let it run.
            for _ in range(3):
                await asyncio.sleep(0)
        if lst.fail_code > 0:
            # A violation came with the 101 response and nothing before it is left to
            # consume: this attempt failed (its CLOSE is on the wire; TCP closes later).
            raise self._closed_early(lst)
        self.epoch = epoch
        self.transport = transport
        self.subprotocol = neg.subprotocol
        self._listener = lst
        if self._queue.paused:  # the consumer is still behind: this connection waits too
            self._pause_reading(lst, True)
        self._disconnected = loop.create_future()
        self._set_state(State.OPEN)
        self._supervisor.backoff.on_connected(time.monotonic())
        for w in self._open_waiters:
            if not w.done():
                w.set_result(None)
        self._open_waiters.clear()
        if transport.is_disconnected:
            # Dropped between the handshake and now (picows' callback found no current
            # listener): run the disconnect path, which schedules the next attempt.
            self._on_ws_disconnected(lst)
            return
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

    def _closed_early(self, lst: FastListener | None = None) -> ConnectError:
        # The attempt ended before connect() could return: with the code zenws sent when
        # the cause was a violation (lst.fail_code, or what _on_protocol_error recorded).
        url = redact_url(self.config.url)
        if lst is not None and lst.fail_code > 0:
            code, reason = lst.fail_code, lst.fail_reason
        elif self._last_error is not None and self._last_error.startswith("protocol error"):
            code, reason = self._close_code or 1002, self._close_reason
        else:
            return ConnectError(f"{url} closed the connection right after the handshake", url=url)
        return ProtocolConnectError(
            f"{url} violated the WebSocket protocol right after the handshake: zenws closed "
            f"the connection with {code} ({reason})",
            url=url,
            close_code=code,
            reason=reason,
        )

    # ------------------------------------------------------------------ receiving

    @property
    def on_message(self) -> Handler | None:
        """Sync callback receiving every unrouted :class:`Message` (replaces the queue).

        Setting it hands the messages already waiting in the queue to it first, in order
        (e.g. those that came with the 101 response of ``await zenws.connect()``).
        """
        return self._on_message

    @on_message.setter
    def on_message(self, handler: Handler | None) -> None:
        if handler is not None and not callable(handler):
            raise TypeError("on_message must be callable or None")
        self._on_message = handler
        if self._listener is not None:
            self._listener.on_message = handler
        if handler is not None and len(self._queue):
            # Messages queued before the callback existed (e.g. those that came with the
            # 101 response of ``await zenws.connect()``) go to it first, in order.
            while (msg := self._queue.get_nowait()) is not None:
                try:
                    handler(msg)
                except Exception as exc:  # isolated, as on the hot path
                    self._on_callback_error(exc, msg)
            self._fail_when_consumed()

    def __aiter__(self) -> Client:
        return self

    async def __anext__(self) -> Message:
        if self._violation is not None:
            self._fail_when_consumed()  # the consumer is done with what came before it
        msg: Message = await self._queue.get(self._loop or asyncio.get_running_loop())
        return msg

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
            pending=self._correlator.pending + self._waiting,
            subscriptions=len(self._subscriptions.registry.to_restore()),
            reconnects=self._supervisor.reconnects,
            dropped=self._queue.dropped,
            queue_depth=len(self._queue),
            queue_max_depth=self._queue.max_depth,
            rate_limit_pressure=lim.pressure if lim is not None else "none",
            rate_limit_queue=lim.queue_depth if lim is not None else 0,
            write_paused=bool(lst is not None and lst.write_paused),
            write_buffer=_write_buffer(lst),
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
