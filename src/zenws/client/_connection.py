"""One connection epoch of :class:`zenws.Client`: handshake, listener, its timers, its close.

A :class:`Connection` owns everything that lives and dies with one WebSocket connection:
the listener (:class:`~zenws.fast.listener.FastListener`) and its transport, the
:class:`~zenws.fast.jsonrpc.Correlator` of the requests written on it, the timer that aborts
it after a CLOSE, and a read-guard violation waiting for the messages before it to be
consumed.  What it cannot decide alone (which error a request gets, reconnecting, logging
policy) it reports to its :class:`ConnectionOwner`.

Its messages go to a :class:`Delivery` (handlers, ``on_message`` or the queue, and the
recorder); :meth:`Connection.deliver_to` swaps it, so a connection can be prepared while
another one is active (its notifications to a separate sink) and then take over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from .._subscriptions_dialects import jsonrpc_member
from ..config import Config
from ..errors import ConnectionLost
from ..fast.jsonrpc import Correlator
from ..fast.latency import LatencyBuffer
from ..fast.listener import FastListener, ListenerEvents, Message, MessageQueue
from ._handshake import open_transport

Handler = Callable[[Message], Any]
#: Client.on_response: called with each matched response (decoded dict, or raw bytes).
ResponseHook = Callable[[Any], Any]


class Delivery:
    """Where a connection's messages go (set on its listener by :meth:`Connection.deliver_to`).

    Attributes are the listener's: ``handlers`` (channel -> handler), ``on_message``,
    ``queue`` (the :class:`MessageQueue` that ``async for`` reads), ``channel_of``,
    ``recorder`` (a Recorder's C queue, or None), ``heartbeat``, ``deliver_heartbeats``,
    ``test_timeout``.
    """

    __slots__ = (
        "channel_of",
        "deliver_heartbeats",
        "handlers",
        "heartbeat",
        "on_message",
        "queue",
        "recorder",
        "test_timeout",
    )

    def __init__(
        self,
        queue: MessageQueue,
        handlers: dict[str, Any],
        channel_of: Any,
        *,
        heartbeat: Any = None,
        deliver_heartbeats: bool = False,
        test_timeout: float = 0.0,
    ) -> None:
        self.queue = queue
        self.handlers = handlers
        self.channel_of = channel_of
        self.on_message: Handler | None = None
        self.recorder: Any = None
        self.heartbeat = heartbeat
        self.deliver_heartbeats = deliver_heartbeats
        self.test_timeout = test_timeout

    def wire(self, lst: FastListener) -> None:
        """Point ``lst``'s delivery at this sink."""
        lst.handlers = self.handlers
        lst.on_message = self.on_message
        lst.queue = self.queue
        lst.set_heartbeat(self.heartbeat)
        lst.deliver_heartbeats = self.deliver_heartbeats
        lst.channel_of = self.channel_of
        lst.recorder = self.recorder
        lst.test_timeout = self.test_timeout


class ConnectionOwner(Protocol):
    """What a :class:`Connection` reports (the client; a connection being prepared may have
    another owner).  Each call comes after the connection did its own part."""

    def connection_lost(self, conn: Connection) -> None:
        """The transport is gone (``conn.listener`` is the listener that ended)."""

    def peer_closed(self, conn: Connection, code: int, reason: str) -> None:
        """The server sent CLOSE ``code``: no response can come any more."""

    def protocol_error(self, conn: Connection | None, code: int, reason: str) -> None:
        """zenws failed the connection with CLOSE ``code`` (RFC 6455 §7.1.7)."""

    def violation(self, conn: Connection, code: int, reason: str) -> None:
        """The read guard stopped at a violation (the connection fails once consumed)."""

    def callback_error(self, exc: BaseException, msg: Message | None) -> None:
        """A user callback raised (isolated)."""

    def error_no_id(self, conn: Connection, payload: bytes, recv_ns: int) -> None:
        """An error response without an id arrived."""

    def write_paused(self, paused: bool) -> None:
        """The transport stopped (True) or resumed (False) accepting writes."""


class _Events(ListenerEvents):
    """The :class:`ListenerEvents` of one connection: each event goes to it."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def on_disconnected(self, lst: FastListener) -> None:
        self._conn.on_disconnected(lst)

    def on_peer_close(self, lst: FastListener, code: int, reason: str) -> None:
        self._conn.on_peer_close(lst, code, reason)

    def on_protocol_error(self, code: int, reason: str) -> None:
        self._conn.on_protocol_error(code, reason)

    def on_violation(self, lst: FastListener, code: int, reason: str) -> None:
        self._conn.on_violation(lst, code, reason)

    def on_callback_error(self, exc: BaseException, msg: Message | None) -> None:
        self._conn.owner.callback_error(exc, msg)

    def on_error_no_id(self, payload: bytes, recv_ns: int) -> None:
        self._conn.owner.error_no_id(self._conn, payload, recv_ns)

    def on_write_paused(self, paused: bool) -> None:
        self._conn.owner.write_paused(paused)


class Connection:
    """One connection epoch: open it with :meth:`open`, end it with :meth:`close`/:meth:`abort`.

    Args:
        config: the client's options.
        epoch: this connection's epoch (1 for the first).
        owner: where events are reported (:class:`ConnectionOwner`).
        delivery: where messages go (swappable: :meth:`deliver_to`).
        listener_class: the FastListener subclass to build.
        latency: the client's round-trip buffer.
        first_id: the first JSON-RPC id this connection hands out.
    """

    __slots__ = (
        "_abort_timer",
        "_events",
        "_violation",
        "_violation_timer",
        "config",
        "correlator",
        "delivery",
        "disconnected",
        "ended",
        "epoch",
        "first_id",
        "handshaking",
        "latency",
        "listener",
        "listener_class",
        "owner",
        "subprotocol",
        "transport",
    )

    def __init__(
        self,
        config: Config,
        epoch: int,
        *,
        owner: ConnectionOwner,
        delivery: Delivery,
        listener_class: type[FastListener],
        latency: LatencyBuffer,
        first_id: int,
    ) -> None:
        self.config = config
        self.epoch = epoch
        self.owner = owner
        self.delivery = delivery
        self.listener_class = listener_class
        self.latency = latency
        self.first_id = first_id
        #: the requests written on this connection (each connection has its own)
        self.correlator = Correlator()
        self.listener: FastListener | None = None  #: set once the handshake succeeded
        self.handshaking: FastListener | None = None  #: the listener during the handshake
        self.transport: Any = None
        self.subprotocol: str | None = None
        self.disconnected: asyncio.Future[None] | None = None  #: done once the transport ends
        self.ended = False  #: the transport of the open listener ended
        self._events = _Events(self)
        self._abort_timer: asyncio.TimerHandle | None = None
        self._violation: tuple[int, str] | None = None
        self._violation_timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"<zenws Connection epoch={self.epoch} open={self.live is not None}>"

    # ------------------------------------------------------------------ opening

    async def open(self) -> None:
        """Run the handshake (``_handshake.open_transport``); the listener starts delivering.

        Raises:
            ConnectError: the connection could not be opened.
            Exception: what ``open_transport`` raises.
        """
        cfg = self.config

        def make_listener(neg: Any) -> FastListener:
            inflater = deflater = None
            if neg.deflate is not None:
                inflater, deflater = neg.deflate.make_inflater(), neg.deflate.make_deflater()
            lst = self.listener_class(
                epoch=self.epoch,
                correlator=self.correlator,
                latency=self.latency,
                max_message_size=cfg.max_message_size,
                inflater=inflater,
                deflater=deflater,
                decoder=cfg.decoder,
                first_id=self.first_id,
            )
            lst.events = self._events
            lst.bare_requests = not jsonrpc_member(cfg.dialect)
            self.delivery.wire(lst)
            self.handshaking = lst
            return lst

        try:
            transport, lst, neg = await open_transport(cfg, make_listener)
        finally:
            self.handshaking = None
        self.listener = lst
        self.transport = transport
        self.subprotocol = neg.subprotocol
        self.disconnected = asyncio.get_running_loop().create_future()
        guard = getattr(lst, "guard", None)
        if guard is not None and guard.fail_code and not lst.fail_code:
            # The guard stopped at a violation in the bytes that came with the 101 and
            # reports it from a scheduled callback, after the frames before it; on Python
            # 3.12+ open_transport() returns before that callback ran. Let it run.
            for _ in range(3):
                await asyncio.sleep(0)

    @property
    def live(self) -> FastListener | None:
        """The listener: the open one, or the one still in its handshake (else None)."""
        return self.listener if self.listener is not None else self.handshaking

    @property
    def current(self) -> FastListener | None:
        """The open listener until its transport ends (None before and after)."""
        return None if self.ended else self.listener

    @property
    def next_id(self) -> int:
        """The next JSON-RPC id this connection hands out."""
        lst = self.live
        return lst.next_id if lst is not None else self.first_id

    def deliver_to(self, delivery: Delivery) -> None:
        """Send this connection's messages to ``delivery`` from now on."""
        self.delivery = delivery
        lst = self.live
        if lst is not None:
            delivery.wire(lst)

    def fail_requests(self, exc: ConnectionLost) -> None:
        """Fail every request waiting for a response on this connection."""
        self.correlator.fail_all(exc)

    # ------------------------------------------------------------------ events

    def on_disconnected(self, lst: FastListener) -> None:
        self._cancel_abort()  # the handle would keep the listener (and its buffers) alive
        self._drop_violation()
        fut = self.disconnected
        if fut is not None and not fut.done():
            fut.set_result(None)
        if lst is self.listener and not self.ended:
            self.ended = True
            self.transport = None
            self.owner.connection_lost(self)

    def on_peer_close(self, lst: FastListener, code: int, reason: str) -> None:
        self.owner.peer_closed(self, code, reason)
        self.abort_later()

    def on_protocol_error(self, code: int, reason: str) -> None:
        self.owner.protocol_error(self, code, reason)
        self.abort_later()

    def on_violation(self, lst: FastListener, code: int, reason: str) -> None:
        """The read guard stopped at a violation, after delivering every frame before it.

        The connection fails once the messages before it are consumed (DESIGN §3: they
        can still be answered): at once when none wait in the queue, else when
        ``async for`` asks for the message after them or ``on_message`` is set, and
        after ``close_timeout`` at the latest.
        """
        self._drop_violation()
        self._violation = (code, reason)
        self.owner.violation(self, code, reason)
        loop = asyncio.get_running_loop()
        self._violation_timer = loop.call_later(self.config.close_timeout, self.fail_violation)
        self.fail_when_consumed()

    # ------------------------------------------------------------------ a violation

    @property
    def violation_pending(self) -> bool:
        """A violation waits for the messages before it to be consumed."""
        return self._violation is not None

    def fail_when_consumed(self) -> None:
        """Fail the connection for its violation if no message waits in the queue."""
        if self._violation is not None and len(self.delivery.queue) == 0:
            self.fail_violation()

    def fail_violation(self) -> None:
        """Fail the connection with the violation's CLOSE code now."""
        v = self._violation
        self._drop_violation()
        lst = self.live
        if v is not None and lst is not None:
            lst.fail(v[0], v[1])

    def _drop_violation(self) -> None:
        self._violation = None
        if self._violation_timer is not None:
            self._violation_timer.cancel()
            self._violation_timer = None

    # ------------------------------------------------------------------ closing

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send CLOSE (the transport ends when the server answers, or :meth:`abort`)."""
        lst = self.listener
        if lst is not None:
            lst.close(code, reason)

    def abort(self) -> None:
        """Drop the transport now."""
        lst = self.live
        if lst is not None:
            lst.abort()

    def abort_later(self) -> None:
        """Abort after ``close_timeout`` unless the transport ends first (one timer)."""
        lst = self.live
        tr = lst.transport if lst is not None else None
        if tr is None or tr.is_disconnected or self._abort_timer is not None:
            return
        loop = asyncio.get_running_loop()
        self._abort_timer = loop.call_later(self.config.close_timeout, lst.abort)  # type: ignore[union-attr]

    def _cancel_abort(self) -> None:
        if self._abort_timer is not None:
            self._abort_timer.cancel()
            self._abort_timer = None

    def pause_reading(self, pause: bool) -> None:
        """Stop (or resume) reading the socket: ``overflow="pause_reading"``."""
        lst = self.live
        wst = lst.transport if lst is not None else None
        if wst is None:
            return
        tr = wst.underlying_transport
        tr.pause_reading() if pause else tr.resume_reading()

    def write_buffer(self) -> int:
        """Bytes waiting in the transport's write buffer."""
        lst = self.listener
        wst = lst.transport if lst is not None else None
        if wst is None:
            return 0
        return int(wst.underlying_transport.get_write_buffer_size())


def lost(
    message: str, *, sent: bool, epoch: int, code: int | None = None, reason: str = ""
) -> ConnectionLost:
    """A :class:`ConnectionLost` carrying ``sent``: whether the request/frame was written.

    ``sent=False`` means provably not written (the client was not open, or the request was
    still in the rate limiter's queue), so another connection may safely take it
    (``zenws.Pool``); ``sent=True`` means it was written and may have been executed.
    """
    return ConnectionLost(message, epoch=epoch, code=code, reason=reason, sent=sent)


def mark_unsent(exc: ConnectionLost) -> ConnectionLost:
    """Tag a ConnectionLost raised before anything was written (``exc.sent = False``)."""
    exc.sent = False
    return exc
