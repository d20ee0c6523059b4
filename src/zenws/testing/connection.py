"""One accepted WebSocket connection of a :class:`~zenws.testing.MockServer`, with its faults.

Every method here acts on the wire of this connection only, so a test can break one client
while others keep working.  Outgoing data goes through picows (normal frames) or straight to
the asyncio transport (raw bytes, hand-built frames), so a fault is exactly what the client sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import select
import socket
import struct
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport

from .handler import Handler, Received, UpgradeRequest, is_awaitable

if TYPE_CHECKING:
    from .server import MockServer

__all__ = ["Connection"]

log = logging.getLogger("zenws.testing")

# RFC 6455 §5.2 opcodes (kept local: the frame codec is only needed for hand-built frames).
_OP_CONT, _OP_TEXT, _OP_BINARY, _OP_CLOSE = 0, 1, 2, 8


# poll() flags meaning "the peer closed or reset" (RDHUP is Linux-only: elsewhere no watcher).
_POLL_PEER_GONE = (
    getattr(select, "POLLRDHUP", 0) | select.POLLHUP | select.POLLERR
    if hasattr(select, "poll") and hasattr(select, "POLLRDHUP")
    else 0
)


def _code(code: int) -> Any:
    # picows types the argument as WSCloseCode but puts any int on the wire (e.g. 4000-4999).
    return code


def _frame_codec() -> Any:
    try:
        from zenws.fast import frame
    except ImportError as exc:  # pragma: no cover - depends on the build
        from .._missing import missing_extension

        raise missing_extension("zenws.fast.frame") from exc
    return frame


class Connection:
    """A client connected to the mock server.

    Attributes:
        id: 1-based connection number, unique per server.
        request: the :class:`~zenws.testing.UpgradeRequest` that opened it.
        received: captured client messages (bounded, oldest dropped first).
        state: free scratch space for handlers (simulators keep their session here).
        answer_pings: reply to PING frames with PONG (turn off to simulate a dead peer).
        reply_delay: seconds every outgoing data frame is held back.
        stalled: True after :meth:`stall` (no reading, nothing written, TCP kept open).
        reading_paused: True after :meth:`pause_reading` (no reading; writing goes on).
        aborted: True after :meth:`abort` (everything later is dropped).
        close_code: close code the client sent (``1005`` when its CLOSE had no code).
        close_reason: close reason the client sent.
        dropped: outgoing messages discarded because the connection was stalled or gone.
        pings: PING frames received from the client.
        messages_in: complete messages received in total (not bounded like ``received``).
    """

    def __init__(
        self, server: MockServer, conn_id: int, request: UpgradeRequest, capture_limit: int
    ) -> None:
        self.server = server
        self.id = conn_id
        self.request = request
        self.received: deque[Received] = deque(maxlen=capture_limit)
        self.state: dict[str, Any] = {}
        self.answer_pings: bool = server.answer_pings
        self.reply_delay: float = server.reply_delay
        self.stalled = False
        self.reading_paused = False
        self.aborted = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.dropped = 0
        self.pings = 0
        self.messages_in = 0
        self._transport: WSTransport | None = None
        self._loop = asyncio.get_running_loop()
        self._gone = asyncio.Event()
        self._frag_opcode: int | None = None
        self._frag_parts: list[bytes] = []
        self._backlog: deque[Received] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        status = "open" if self.open else "closed"
        return f"<Connection {self.id} {status} path={self.request.path!r}>"

    # ------------------------------------------------------------------ status
    @property
    def open(self) -> bool:
        """True while the TCP connection is up (a stalled connection is still open)."""
        return self._transport is not None and not self._gone.is_set()

    @property
    def handler(self) -> Handler:
        """The server's handler."""
        return self.server.handler

    @property
    def peername(self) -> tuple[str, int] | None:
        """The client's address, if known."""
        if self._transport is None:
            return None
        peer = self._transport.underlying_transport.get_extra_info("peername")
        return (peer[0], peer[1]) if peer else None

    async def wait_closed(self, timeout: float | None = 5.0) -> None:
        """Wait until the TCP connection is gone.

        Args:
            timeout: seconds; ``None`` waits forever.

        Raises:
            TimeoutError: still connected after ``timeout``.
        """
        await asyncio.wait_for(self._gone.wait(), timeout)

    # ------------------------------------------------------------------ sending
    def send(self, data: str | bytes | bytearray | memoryview | Any) -> bool:
        """Send one message: ``str`` as text, bytes-like as binary, anything else as JSON text.

        Args:
            data: the message.

        Returns:
            False if it was dropped (stalled or disconnected connection).
        """
        if isinstance(data, str):
            return self._out(WSMsgType.TEXT, data)
        if isinstance(data, (bytes, bytearray, memoryview)):
            return self._out(WSMsgType.BINARY, bytes(data))
        return self._out(WSMsgType.TEXT, orjson.dumps(data))

    def send_json(self, obj: Any) -> bool:
        """Send ``obj`` serialised with orjson as a text message (see :meth:`send`)."""
        return self._out(WSMsgType.TEXT, orjson.dumps(obj))

    def send_ping(self, payload: bytes = b"") -> bool:
        """Send a PING frame (RFC 6455 §5.5.2); the client's PONG reaches ``Handler.on_pong``."""
        return self._emit(lambda t: t.send_ping(payload), delayed=False)

    def send_raw(self, data: bytes) -> bool:
        """Write bytes to the TCP stream as they are, bypassing every WebSocket check.

        Args:
            data: anything, e.g. a frame from :func:`zenws.fast.frame.encode`.

        Returns:
            False if it was dropped.
        """
        payload = bytes(data)
        return self._emit(lambda t: t.underlying_transport.write(payload))

    def send_frame(
        self,
        opcode: int,
        payload: bytes | str = b"",
        *,
        fin: bool = True,
        rsv1: bool = False,
        rsv2: bool = False,
        rsv3: bool = False,
        mask: bool | bytes | None = None,
    ) -> bool:
        """Send one hand-built frame, valid or not (bad opcodes, reserved bits, masking...).

        Args:
            opcode: 0..15, including reserved opcodes.
            payload: frame payload (``str`` is UTF-8 encoded); may be invalid UTF-8 for text.
            fin: FIN bit; ``False`` starts or continues a fragmented message.
            rsv1: RSV1 bit (set without an extension = protocol error at the client).
            rsv2: RSV2 bit.
            rsv3: RSV3 bit.
            mask: ``True`` masks with a random key (forbidden from a server), 4 bytes = that key.

        Returns:
            False if it was dropped.

        Raises:
            ImportError: the compiled frame codec is not available.
        """
        frame = _frame_codec()
        raw = payload.encode() if isinstance(payload, str) else bytes(payload)
        wire = frame.encode(
            opcode, raw, fin=fin, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3, mask=mask, strict=False
        )
        return self.send_raw(wire)

    def send_fragmented(self, message: str | bytes, sizes: int | list[int] = 2) -> bool:
        """Send one message split into fragments (RFC 6455 §5.4).

        Args:
            message: text or binary message.
            sizes: number of (about equal) fragments, or explicit fragment sizes in bytes
                (the remainder goes into the last fragment).

        Returns:
            False if it was dropped.
        """
        raw = message.encode() if isinstance(message, str) else bytes(message)
        opcode = _OP_TEXT if isinstance(message, str) else _OP_BINARY
        if isinstance(sizes, int):
            step = max(1, -(-len(raw) // max(1, sizes)))
            cuts = list(range(step, len(raw), step))
        else:
            cuts, pos = [], 0
            for size in sizes:
                pos += size
                if pos < len(raw):
                    cuts.append(pos)
        bounds = [0, *cuts, len(raw)]
        chunks = [raw[a:b] for a, b in itertools.pairwise(bounds)]
        frame = _frame_codec()
        wire = b"".join(
            frame.encode(
                opcode if i == 0 else _OP_CONT, chunk, fin=i == len(chunks) - 1, strict=False
            )
            for i, chunk in enumerate(chunks)
        )
        return self.send_raw(wire)

    # ------------------------------------------------------------------ faults
    async def close(self, code: int = 1000, reason: str = "", *, timeout: float = 2.0) -> None:
        """Start the closing handshake with ``code``/``reason`` and wait for the TCP close.

        Args:
            code: close code put on the wire exactly (RFC 6455 §7.4).
            reason: close reason (UTF-8, at most 123 bytes).
            timeout: seconds to wait for the client before dropping the TCP connection.
        """
        transport = self._transport
        if transport is None or self._gone.is_set():
            return
        if self.aborted:
            await self._gone.wait()
            return
        if self.stalled:
            # A half-open peer writes nothing, not even a CLOSE: only the FIN goes out.
            transport.disconnect(graceful=False)
            await self._gone.wait()
            return
        if not transport.is_close_frame_sent:
            transport.send_close(_code(code), reason.encode())
        with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
            await asyncio.wait_for(self._gone.wait(), timeout)
        if not self._gone.is_set():
            transport.disconnect(graceful=False)
            await self._gone.wait()

    def abort(self) -> None:
        """Reset the TCP connection (RST, SO_LINGER 0): no close frame, no FIN."""
        transport = self._transport
        if transport is None or self._gone.is_set():
            return
        self.aborted = True  # nothing may reach the wire any more, not even a CLOSE
        underlying = transport.underlying_transport
        sock = underlying.get_extra_info("socket")
        if sock is not None:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        underlying.abort()

    def stall(self) -> None:
        """Become a half-open peer: stop reading, drop every outgoing frame (PONGs too).

        The TCP connection stays open; the client sees silence.  :meth:`resume` undoes it.
        Where the OS reports a peer shutdown without reading (Linux ``POLLRDHUP``), the
        connection is dropped once the client closes its end, so ``server.connections`` does
        not keep ghosts of clients that gave up.
        """
        self.stalled = True
        if self._transport is not None and not self._gone.is_set():
            self._transport.underlying_transport.pause_reading()
            if _POLL_PEER_GONE and self._watcher is None:
                self._watcher = self._loop.create_task(self._watch_peer())

    async def _watch_peer(self) -> None:
        try:
            assert self._transport is not None
            sock = self._transport.underlying_transport.get_extra_info("socket")
            if sock is None:
                return
            poller = select.poll()
            poller.register(sock.fileno(), _POLL_PEER_GONE)
            while self.stalled and not self._gone.is_set():
                if poller.poll(0):  # FIN or RST from the client; nothing is read
                    self._transport.disconnect(graceful=False)
                    return
                await asyncio.sleep(0.05)
        except (OSError, ValueError):
            return  # socket already closed
        finally:
            self._watcher = None

    def resume(self) -> None:
        """Undo :meth:`stall` (frames the client sent meanwhile are then read)."""
        self.stalled = False
        if self._transport is not None and not self._gone.is_set() and not self.reading_paused:
            self._transport.underlying_transport.resume_reading()

    def pause_reading(self) -> None:
        """Stop reading what the client sends (back-pressure), while still writing to it.

        The client's frames pile up in the socket buffers until its transport stops
        writing (``metrics().write_paused``), as with a server that cannot keep up.
        Replies to frames read before, :meth:`send`, PONGs and closes still go out.
        :meth:`resume_reading` undoes it.
        """
        self.reading_paused = True
        if self._transport is not None and not self._gone.is_set():
            self._transport.underlying_transport.pause_reading()

    def resume_reading(self) -> None:
        """Undo :meth:`pause_reading`: the frames the client sent meanwhile are read, in order."""
        self.reading_paused = False
        if self._transport is not None and not self._gone.is_set() and not self.stalled:
            self._transport.underlying_transport.resume_reading()

    def ignore_pings(self, enabled: bool = True) -> None:
        """Stop (or resume, with ``enabled=False``) answering the client's PINGs."""
        self.answer_pings = not enabled

    def delay_replies(self, seconds: float) -> None:
        """Hold back every later outgoing data frame by ``seconds`` (order is kept)."""
        self.reply_delay = max(0.0, float(seconds))

    # ------------------------------------------------------------------ internals
    def _emit(self, write: Callable[[WSTransport], None], *, delayed: bool = True) -> bool:
        if self._transport is None or self._gone.is_set() or self.stalled or self.aborted:
            self.dropped += 1
            return False
        if delayed and self.reply_delay > 0:
            self._loop.call_later(
                self.reply_delay, functools.partial(self._emit, write, delayed=False)
            )
            return True
        if self._transport.is_close_frame_sent:
            self.dropped += 1
            return False
        write(self._transport)
        return True

    def _out(self, msg_type: WSMsgType, payload: str | bytes) -> bool:
        return self._emit(lambda t: t.send(msg_type, payload))

    def _attach(self, transport: WSTransport) -> None:
        self._transport = transport
        self.server._connected(self)
        try:
            result = self.handler.on_connect(self)
        except Exception:
            log.exception("mock server handler failed in on_connect (%d)", self.id)
            return
        self._run_hook(result)

    def _on_frame(self, frame: WSFrame) -> None:
        if self.stalled:
            return  # a half-open peer reads nothing
        op = frame.msg_type
        if op == WSMsgType.PING:
            self.pings += 1
            if self.answer_pings:
                payload = frame.get_payload_as_bytes()
                self._emit(lambda t: t.send_pong(payload), delayed=False)
        elif op == WSMsgType.PONG:
            try:
                self.handler.on_pong(self, frame.get_payload_as_bytes())
            except Exception:
                log.exception("mock server handler failed in on_pong (%d)", self.id)
        elif op == WSMsgType.CLOSE:
            self._on_close(frame)
        else:
            self._on_data(op.value, bool(frame.fin), frame.get_payload_as_bytes())

    def _on_close(self, frame: WSFrame) -> None:
        transport = self._transport
        assert transport is not None
        if frame.payload_size >= 2:
            self.close_code = frame.get_close_code().value
            self.close_reason = frame.get_close_reason()
        else:
            self.close_code = 1005  # RFC 6455 §7.1.5: no status code was present
        if not transport.is_close_frame_sent:
            if self.close_code == 1005:
                transport.underlying_transport.write(b"\x88\x00")  # empty CLOSE echoes none
            else:
                transport.send_close(_code(self.close_code), frame.get_close_message())
        transport.disconnect()

    def _on_data(self, opcode: int, fin: bool, payload: bytes) -> None:
        if opcode == _OP_CONT:
            if self._frag_opcode is None:
                self._fail(1002, "continuation frame without a message to continue")
                return
            self._frag_parts.append(payload)
        else:
            if self._frag_opcode is not None:
                self._fail(1002, "new data frame before the fragmented message ended")
                return
            self._frag_opcode, self._frag_parts = opcode, [payload]
        if not fin:
            return
        opcode, data = self._frag_opcode, b"".join(self._frag_parts)
        self._frag_opcode, self._frag_parts = None, []
        message: str | bytes = data
        if opcode == _OP_TEXT:
            try:
                message = data.decode("utf-8")
            except UnicodeDecodeError:
                self._fail(1007, "invalid UTF-8 in a text message")  # RFC 6455 §8.1
                return
        received = Received(self.id, message)
        self.messages_in += 1
        self.received.append(received)
        self.server._captured(received)
        self._dispatch(received)

    def _fail(self, code: int, reason: str) -> None:
        transport = self._transport
        if transport is not None and not transport.is_close_frame_sent:
            transport.send_close(_code(code), reason.encode())
            transport.disconnect()

    def _dispatch(self, message: Received) -> None:
        if self._worker is not None:
            self._backlog.append(message)
            return
        try:
            result = self.handler.on_message(self, message)
        except Exception:
            log.exception("mock server handler failed on connection %d", self.id)
            return
        if is_awaitable(result):
            self._worker = self._loop.create_task(self._drain(result))

    async def _drain(self, first: Any) -> None:
        pending = first
        try:
            while True:
                if pending is not None:
                    try:
                        await pending
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("mock server handler failed on connection %d", self.id)
                if not self._backlog:
                    return
                message = self._backlog.popleft()
                try:
                    result = self.handler.on_message(self, message)
                except Exception:
                    log.exception("mock server handler failed on connection %d", self.id)
                    result = None
                pending = result if is_awaitable(result) else None
        finally:
            self._worker = None

    def _run_hook(self, result: Any) -> None:
        if is_awaitable(result):
            self._worker = self._loop.create_task(self._drain(result))

    def _detach(self) -> None:
        if self._gone.is_set():
            return
        self._gone.set()
        if self._worker is not None:
            self._worker.cancel()
        try:
            self.handler.on_disconnect(self)
        except Exception:
            log.exception("mock server handler failed in on_disconnect (%d)", self.id)
        self.server._disconnected(self)


class _Listener(WSListener):
    """picows listener bridging frames of one connection to :class:`Connection`."""

    def __init__(self, connection: Connection) -> None:
        super().__init__()
        self.connection = connection

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.connection._attach(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        self.connection._on_frame(frame)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.connection._detach()
