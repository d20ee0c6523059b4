"""What the two connections' messages do during a rotation: :class:`Intercept`.

While :class:`zenws.client._rotation.Rotation` runs the steps of a rotation (open, hooks,
subscribe, sync, switch, retire), each connection's listener delivers to a sink of this
module instead of the application: the old connection's messages are delivered and told to
the :class:`~zenws.rotation.Handover`, the new one's are held, and after the switch the new
one's are filtered until every channel passed a fresh message.  Whatever reaches the
application goes through :meth:`Intercept.deliver`: the handler of its channel,
``on_message`` (read at that moment, so it may change at any time) or the queue, and the
recorder (:class:`Recording`: every delivered message once, in delivery order).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import telemetry as _tm
from .._redact import redact_url
from ..fast.jsonl import FrameQueue
from ..fast.listener import Message, MessageKind, _make_message
from ..rotation import Handover, RotationReport, Verdict
from ._connection import Connection, Delivery

if TYPE_CHECKING:
    from . import Client


class Recording:
    """The recorder of both connections during a rotation: a notification is recorded when
    the application gets it.

    A listener records each frame just before dispatching it, but what the rotation holds
    (passed at the switch, or dropped as a duplicate) must be recorded only when, and if, it
    is delivered, so that a recording spanning rotations has every delivered message once,
    in delivery order.  So an incoming data frame waits here until the next event: the
    rotation claims it (:meth:`claim`; it is then written by :meth:`record` at delivery, or
    never), or it was something else (a response, a heartbeat) and is written as it came.
    """

    __slots__ = ("_pending", "_write")

    def __init__(self, inner: Any) -> None:
        self._write = inner.push if isinstance(inner, FrameQueue) else inner.write
        self._pending: tuple[str, Any, int, Any] | None = None

    def write(
        self,
        direction: str,
        kind: str,
        payload: Any,
        epoch: int,
        mono_ns: int | None = None,
        code: int | None = None,
        reason: str = "",
    ) -> None:
        """What the listeners call (``Recorder.write``)."""
        self.flush()
        if direction == "in" and (kind == "text" or kind == "binary"):
            self._pending = (kind, payload, epoch, mono_ns)
        elif kind == "close":
            self._write(direction, kind, payload, epoch, mono_ns, code=code, reason=reason)
        else:
            self._write(direction, kind, payload, epoch, mono_ns)

    def claim(self, raw: bytes) -> None:
        """The rotation handles the frame just received: it records it if it delivers it."""
        pending = self._pending
        if pending is not None and pending[1] is raw:
            self._pending = None

    def record(self, msg: Message) -> None:
        """``msg`` goes to the application now (with its connection's epoch, its arrival)."""
        self.flush()
        kind = "binary" if msg.kind == MessageKind.BINARY else "text"
        self._write("in", kind, msg.raw, msg.epoch, msg.recv_ns)

    def flush(self) -> None:
        """Write the frame received last if nobody claimed it."""
        pending, self._pending = self._pending, None
        if pending is not None:
            kind, payload, epoch, mono_ns = pending
            self._write("in", kind, payload, epoch, mono_ns)


def app_channel(app: Delivery, msg: Message) -> str | None:
    ch = msg.channel
    if ch is None and app.channel_of is not None:
        try:
            ch = app.channel_of(msg.json())
        except Exception:
            ch = None
    return ch if isinstance(ch, str) else None


class Intercept:
    """The delivery half of one rotation; :meth:`switch` is its steps' (a subclass).

    Attributes:
        handover: what to drop, pass or flag, channel by channel.
        ready: the new connection is subscribed: switch once in sync.
        new: the connection being prepared (once opened).
        rec: the application's recorder while the rotation decides what is delivered.
    """

    report: RotationReport

    def __init__(self, client: Client, key: Any) -> None:
        self.client = client
        self.app: Delivery = client._delivery
        self.new: Connection | None = None
        self.handover: Handover[Message] = Handover(key, window=client.config.rotation_window)
        self.ready = False
        self.decoder = client.config.decoder
        self.rec = Recording(self.app.recorder) if self.app.recorder is not None else None

    def switch(self) -> None:
        """Make the new connection the active one (the subclass's step)."""
        raise NotImplementedError

    def deliver(self, msg: Message, channel: str | None) -> None:
        """Hand ``msg`` to the application's handler / on_message / queue (isolated)."""
        app = self.app
        if self.rec is not None:
            try:
                self.rec.record(msg)
            except Exception as exc:
                self.client._on_callback_error(exc, msg)
        handler = app.handlers.get(channel) if channel is not None else None
        if channel is not None and msg.channel is None and handler is not None:
            # the listener names the channel of a routed message: so do we
            msg = _make_message(
                int(msg.kind), msg.raw, channel, msg.id, msg.recv_ns, msg.epoch, self.decoder
            )
        if handler is None:
            handler = app.on_message
        if handler is not None:
            try:
                handler(msg)
            except Exception as exc:
                self.client._on_callback_error(exc, msg)
        else:
            app.queue.put_nowait(msg)

    def sink(self, on_message: Callable[[Message], None]) -> Delivery:
        app = self.app
        d = Delivery(app.queue, {}, None, test_timeout=app.test_timeout)
        d.on_message = on_message
        d.recorder = self.rec
        return d

    def claim(self, msg: Message) -> None:
        if self.rec is not None:
            self.rec.claim(msg.raw)

    def to_app(self, conn: Connection) -> None:
        """``conn`` delivers to the application again (recorded by its listener)."""
        if self.rec is not None:
            self.rec.flush()
        conn.deliver_to(self.app)

    # ---- the two connections' messages

    def on_old(self, msg: Message) -> None:
        """Before the switch: the old connection delivers, and the handover learns it."""
        self.claim(msg)
        channel = app_channel(self.app, msg)
        if channel is not None:
            try:
                self.handover.delivered(channel, msg.json(), msg.raw)
            except Exception:  # not JSON: compared by its bytes
                self.handover.delivered(channel, None, msg.raw)
        self.deliver(msg, channel)
        if self.ready and self.handover.in_sync():
            self.switch()

    def on_new(self, msg: Message) -> None:
        """Before the switch: hold the new connection's notifications."""
        self.claim(msg)
        channel = app_channel(self.app, msg)
        if channel is None:
            return  # no answer to a request of ours reaches here (the correlator has them)
        try:
            doc = msg.json()
        except Exception:
            doc = None
        self.handover.received(msg, channel, doc, msg.raw)
        if self.ready and self.handover.in_sync():
            self.switch()

    def on_old_retired(self, msg: Message) -> None:
        """After the switch: the new connection delivers the notifications."""
        self.claim(msg)
        channel = app_channel(self.app, msg)
        if channel is None:
            self.deliver(msg, None)

    def on_new_filtered(self, msg: Message) -> None:
        """After the switch, until every channel passed a fresh message."""
        self.claim(msg)
        channel = app_channel(self.app, msg)
        if channel is None:
            self.deliver(msg, None)
            return
        try:
            doc = msg.json()
        except Exception:
            doc = None
        verdict = self.handover.after(channel, doc, msg.raw)
        if verdict is not Verdict.DROP:
            if verdict is Verdict.GAP:
                self.gap(channel)
            self.deliver(msg, channel)
        if self.handover.settled and self.new is not None:
            self.to_app(self.new)  # the compiled path again

    def gap(self, channel: str) -> None:
        self.client._log.warning("rotation: gap on %s at the switch", channel)
        if _tm.active:
            _tm.emit(
                "rotation.gap", {"count": 1}, self.meta(channel=channel, epoch=self.report.epoch)
            )

    def meta(self, **kw: Any) -> dict[str, Any]:
        """An event's metadata: ``kw`` and the client's URL (as every connection event)."""
        kw["url"] = redact_url(self.client.config.url)
        return kw


__all__ = ["Intercept", "Recording", "app_channel"]
