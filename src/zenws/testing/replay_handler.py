"""The handler that replays a zenws recording (``MockServer.from_recording``).

Each recorded connection (one ``epoch`` of one session) becomes a *script* of the frames the
server sent, in recorded order. The n-th client connection to the replay server plays the n-th
script:

- a client JSON-RPC request is answered with the next unused recorded response to a request of
  the same ``method`` (the recorded ``id`` is replaced by the client's new id); once a method's
  recorded answers are used up the last one is repeated; a method never recorded gets a
  JSON-RPC error ``-32601`` and is listed in :attr:`ReplayHandler.unmatched`;
- every other server frame (notifications, server pings, binary data, a server close) is
  streamed in recorded order, each one only after the client has made every request whose
  response preceded it in the recording (so a subscription's data never outruns the
  subscription), at the recorded pace divided by ``speed`` (``None`` = as fast as possible);
- when a script that is not the last one is exhausted without a recorded close, the
  connection is dropped, so the client reconnects into the next script as it did when the
  recording was taken.

Example::

    server = from_recording("session.jsonl")      # or MockServer.from_recording(...)
    async with server:
        client = await zenws.connect(server.url)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from ..recording import RecordedFrame, RecordingError, read_recording
from .handler import Handler, Received

if TYPE_CHECKING:
    from .connection import Connection
    from .server import MockServer

__all__ = ["ReplayHandler", "Script", "load_scripts"]

_STATE_KEY = "zenws.replay"


@dataclass
class _Item:
    frame: RecordedFrame
    method: str | None = None  # set for a response to a recorded client request
    doc: Any = None  # the parsed response (responses only)


@dataclass
class Script:
    """The server side of one recorded connection.

    Attributes:
        session: index of the recording session.
        epoch: connection epoch in that session.
        items: inbound frames in recorded order (responses carry their request's method).
        client_closed: the client sent a close frame on this connection.
    """

    session: int
    epoch: int
    items: list[_Item] = field(default_factory=list)
    client_closed: bool = False

    @property
    def ends_with_close(self) -> bool:
        """True when the script itself closes the connection."""
        return any(i.frame.type == "close" for i in self.items)


def _json(frame: RecordedFrame) -> Any:
    if frame.type != "text" or not isinstance(frame.data, str):
        return None
    try:
        return orjson.loads(frame.data)
    except orjson.JSONDecodeError:
        return None


def load_scripts(path: str | os.PathLike[str]) -> list[Script]:
    """Split a recording into per-connection scripts of inbound frames.

    Args:
        path: the JSONL recording.

    Returns:
        One :class:`Script` per recorded connection, in order.

    Raises:
        RecordingError: the recording has corrupt lines.
    """
    frames, errors = read_recording(path)
    if errors:
        raise RecordingError(os.fspath(path), errors)
    scripts: dict[tuple[int, int], Script] = {}
    requests: dict[tuple[int, int], dict[Any, str]] = defaultdict(dict)
    for f in frames:
        key = (f.session, f.epoch)
        script = scripts.get(key)
        if script is None:
            script = scripts[key] = Script(f.session, f.epoch)
        if f.dir == "out":
            if f.type == "close":
                script.client_closed = True
            doc = _json(f) if f.type == "text" and '"method"' in str(f.data) else None
            if isinstance(doc, dict) and isinstance(doc.get("method"), str):
                rid = doc.get("id")
                if isinstance(rid, (int, str)):
                    requests[key][rid] = doc["method"]
            continue
        if f.type == "pong" or (f.type == "close" and script.client_closed):
            continue  # answers to the client's own ping/close: the live server produces them
        item = _Item(f)
        doc = _json(f) if f.type == "text" and '"id"' in str(f.data) else None
        if isinstance(doc, dict) and ("result" in doc or "error" in doc):
            method = requests[key].pop(doc.get("id"), None) if _hashable(doc.get("id")) else None
            if method is not None:
                item.method, item.doc = method, doc
        script.items.append(item)
    return list(scripts.values())


def _hashable(v: Any) -> bool:
    return isinstance(v, (int, str))


@dataclass
class _Conn:
    script: Script | None
    used: list[bool]
    sent_at: list[float]
    changed: asyncio.Event
    task: asyncio.Task[None] | None = None
    ptr: int = 0  # every item before this one is done (sent or answered)

    def advance(self) -> int:
        items = self.script.items if self.script else []
        while self.ptr < len(items) and self.used[self.ptr]:
            self.ptr += 1
        return self.ptr


class ReplayHandler(Handler):
    """Mock-server behaviour that plays a recording back (see the module docstring).

    Args:
        path: the JSONL recording.
        speed: None = push frames as fast as possible; 1.0 = recorded pace; 2.0 = twice as fast.

    Attributes:
        scripts: the per-connection scripts.
        unmatched: ``(method, params)`` of client requests with no recorded response.
        pushed: frames pushed (everything but responses), over all connections.
        answered: requests answered from the recording.
    """

    def __init__(self, path: str | os.PathLike[str], *, speed: float | None = None) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be > 0 or None")
        self.path = os.fspath(path)
        self.speed = speed
        self.scripts = load_scripts(path)
        self.unmatched: list[tuple[str, Any]] = []
        self.pushed = 0
        self.answered = 0
        self._next = 0
        self._last: dict[str, Any] = {}  # method -> last recorded response (for repeats)
        for s in self.scripts:
            for it in s.items:
                if it.method is not None:
                    self._last[it.method] = it.doc
        self._tasks: set[asyncio.Task[None]] = set()

    def on_connect(self, connection: Connection) -> None:
        """Bind the next script to this connection and start streaming its pushes."""
        script = self.scripts[self._next] if self._next < len(self.scripts) else None
        self._next += 1
        n = len(script.items) if script else 0
        st = _Conn(script, [False] * n, [0.0] * n, asyncio.Event())
        connection.state[_STATE_KEY] = st
        if script is not None:
            st.task = asyncio.get_running_loop().create_task(self._push(connection, st))
            self._tasks.add(st.task)
            st.task.add_done_callback(self._tasks.discard)

    def on_message(self, connection: Connection, message: Received) -> None:
        """Answer a JSON-RPC request from the recording; ignore anything else."""
        st: _Conn | None = connection.state.get(_STATE_KEY)
        doc = message.json(None) if message.is_text else None
        if st is None or not isinstance(doc, dict):
            return
        method, rid = doc.get("method"), doc.get("id")
        if not isinstance(method, str) or rid is None:
            return
        template = self._take(st, method, connection)
        if template is None:
            self.unmatched.append((method, doc.get("params")))
            connection.send_json(
                {
                    "jsonrpc": "2.0",
                    "id": rid,
                    "error": {"code": -32601, "message": f"{method} is not in the recording"},
                }
            )
            return
        self.answered += 1
        connection.send(orjson.dumps({**template, "id": rid}).decode())

    def on_disconnect(self, connection: Connection) -> None:
        """Stop streaming to a connection that is gone."""
        st: _Conn | None = connection.state.get(_STATE_KEY)
        if st is not None and st.task is not None:
            st.task.cancel()

    async def on_stop(self, server: MockServer) -> None:
        """Cancel every streaming task; a restarted server starts from the first script."""
        for t in list(self._tasks):
            t.cancel()
        self._next = 0

    # -- internals ----------------------------------------------------------------------------

    def _take(self, st: _Conn, method: str, connection: Connection) -> Any:
        if st.script is not None:
            for i, it in enumerate(st.script.items):
                if it.method == method and not st.used[i]:
                    st.used[i] = True
                    st.sent_at[i] = asyncio.get_running_loop().time()
                    st.changed.set()
                    return it.doc
        return self._last.get(method)

    async def _push(self, connection: Connection, st: _Conn) -> None:
        assert st.script is not None
        loop = asyncio.get_running_loop()
        items = st.script.items
        start = loop.time()
        for i, it in enumerate(items):
            if it.method is not None:
                continue
            while st.advance() < i:  # a response recorded before this push is still owed
                st.changed.clear()
                await st.changed.wait()
            if self.speed is not None:
                prev_mono = items[i - 1].frame.mono_ns if i else items[0].frame.mono_ns
                prev_at = st.sent_at[i - 1] if i else start
                delay = prev_at + (it.frame.mono_ns - prev_mono) / 1e9 / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            # Counted before it is sent: a recorded close waits in _send for the closing
            # handshake, which ends with the connection, and on_disconnect cancels this task.
            st.used[i] = True
            st.sent_at[i] = loop.time()
            self.pushed += 1
            await self._send(connection, it.frame)
        script = st.script
        if not script.ends_with_close and script is not self.scripts[-1] and connection.open:
            # the recorded connection ended without a close frame: drop it so that the
            # client reconnects into the next script, as it did when recorded
            while st.advance() < len(items):
                st.changed.clear()
                await st.changed.wait()
            connection.abort()

    async def _send(self, connection: Connection, f: RecordedFrame) -> None:
        data = f.data
        raw = data.encode() if isinstance(data, str) else (data or b"")
        if f.type == "text":
            connection.send(data if isinstance(data, str) else raw.decode("utf-8", "replace"))
        elif f.type == "binary":
            connection.send(raw)
        elif f.type == "ping":
            connection.send_ping(raw)
        elif f.type == "close":
            code = f.code
            if code is None or code in (1004, 1005, 1006, 1015) or not 1000 <= code <= 4999:
                connection.abort()  # not sendable on the wire: the recorded peer just vanished
            else:
                with contextlib.suppress(Exception):
                    await connection.close(code, f.reason)
