"""``zenws connect URL``: a small interactive client in the spirit of wscat.

Every received message is printed as ``HH:MM:SS.ffffff < payload``; every stdin line is sent
as a text frame (``/ping`` sends a ping, ``/close`` or ``/quit`` closes).  When stdin is not a
terminal the lines are sent, replies are awaited for ``--wait`` seconds and the command exits.
What is printed goes through the redaction of recordings (:mod:`zenws._redact`): the
``client_secret`` of a ``public/auth`` request and the tokens of its answer show as ``***``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import sys
import threading
from typing import Any, TextIO

from .._redact import redact_json_text
from .base import EXIT_ERROR, EXIT_OK

__all__ = ["connect_command"]


def _stamp() -> str:
    return datetime.datetime.now().strftime("%H:%M:%S.%f")


def _show(msg: Any) -> str:
    try:
        return redact_json_text(str(msg.text))
    except TypeError:  # binary
        raw = bytes(msg.raw)
        return f"[binary {len(raw)} bytes] {raw[:32].hex()}"


def _stdin_reader(loop: asyncio.AbstractEventLoop, q: asyncio.Queue[str | None]) -> None:
    """Blocking stdin reader on a daemon thread (works for terminals and pipes alike)."""
    try:
        for line in sys.stdin:
            loop.call_soon_threadsafe(q.put_nowait, line.rstrip("\r\n"))
    except (OSError, ValueError, RuntimeError):
        pass
    finally:
        with contextlib.suppress(RuntimeError):  # the loop may already be closed
            loop.call_soon_threadsafe(q.put_nowait, None)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "headers": list(args.header),
        "connect_timeout": args.connect_timeout,
        "reconnect_on_error": False,
        "queue_size": 65536,
    }
    if args.heartbeat:
        opts["heartbeat"] = args.heartbeat
    if args.heartbeat_interval:
        opts["heartbeat_interval"] = args.heartbeat_interval
    if args.record:
        opts["record_to"] = args.record
    if args.insecure and args.url.lower().startswith("wss:"):
        opts["ssl"] = False
    return opts


async def connect_command(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``zenws connect``; returns the exit code."""
    from .._redact import redact_url
    from ..client import connect
    from ..errors import ConnectionLost, explain
    from ..state import State

    client = await connect(args.url, **_options(args))
    print(f"{_stamp()} connected to {redact_url(args.url)}", file=out, flush=True)
    interactive = sys.stdin.isatty()
    received = 0
    done = asyncio.Event()

    async def read_messages() -> None:
        nonlocal received
        async for msg in client:
            print(f"{_stamp()} < {_show(msg)}", file=out, flush=True)
            received += 1
            if args.count and received >= args.count:
                break
        done.set()

    reader = asyncio.ensure_future(read_messages())
    try:
        for text in args.send:
            client.send(text)
            print(f"{_stamp()} > {redact_json_text(text)}", file=out, flush=True)
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        if interactive or not args.send:
            threading.Thread(
                target=_stdin_reader, args=(asyncio.get_running_loop(), lines), daemon=True
            ).start()
            await _pump(client, lines, done, out)
        if not interactive and not done.is_set():
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(done.wait(), args.wait if not args.count else None)
    except ConnectionLost as exc:
        why = explain(exc)
        print(f"zenws: {why.message}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        lost = client.state is State.CLOSED
        m = client.metrics()
        code, reason, epoch = m.close_code, m.close_reason, client.epoch
        await client.close()
        reader.cancel()
    if lost and code != 1000:
        lost_exc = ConnectionLost(code=code, reason=reason, epoch=epoch)
        print(f"zenws: {explain(lost_exc).message}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


async def _pump(
    client: Any, lines: asyncio.Queue[str | None], done: asyncio.Event, out: TextIO
) -> None:
    """Send stdin lines until EOF, /quit, or the connection ends."""
    done_wait = asyncio.ensure_future(done.wait())
    try:
        while True:
            get = asyncio.ensure_future(lines.get())
            finished, _ = await asyncio.wait({get, done_wait}, return_when=asyncio.FIRST_COMPLETED)
            if get not in finished:
                get.cancel()
                return
            line = get.result()
            if line is None or line in ("/quit", "/close"):
                return
            if not line:
                continue
            if line == "/ping":
                client.send_ping(b"zenws")
                print(f"{_stamp()} > [ping]", file=out, flush=True)
                continue
            client.send(line)
            print(f"{_stamp()} > {redact_json_text(line)}", file=out, flush=True)
    finally:
        done_wait.cancel()
