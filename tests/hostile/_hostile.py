"""One scripted hostile connection and what the client made of it.

:func:`hostile_session` runs a bare-TCP server (``tests/rawws.py``) whose first connection
completes the upgrade, waits for the client's JSON-RPC request, writes the hostile bytes and
records every frame the client sends back; every later connection is a well-behaved JSON-RPC
echo server.  The client side keeps a request pending across the attack, then proves it is
still healthy with a request on a following connection (its own reconnect, or a fresh client).
Every wait is bounded by ``asyncio.wait_for``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import zenws
from rawws import accept_upgrade, frame, raw_server
from zenws import telemetry
from zenws.fast.frame import decode
from zenws.state import State

#: Upper bound for anything that must happen "at once" on a slow shared machine.
PROMPT = 2.0

#: The sessions' ``close_timeout``: after failing a connection the client keeps reading (and
#: parsing nothing) until the server closes TCP, so that its CLOSE frame is not lost to a
#: reset, and ends TCP itself after this long.
CLOSE_TIMEOUT = 1.0


@dataclass
class Outcome:
    """What one hostile session produced."""

    #: close codes in the CLOSE frames the client put on the wire (None: empty CLOSE).
    wire_codes: list[int | None] = field(default_factory=list)
    #: every frame the client sent on the hostile connection after its request.
    frames: list[Any] = field(default_factory=list)
    #: the exception the pending request ended with.
    error: BaseException | None = None
    #: seconds from the hostile write to the pending request's failure.
    failed_after: float = 0.0
    #: seconds from the hostile write to the client's end of TCP (modes "read" and "eof";
    #: None if it kept the socket open for 10 s).
    client_closed_after: float | None = None
    #: messages delivered to ``on_message`` on the hostile connection.
    delivered: list[bytes] = field(default_factory=list)
    #: ``client.metrics()`` once the hostile connection was gone.
    metrics: Any = None
    #: (name, measurements, metadata) of the ``protocol.*`` telemetry events.
    protocol_events: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    #: peak RSS growth (KiB) over the session (``ru_maxrss``).
    rss_growth_kib: int = 0
    #: the reply to the request sent on the following connection.
    healthy_reply: Any = None
    #: connections the server accepted.
    connections: int = 0


def close_code_of(fr: Any) -> int | None:
    return int.from_bytes(fr.payload[:2], "big") if len(fr.payload) >= 2 else None


async def serve_rpc(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A well-behaved server: answer each JSON-RPC request with its params; echo CLOSE."""
    buf = b""
    while data := await asyncio.wait_for(reader.read(65536), 30):
        buf += data
        while (res := decode(buf)) is not None:
            fr, used = res
            buf = buf[used:]
            if fr.opcode == 8:
                writer.write(frame(8, fr.payload[:2]))
                return
            if fr.opcode == 1:
                doc = json.loads(fr.payload)
                reply = {"jsonrpc": "2.0", "id": doc["id"], "result": doc.get("params")}
                writer.write(frame(1, json.dumps(reply)))


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """Read client frames until a text frame (the pending request); returns what followed."""
    buf = b""
    while True:
        data = await asyncio.wait_for(reader.read(65536), 10)
        if not data:
            raise ConnectionError("client went away before its request")
        buf += data
        while (res := decode(buf)) is not None:
            fr, used = res
            buf = buf[used:]
            if fr.opcode == 1:
                return buf


async def hostile_session(
    wire: bytes,
    *,
    then: str = "read",
    reconnect: bool = False,
    before: bytes = b"",
    **options: Any,
) -> Outcome:
    """Run one hostile connection; see the module docstring.

    Args:
        wire: bytes written after the client's request arrived.
        then: after writing: ``"read"`` the client's frames until its CLOSE or EOF,
            ``"eof"`` the same after a half-close (FIN, reading on), ``"close"`` TCP at once
            (FIN), ``"reset"`` it (RST).
        reconnect: the client's ``reconnect_on_error``; when False a fresh client makes the
            health check.
        before: bytes written in the same write as the 101 response.
        options: more client options.
    """
    out = Outcome()
    written = asyncio.Event()
    written_at = 0.0
    done = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal written_at
        out.connections += 1
        if out.connections > 1:
            await accept_upgrade(reader, writer)
            await serve_rpc(reader, writer)
            return
        try:
            await accept_upgrade(reader, writer, before)
            rest = await read_request(reader)
            writer.write(wire)
            written_at = time.monotonic()
            written.set()
            if then in ("read", "eof"):
                if then == "eof":
                    writer.write_eof()  # half-close: the client can still write
                out.frames = await read_frames_after(reader, rest)
                # The server neither answers a CLOSE nor closes: the client must end TCP.
                with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
                    while await asyncio.wait_for(reader.read(65536), 10):
                        pass
                    out.client_closed_after = time.monotonic() - written_at
            elif then == "reset":
                reset(writer)
        finally:
            done.set()

    events: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    handle = telemetry.attach("protocol", lambda e, m, md: events.append((e, m, md)))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        async with raw_server(handler) as url:
            client = await asyncio.wait_for(
                zenws.connect(
                    url,
                    reconnect_on_error=reconnect,
                    retry_delay=0.01,
                    **{"close_timeout": CLOSE_TIMEOUT, **options},
                ),
                10,
            )
            try:
                client.on_message = lambda m: out.delivered.append(m.raw)
                pending = asyncio.ensure_future(client.request("pending", [1], timeout=30))
                await asyncio.wait_for(written.wait(), 10)
                try:
                    await asyncio.wait_for(pending, 10)
                except Exception as exc:
                    out.error = exc
                out.failed_after = time.monotonic() - written_at
                await asyncio.wait_for(done.wait(), 10)
                if reconnect:
                    await wait_for(lambda: client.epoch >= 2 and client.state is State.OPEN)
                    out.metrics = client.metrics()
                    out.healthy_reply = await asyncio.wait_for(client.request("ok", [2]), 10)
                else:
                    await wait_for(lambda: client.state is State.CLOSED)
                    out.metrics = client.metrics()
                    async with zenws.connect(url, reconnect_on_error=False) as fresh:
                        out.healthy_reply = await asyncio.wait_for(fresh.request("ok", [2]), 10)
            finally:
                await asyncio.wait_for(client.close(), 10)
    finally:
        telemetry.detach(handle)
    out.rss_growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss
    out.wire_codes = [close_code_of(f) for f in out.frames if f.opcode == 8]
    out.protocol_events = events
    return out


async def read_frames_after(reader: asyncio.StreamReader, buf: bytes) -> list[Any]:
    """The client's frames from ``buf`` on, until its CLOSE, end of stream or 10 s."""
    frames: list[Any] = []
    with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
        while True:
            while (res := decode(buf)) is not None:
                fr, used = res
                buf = buf[used:]
                frames.append(fr)
                if fr.opcode == 8:
                    return frames
            data = await asyncio.wait_for(reader.read(65536), 10)
            if not data:
                return frames
            buf += data
    return frames


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER on, zero timeout)."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def wait_for(cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)
