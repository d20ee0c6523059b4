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

The client is a facade over parts that own their state (this package):
:class:`~._connection.Connection` is one epoch (the handshake through :mod:`._handshake`,
the listener, its Correlator, its abort and violation timers, its close) and delivers to a
swappable :class:`~._connection.Delivery`; :class:`~._requests.Requests` sends and awaits
requests (the compiled Requester bound as ``request``, the deadline sweep, the rate
limiter, the write gate, the idempotent retry); :class:`~._supervisor.Supervisor` owns the
state machine, backoff, reconnect loop and hooks, heartbeat and liveness;
:class:`~._subscriptions.Subscriptions` owns the tracked channels.  The client holds the
active connection and owns what each connection reports (:class:`_Owner`).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Coroutine, Generator, Iterable
from types import TracebackType
from typing import Any

from .. import registry as _registry
from .. import telemetry as _tm
from .._redact import redact_text, redact_url
from ..config import Config
from ..errors import (
    ClientClosed,
    ConnectError,
    ConnectionLost,
    ProtocolConnectError,
    ProtocolError,
    ZenwsError,
)
from ..fast.latency import LatencyBuffer, LatencySummary
from ..fast.listener import FastListener, Message, MessageQueue
from ..heartbeat import HeartbeatHealth
from ..metrics import StateMetrics
from ..rotation import RotationReport
from ..state import State
from ._connection import Connection, Delivery, Handler, ResponseHook, lost
from ._requests import Requests
from ._rotation import RetireHook, Rotation
from ._subscriptions import Subscriptions
from ._supervisor import ReconnectHook, Supervisor

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

_CLOSED_IN_FLIGHT = (
    "the client was closed by the application (close()) while the request was in flight"
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


class _Owner:
    """The client's :class:`~._connection.ConnectionOwner`: what its connections report."""

    __slots__ = ("_c",)

    def __init__(self, client: Client) -> None:
        self._c = client

    def connection_lost(self, conn: Connection) -> None:
        self._c._on_ws_disconnected(conn)

    def peer_closed(self, conn: Connection, code: int, reason: str) -> None:
        self._c._on_peer_close(conn, code, reason)

    def protocol_error(self, conn: Connection | None, code: int, reason: str) -> None:
        self._c._on_protocol_error(conn, code, reason)

    def violation(self, conn: Connection, code: int, reason: str) -> None:
        self._c._fail_pending_on_violation(conn, code, reason)

    def callback_error(self, exc: BaseException, msg: Message | None) -> None:
        self._c._on_callback_error(exc, msg)

    def error_no_id(self, conn: Connection, payload: bytes, recv_ns: int) -> None:
        if _tm.active:
            _tm.emit(
                "protocol.error",
                {"bytes": len(payload)},
                {"reason": "error response without id", "epoch": conn.epoch},
            )

    def write_paused(self, paused: bool) -> None:
        self._c._on_write_paused(paused)


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
        self._listener_class = listener_class
        lg = config.logger
        self._log = lg if isinstance(lg, logging.Logger) else logging.getLogger(lg or "zenws")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._debug = False
        self.latency = LatencyBuffer(config.latency_buffer_size)
        self._queue = MessageQueue(config.queue_size, config.overflow)
        self._queue.on_overflow = self._on_overflow
        self._subscriptions = Subscriptions(config, self, self._log)  # registry + dialect
        # state, backoff, reconnect hooks and loop, heartbeat and liveness
        self._supervisor = Supervisor(config, self._log)
        self._requests = Requests(
            config, self._supervisor, _make_limiter(config.rate_limit), self._log
        )
        # the application's delivery target (a connection being prepared may use another)
        self._delivery = Delivery(
            self._queue,
            self._subscriptions.registry.handlers,
            self._subscriptions.dialect.channel_of,
            heartbeat=self._supervisor.heartbeat,
            deliver_heartbeats=config.deliver_heartbeats,
            test_timeout=config.request_timeout,
        )
        self._owner = _Owner(self)  # what every connection of this client reports to
        self._conn: Connection | None = None  # the active connection (last one opened)
        self._opening: Connection | None = None  # the connection in its handshake
        self._others: list[Connection] = []  # open, not active: prepared or draining
        self._on_response: ResponseHook | None = None  # every connection's Correlator hook
        self._next_id = 1
        self._totals = dict.fromkeys(_COUNTERS, 0)
        self._recorder: Any = None
        self._owns_recorder = False
        self._recorder_closing: asyncio.Task[None] | None = None
        self._closed_exc: BaseException | None = None
        self._rotation = Rotation(self)  # rotate() and its schedule (max_connection_age)
        # request() is compiled: the Requester's bound method, with no Python frame between
        if type(self).request is Client.request:  # not overridden by a subclass
            self.request = self._requests.requester.request  # type: ignore[method-assign]

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> State:
        """State: CONNECTING, OPEN, RECONNECTING, CLOSING or CLOSED."""
        return self._supervisor.state

    @property
    def epoch(self) -> int:
        """Epoch of the current (or last) connection: 1 for the first, +1 per reconnect."""
        return self._supervisor.epoch

    @property
    def closed(self) -> bool:
        """True once the client reached CLOSED (closed, or gave up reconnecting)."""
        return self._supervisor.state is State.CLOSED

    @property
    def transport(self) -> Any:
        """The picows transport of the open connection (None when not open)."""
        conn = self._conn
        return conn.transport if conn is not None else None

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server selected on the last connection, if any."""
        conn = self._conn
        return conn.subprotocol if conn is not None else None

    @property
    def _listener(self) -> FastListener | None:
        # the open connection's listener (tests and benchmarks look at it)
        conn = self._conn
        return conn.current if conn is not None else None

    def _set_state(self, new: State) -> None:
        self._supervisor.transition(new, self._debug)
        self._requests.use(self._conn, new is State.OPEN)

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

    def add_retire_hook(self, hook: RetireHook) -> None:
        """Run ``await hook(conn)`` on the connection a rotation retires, before it closes.

        ``conn`` sends through that connection (``conn.request``); e.g. the Deribit adapter
        logs out there, so cancel-on-disconnect does not cancel the orders.
        """
        self._rotation.add_retire_hook(hook)

    async def rotate(self, *, timeout: float | None = None) -> RotationReport:
        """Replace the connection, make-before-break: nothing lost, nothing twice.

        A second connection is opened, authenticated (the reconnect hooks run on it),
        subscribed to every tracked channel and held back until each channel overlaps what
        the current one delivered (by the venue's sequence numbers, else by content); then
        it becomes the active one in one step, the requests in flight on the old one finish
        and the old one is closed.  Requests made meanwhile go to the old connection until
        the switch, to the new one after.  With ``Config.max_connection_age`` the client
        does this by itself before the venue closes the connection (docs/rotation.md).

        Args:
            timeout: seconds up to the switch (default ``Config.rotation_timeout``).

        Returns:
            What the rotation did (:class:`zenws.rotation.RotationReport`).

        Raises:
            RotationFailed: the new connection failed before the switch (``exc.step``); the
                old connection keeps running, nothing was lost.
            ZenwsError: the client is not OPEN.
        """
        return await self._rotation.rotate(timeout=timeout)

    def __repr__(self) -> str:
        return (
            f"<zenws.Client {redact_url(self.config.url)} state={self.state.name} "
            f"epoch={self.epoch} pending={self._requests.pending}>"
        )

    # ------------------------------------------------------------------ sending

    def send(self, data: str | bytes | bytearray | memoryview | dict[str, Any] | list[Any]) -> None:
        """Send one message without waiting (str -> text, bytes -> binary, dict/list -> JSON).

        Never blocks and never waits: the frame goes into the transport's write buffer,
        which has no bound of its own.  When the server stops reading, that buffer grows by
        every frame sent; watch ``metrics().write_paused`` and ``metrics().write_buffer``
        (bytes) and stop sending (or reconnect) past a size of your choice.

        Raises:
            ConnectionLost: the connection is not open.
            TypeError: unsupported data type.
        """
        self._requests.send(data)

    def request(
        self, method: str, params: Any = None, *, timeout: float | None = None
    ) -> Coroutine[Any, Any, Any]:
        """Send a JSON-RPC 2.0 request and return its ``result`` (``await`` it).

        Compiled: each client binds its :class:`~zenws.fast.listener.Requester`'s
        ``request`` here, so the common call (default deadline, no rate limiter, no
        back-pressure, no debug logging, no telemetry handler) creates the compiled
        request coroutine with no Python frame in between; any other call runs the
        general path (an ``async def``).

        Args:
            method: the JSON-RPC method.
            params: JSON-serializable params (orjson), or ``None``.
            timeout: seconds (default ``Config.request_timeout``); every request has one.
                Validated like ``request_timeout`` (a finite number > 0) before anything
                is sent.

        Returns:
            The ``result`` member of the response.

        Raises:
            ConfigError: ``timeout`` is not a finite number > 0 (nothing was sent).
            RpcError: the response carried an ``error`` object.
            ProtocolError: the response to this request was malformed (``close_code`` is
                None, ``reason`` says what was wrong); the connection stays open.
            RequestTimeout: the deadline passed, waiting for the rate limiter, for a
                writable socket or for the response (the entry is removed).
            ConnectionLost: not open, or the connection dropped while waiting
                (``zenws.errors.ClientClosed`` after the application's own ``close()``).
            RateLimited: the rate limiter's queue is full.
        """
        return self._requests.requester.request(method, params, timeout=timeout)

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
        if self.state is not State.CONNECTING or self._loop is not None:
            raise ZenwsError("start() can be called once, on a new client")
        return await self._start()

    async def _start(self) -> Client:
        loop = self._loop = self._supervisor.loop = asyncio.get_running_loop()
        self._debug = self.config.debug or self._log.isEnabledFor(logging.DEBUG)
        self._requests.start(loop, self._debug)
        rec = self.config.record_to
        if isinstance(rec, str):
            from ..recording import Recorder

            self._recorder = Recorder(rec, url=self.config.url)
            self._owns_recorder = True
        elif rec is not None:  # the caller's Recorder: written to, closed by its owner
            self._recorder = rec
        # a Recorder's C queue is what the listener pushes to (Recorder.write is its push)
        rec = self._recorder
        self._delivery.recorder = getattr(rec, "queue", rec) if rec is not None else None
        try:
            if not await self._supervisor.attempt_slot(State.CONNECTING):
                raise ConnectionLost("client closed while connecting", epoch=self.epoch)
            await self._open()
            if self.state is not State.OPEN:  # dropped right after the handshake
                raise self._closed_early()
        except BaseException:
            task = self._supervisor.reconnect_task
            if task is not None:
                task.cancel()
            self._finish_closed(None)
            await self._await_recorder()
            raise
        if self.config.name is not None:
            # Weak reference; removed again by close() (_finish_closed).
            _registry.register(self.config.name, self, replace=True)
        return self

    def _new_connection(self, epoch: int) -> Connection:
        """A connection of this client, not opened yet, delivering to the application.

        Its Correlator calls the client's :attr:`on_response` hook.
        """
        conn = Connection(
            self.config,
            epoch,
            owner=self._owner,
            delivery=self._delivery,
            listener_class=self._listener_class,
            latency=self.latency,
            first_id=self._next_id,
        )
        conn.correlator.on_response = self._on_response
        return conn

    async def _open(self) -> None:
        cfg = self.config
        sup = self._supervisor
        epoch = sup.epoch + 1
        if _tm.active:
            _tm.emit("connection.connecting", {}, {"url": redact_url(cfg.url), "epoch": epoch})
        t0 = time.monotonic_ns()
        conn = self._new_connection(epoch)
        self._opening = conn
        self._requests.use(conn, False)  # a callback may answer what came with the 101
        self._requests.attach(conn)
        try:
            await conn.open()
        except BaseException:
            self._requests.detach(conn)
            self._requests.use(self._conn, False)
            raise
        finally:
            self._opening = None
        lst = conn.listener
        assert lst is not None
        if sup.ending:
            lst.abort()
            self._requests.detach(conn)
            raise ConnectionLost("client closed while connecting", epoch=epoch)
        if lst.fail_code > 0:
            # A violation came with the 101 response and nothing before it is left to
            # consume: this attempt failed (its CLOSE is on the wire; TCP closes later).
            self._requests.detach(conn)
            self._requests.use(self._conn, False)
            raise self._closed_early(lst)
        sup.epoch = epoch
        self._conn = conn
        if self._queue.paused:  # the consumer is still behind: this connection waits too
            conn.pause_reading(True)
        self._set_state(State.OPEN)
        sup.opened()
        if conn.transport.is_disconnected:
            # Dropped between the handshake and now (picows' callback found no current
            # listener): run the disconnect path, which schedules the next attempt.
            conn.on_disconnected(lst)
            return
        sup.start_watch(self)
        self._rotation.opened(conn)
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
        sup = self._supervisor
        if lst is not None and lst.fail_code > 0:
            code, reason = lst.fail_code, lst.fail_reason
        elif sup.last_error is not None and sup.last_error.startswith("protocol error"):
            code, reason = sup.close_code or 1002, sup.close_reason
        else:
            return ConnectError(f"{url} closed the connection right after the handshake", url=url)
        return ProtocolConnectError(
            f"{url} violated the WebSocket protocol right after the handshake: zenws closed "
            f"the connection with {code} ({reason})",
            url=url,
            close_code=code,
            reason=reason,
        )

    # ------------------------------------------------------------------ a second connection

    async def _prepare(self, delivery: Delivery) -> Connection:
        """Open a connection next to the active one (make-before-break), not active yet.

        Its messages go to ``delivery`` (not the application's), its requests are sent
        with ``self._requests.request_on(conn, ...)`` and correlated on it, and its end
        fails only its own requests.  :meth:`_activate` makes it the active connection.

        Raises:
            ConnectError: it could not be opened, or the client stopped being OPEN while
                ``attempt_limit`` held the attempt back.
        """
        # a rotation's connection is a connection attempt like any other (venue limits)
        if not await self._supervisor.attempt_slot(State.OPEN):
            raise ConnectError(
                f"the client is {self._supervisor.state.name.lower()}: no second connection opened"
            )
        conn = self._new_connection(self._supervisor.epoch + 1)
        conn.deliver_to(delivery)
        self._requests.attach(conn)
        try:
            await conn.open()
        except BaseException:
            self._requests.detach(conn)
            raise
        self._others.append(conn)
        return conn

    def _activate(self, conn: Connection) -> Connection | None:
        """Make the prepared ``conn`` the active connection; return the one it replaces.

        From now on ``request``/``send`` go to ``conn``, the application's delivery
        receives its messages, heartbeat and liveness watch it and ``epoch`` is its epoch.
        The replaced connection stays open, its in-flight requests still answered and
        swept (its ``correlator.pending`` counts down); close it once drained.
        """
        sup = self._supervisor
        if sup.state is not State.OPEN or conn.current is None:
            raise ZenwsError("only an open connection can replace the active one, when OPEN")
        old = self._conn
        sup.stop_watch()
        self._others = [c for c in self._others if c is not conn]
        if old is not None and old.current is not None:
            self._others.append(old)
        conn.deliver_to(self._delivery)
        if self._queue.paused:
            conn.pause_reading(True)
        self._conn = conn
        sup.epoch = conn.epoch
        self._requests.use(conn, True)
        sup.start_watch(self)
        return old

    # ------------------------------------------------------------------ what connections report

    def _add_counters(self, lst: FastListener) -> None:
        for k, v in lst.counters().items():
            if k in self._totals:
                self._totals[k] += v

    def _primary(self, conn: Connection) -> bool:
        # The active connection, or the one the client is opening to become it (not one
        # prepared beside the active one): what happens to it is the client's state.
        return conn is self._conn or conn is self._opening

    def _on_ws_disconnected(self, conn: Connection) -> None:
        lst = conn.listener
        if lst is None:
            return
        if conn is not self._conn:
            # Not the active connection (one being prepared, or one replaced and draining):
            # only its own requests end; the client's state does not change.
            conn.fail_requests(
                lost(f"connection lost (epoch {lst.epoch})", sent=True, epoch=lst.epoch)
            )
            self._requests.detach(conn)
            if any(c is conn for c in self._others):  # not an attempt that failed to open
                self._others = [c for c in self._others if c is not conn]
                self._add_counters(lst)
                self._log.info("disconnected (epoch %d, not the active connection)", lst.epoch)
            return
        sup = self._supervisor
        self._next_id = lst.next_id
        self._add_counters(lst)
        self._requests.use(None, False)
        sup.lost()
        # The code zenws failed the connection with wins over the peer's answer to it.
        code: int | None
        if lst.fail_code > 0:
            code, reason = lst.fail_code, lst.fail_reason
        else:
            code = lst.close_code if lst.close_code >= 0 else None
            reason = lst.close_reason
        if code is not None:
            sup.close_code, sup.close_reason = code, reason
        exc = lost(
            f"connection lost (epoch {lst.epoch}"
            + (f", close code {code}" if code is not None else "")
            + ")",
            sent=True,  # fails the requests that were written (the correlator's)
            epoch=lst.epoch,
            code=code,
            reason=reason,
        )
        conn.fail_requests(exc)
        self._requests.detach(conn)
        self._requests.fail_limited(lst.epoch, code, reason)
        # the server forgot the subscriptions with the connection
        self._subscriptions.registry.mark_all_pending()
        self._requests.write_gate.wake()  # requests waiting to write fail now (ConnectionLost)
        if _tm.active:
            _tm.emit(
                "connection.closed",
                {"code": code, "reason": redact_text(reason)},
                {"epoch": lst.epoch, "url": redact_url(self.config.url)},
            )
        self._log.info("disconnected (epoch %d, code %s)", lst.epoch, code)
        if sup.state in (State.CLOSING, State.CLOSED, State.CONNECTING):
            return
        if self.config.reconnect_on_error or sup.manual_reconnect:
            sup.manual_reconnect = False
            self._set_state(State.RECONNECTING)
            sup.start_reconnect(exc, self._open, self._after_reconnect, self._finish_closed)
        else:
            self._finish_closed(exc)

    def _on_peer_close(self, conn: Connection, code: int, reason: str) -> None:
        sup = self._supervisor
        active = self._primary(conn)
        if active:
            sup.close_code, sup.close_reason = code, reason
        self._log.info("server closed the connection: %d %r", code, redact_text(reason[:120]))
        if sup.closed_by_app:  # the server's answer to our close()
            gone: ConnectionLost = ClientClosed(
                _CLOSED_IN_FLIGHT, sent=True, epoch=conn.epoch, code=code, reason=reason
            )
        else:
            gone = lost(
                f"server closed the connection ({code})",
                sent=True,
                epoch=conn.epoch,
                code=code,
                reason=reason,
            )
        conn.fail_requests(gone)
        if active:
            self._requests.fail_limited(conn.epoch, code, reason)

    def _on_protocol_error(self, conn: Connection | None, code: int, reason: str) -> None:
        # The listener (or picows) failed the connection with CLOSE `code` (RFC 6455 §7.1.7):
        # the code is what metrics(), the requests it ends and telemetry report.
        sup = self._supervisor
        epoch = conn.epoch if conn is not None else sup.epoch
        if conn is None or self._primary(conn):
            sup.close_code, sup.close_reason = code, reason
            sup.last_error = f"protocol error {code}: {reason}"
        self._log.warning("closing with %d: %s", code, reason)
        if _tm.active:
            _tm.emit("protocol.error", {"code": code}, {"reason": reason, "epoch": epoch})
        if conn is not None:
            self._fail_pending_on_violation(conn, code, reason)

    def _fail_pending_on_violation(self, conn: Connection, code: int, reason: str) -> None:
        # Nothing after a violation is read: no response can come any more.
        exc = lost(
            f"protocol error: zenws closes the connection with {code} ({reason})",
            sent=True,
            epoch=conn.epoch,
            code=code,
            reason=reason,
        )
        exc.__cause__ = ProtocolError(reason, code)
        conn.fail_requests(exc)
        if self._primary(conn):
            self._requests.fail_limited(conn.epoch, code, reason)

    def _fail_when_consumed(self) -> None:
        conn = self._conn
        if conn is not None:
            conn.fail_when_consumed()

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
        if not paused:
            self._requests.write_gate.wake()

    def _on_overflow(self, what: str) -> None:
        if what in ("drop_oldest", "drop_newest"):
            if _tm.active:
                _tm.emit("message.dropped", {"count": 1}, {"policy": what, "epoch": self.epoch})
        elif what in ("pause", "resume"):
            # The connection delivering (the open one, or one still in its handshake):
            # pausing its transport's reading lets TCP back-pressure reach the server.
            conn = self._opening if self._opening is not None else self._conn
            if conn is not None:
                conn.pause_reading(what == "pause")
        elif what == "disconnect":
            if _tm.active:
                _tm.emit("message.dropped", {"count": 1}, {"policy": what, "epoch": self.epoch})
            lst = self._listener
            conn = self._conn
            if conn is not None and lst is not None and not lst.closed:
                self._supervisor.last_error = (
                    f"receive queue overflow: {self._queue.capacity} messages waiting "
                    '(overflow="disconnect")'
                )
                # RFC 6455 §7.4.1: 1008 = policy violation (we cannot keep up).
                conn.close(1008, "receive queue overflow")
                conn.abort_later()

    # ------------------------------------------------------------------ HeartbeatHost

    def send_ping(self, payload: bytes) -> None:
        """Send a PING frame (heartbeat strategies)."""
        self._requests.open_listener().send_ping(payload)

    def send_text(self, data: str | bytes) -> None:
        """Send a text frame (heartbeat strategies)."""
        self._requests.open_listener().send_text(data)

    def force_reconnect(self, reason: str) -> None:
        """Drop the connection now (CLOSE 1011, then abort): pending fail, reconnect follows."""
        conn = self._conn
        if conn is None or self._listener is None:
            return
        self._supervisor.last_error = reason
        conn.close(1011, reason[:100])
        conn.abort()

    def last_frame_ns(self) -> int:
        """Monotonic ns of the last frame of any kind (connection time if none)."""
        lst = self._listener
        return lst.last_frame_ns if lst is not None else 0

    def last_data_ns(self) -> int:
        """Monotonic ns of the last data frame (connection time if none)."""
        lst = self._listener
        return lst.last_data_ns if lst is not None else 0

    # ------------------------------------------------------------------ reconnect

    async def _after_reconnect(self) -> None:
        await self._supervisor.run_hooks(self, self._on_callback_error)
        if self.config.restore_subscriptions:
            await self._subscriptions.restore()

    async def reconnect(self) -> None:
        """Drop the current connection and reconnect now (pending requests fail).

        Raises:
            ZenwsError: the client is closed, or reconnecting gave up.
        """
        sup = self._supervisor
        if sup.ending:
            raise ZenwsError("client is closed")
        waiter = sup.open_waiter()
        conn = self._conn
        if sup.state is State.OPEN and conn is not None and self._listener is not None:
            sup.backoff.reset()
            sup.manual_reconnect = True
            conn.close(1000, "reconnect")
            conn.abort()
        await waiter

    # ------------------------------------------------------------------ closing

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with the closing handshake (bounded by ``Config.close_timeout``).

        Args:
            code: close code sent to the server (RFC 6455 §7.4).
            reason: UTF-8 reason (truncated to fit a control frame).
        """
        sup = self._supervisor
        sup.closed_by_app = True
        if sup.state is State.CLOSED:
            await self._await_recorder()  # e.g. after giving up: the flush is complete
            return
        if sup.state is State.CLOSING:
            while not self.closed:
                await asyncio.sleep(0.01)
            await self._await_recorder()
            return
        self._set_state(State.CLOSING)
        sup.cancel_reconnect()
        for other in self._others:  # prepared or draining: closed alongside
            other.close(code, reason)
            other.abort_later()
        conn = self._conn
        fut = conn.disconnected if conn is not None else None
        if conn is not None and self._listener is not None and fut is not None:
            conn.close(code, reason)
            try:
                await asyncio.wait_for(asyncio.shield(fut), self.config.close_timeout)
            except (asyncio.TimeoutError, TimeoutError):
                conn.abort()
                try:
                    await asyncio.wait_for(asyncio.shield(fut), 1.0)
                except (asyncio.TimeoutError, TimeoutError):
                    conn.on_disconnected(conn.listener)  # type: ignore[arg-type]
        self._finish_closed(None)
        await self._await_recorder()

    def _close_recorder(self, rec: Any) -> None:
        # The final flush writes to disk: off the loop (Recorder.aclose, a worker thread),
        # so heartbeats and other clients keep running; close() awaits it.
        aclose = getattr(rec, "aclose", None)
        loop = self._loop
        if aclose is None or loop is None or loop.is_closed():
            rec.close()
            return
        self._recorder_closing = loop.create_task(aclose())

    async def _await_recorder(self) -> None:
        task = self._recorder_closing
        if task is not None:
            await asyncio.shield(task)  # a cancelled close() leaves the flush running

    def _finish_closed(self, exc: BaseException | None) -> None:
        sup = self._supervisor
        sup.stop_watch()
        self._rotation.stop()
        what = "client closed"
        kind = ConnectionLost
        if sup.closed_by_app:
            what = _CLOSED_IN_FLIGHT
            kind = ClientClosed
        gone = kind(
            what,
            sent=True,  # the correlators hold written requests only
            epoch=sup.epoch,
            code=sup.close_code,
            reason=sup.close_reason,
        )
        self._requests.close(gone, sup.epoch, sup.close_code, sup.close_reason)
        others, self._others = self._others, []
        for other in others:
            other.abort()
        self._queue.close(exc if isinstance(exc, ConnectError) else None)
        sup.fail_waiters(exc if exc is not None else gone)
        rec, self._recorder = self._recorder, None
        if rec is not None and self._owns_recorder:
            self._close_recorder(rec)
        self._closed_exc = exc
        if self.config.name is not None:
            _registry.unregister(self.config.name, self)  # only if still this client
        if sup.state is not State.CLOSED:
            if sup.state not in (State.CLOSING, State.CONNECTING):
                self._set_state(State.CLOSING)
            self._set_state(State.CLOSED)

    # ------------------------------------------------------------------ receiving

    @property
    def on_response(self) -> ResponseHook | None:
        """Sync callback seeing the envelope of every response matched to a request.

        Called on the loop thread with the decoded response (a dict), or its raw bytes when
        the read path did not decode it, before the request's waiter gets the result: for
        members beside ``result`` (Binance's ``status`` and ``rateLimits``).  Every
        connection of the client uses it: the open one, one being prepared or drained, and
        every later one.  An exception it raises is counted as a callback error; the
        request still completes.  ``None`` (the default) costs one pointer test per
        response.
        """
        return self._on_response

    @on_response.setter
    def on_response(self, hook: ResponseHook | None) -> None:
        if hook is not None and not callable(hook):
            raise TypeError("on_response must be callable or None")
        self._on_response = hook
        for conn in (self._conn, self._opening, *self._others):
            if conn is not None:
                conn.correlator.on_response = hook

    @property
    def on_message(self) -> Handler | None:
        """Sync callback receiving every unrouted :class:`Message` (replaces the queue).

        Setting it hands the messages already waiting in the queue to it first, in order
        (e.g. those that came with the 101 response of ``await zenws.connect()``).
        """
        return self._delivery.on_message

    @on_message.setter
    def on_message(self, handler: Handler | None) -> None:
        if handler is not None and not callable(handler):
            raise TypeError("on_message must be callable or None")
        self._delivery.on_message = handler
        conn = self._conn
        lst = self._listener
        if lst is not None and conn is not None and conn.delivery is self._delivery:
            # (during a rotation the listener delivers through it, which reads this handler)
            lst.on_message = handler
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
        conn = self._conn
        if conn is not None and conn.violation_pending:
            conn.fail_when_consumed()  # the consumer is done with what came before it
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
        lim = self._requests.limiter
        sup = self._supervisor
        conn = self._conn
        return StateMetrics(
            state=sup.state,
            epoch=sup.epoch,
            pending=self._requests.pending,
            subscriptions=len(self._subscriptions.registry.to_restore()),
            reconnects=sup.reconnects,
            dropped=self._queue.dropped,
            queue_depth=len(self._queue),
            queue_max_depth=self._queue.max_depth,
            rate_limit_pressure=lim.pressure if lim is not None else "none",
            rate_limit_queue=lim.queue_depth if lim is not None else 0,
            write_paused=bool(lst is not None and lst.write_paused),
            write_buffer=conn.write_buffer() if conn is not None and lst is not None else 0,
            close_code=sup.close_code,
            close_reason=sup.close_reason,
            last_error=sup.last_error,
            **tot,
        )

    def latency_stats(self) -> LatencySummary:
        """p50/p90/p99/p999/min/max/mean/last/count of request round trips, in ns."""
        return self.latency.summary()

    def heartbeat_health(self) -> HeartbeatHealth:
        """Heartbeat snapshot (kind "none" when no heartbeat is configured)."""
        hb = self._supervisor.heartbeat
        if hb is None:
            return HeartbeatHealth.disabled()
        return hb.health()


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
