"""Session recording to JSONL, replay and summary statistics.

File layout (one JSON object per line, UTF-8):

- a header opening every session (and every rotated part)::

    {"type": "header", "format": 1, "zenws": "0.1.0", "url": "wss://h/ws?key=***",
     "start": "2026-11-26T00:50:00.123456Z", "start_wall_ns": ..., "metadata": {...}}

- one line per frame, both directions, heartbeats and closes included::

    {"ts": "2026-11-26T00:50:00.123987Z", "mono_ns": 531000, "epoch": 1, "dir": "out",
     "type": "text", "data": "{\\"jsonrpc\\":\\"2.0\\",...}"}

  ``mono_ns`` is the monotonic offset from the session start (faithful timing for replay);
  ``data`` is the text as is for ``text`` and base64 for ``binary``/``ping``/``pong``; a ``close``
  frame has ``code`` and ``reason`` instead;
- ``{"type": "dropped", "count": n, "total": t}`` whenever the buffer overflowed, and a
  ``{"type": "footer", "frames": n, "dropped": t}`` line written by :meth:`Recorder.close`
  (also on interpreter exit), so a file without a footer is known to be incomplete.

Secrets are redacted before anything is written: the URL's query secrets and userinfo, secret
keys in the header metadata, and the values of credential-named keys inside JSON text frames
(``client_secret``, ``access_token``, ``refresh_token``, ``signature``, ``password``...).
"""

from __future__ import annotations

import os
import time
import warnings
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any

from .._redact import redact_headers, redact_mapping, redact_url
from ..fast.jsonl import FrameQueue
from .writer import (
    FORMAT_VERSION,
    Writer,
    format_ts,
    pin_supported,
)

__all__ = ["Recorder", "record"]


def _redacted_metadata(meta: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = dict(redact_mapping(meta or {}))
    headers = (meta or {}).get("headers")
    if headers is not None and not isinstance(headers, dict):
        # header pairs: the secret is the value of the *pair*, which redact_mapping cannot see
        out["headers"] = [list(p) for p in redact_headers((str(k), str(v)) for k, v in headers)]
    return out


_pin_warned = False


def _check_cpu(cpu: int | None) -> None:
    global _pin_warned
    if cpu is None:
        return
    count = os.cpu_count() or 1
    if type(cpu) is not int or not 0 <= cpu < count:
        raise ValueError(f"writer_cpu must be a CPU index in 0..{count - 1}, got {cpu!r}")
    if not pin_supported() and not _pin_warned:
        _pin_warned = True
        warnings.warn(
            "zenws recorder: writer_cpu is ignored on this platform (Linux only)",
            RuntimeWarning,
            stacklevel=3,
        )


class Recorder:
    """Record WebSocket frames to a JSONL file without ever blocking the caller.

    :meth:`write` copies the frame into a preallocated C arena (O(1), no lock, no I/O, no
    Python object kept per frame); a daemon thread encodes and writes it, without the GIL in
    the common case. When the arena is full (``buffer_size`` frames or ``buffer_bytes`` bytes)
    the frame is counted in :attr:`dropped` (and reported by a warning and a ``dropped`` line
    in the file) rather than waiting.
    The file is opened in append mode, so one recorder spans reconnects (the ``epoch`` field
    tells connections apart) and a new recorder on an existing file adds a new session.

    Example::

        with zenws.record("session.jsonl", url=url) as rec:
            rec.write("out", "text", '{"jsonrpc":"2.0","id":1,"method":"public/test"}', epoch=1)

    Args:
        path: the file to append to (created if missing; parent directories must exist).
        url: the connection URL, stored in the header with its secrets removed.
        metadata: extra JSON-serialisable session metadata for the header (redacted).
        flush_interval: seconds between background writes.
        flush_entries: wake the writer early once this many frames are queued.
        buffer_size: frames held in memory before new ones are dropped.
        buffer_bytes: size of the arena the frames are copied into (payload + 32 bytes per
            frame; rounded up to a power of two, at least 64 KiB; allocated and touched up
            front). Payloads above 64 KiB (or a quarter of the arena) are held by reference
            instead of copied.
        rotate_bytes: when set, the file is rotated once it would exceed this many bytes:
            ``path`` -> ``path.1`` -> ``path.2``... (``path`` always holds the newest part).
        rotate_keep: keep at most this many rotated parts (None: keep all).
        redact: hide credential values in JSON text frames (default True).
        fsync: also ``fsync`` the file in :meth:`close`, so that even a power loss right
            after keeps it (a killed process never loses a closed recording: the data is
            already in the OS). Off by default: it can take milliseconds on a real disk.
        writer_cpu: pin the writer thread to this CPU (Linux; elsewhere ignored with a
            warning). On a trading host, keep it off the core that runs the strategy's event
            loop, e.g. ``writer_cpu=3`` with the loop pinned to core 2.

    Raises:
        ValueError: for a non-positive size or interval, or a CPU index out of range.
        OSError: if the file cannot be opened.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        url: str = "",
        metadata: dict[str, Any] | None = None,
        flush_interval: float = 0.2,
        flush_entries: int = 256,
        buffer_size: int = 65536,
        buffer_bytes: int = 8 * 1024 * 1024,
        rotate_bytes: int | None = None,
        rotate_keep: int | None = None,
        redact: bool = True,
        fsync: bool = False,
        writer_cpu: int | None = None,
    ) -> None:
        if flush_interval <= 0 or flush_entries < 1 or buffer_size < 1 or buffer_bytes < 1:
            raise ValueError(
                "flush_interval, flush_entries, buffer_size and buffer_bytes must be positive"
            )
        _check_cpu(writer_cpu)
        if rotate_bytes is not None and rotate_bytes < 1024:
            raise ValueError("rotate_bytes must be at least 1024")
        if rotate_keep is not None and rotate_keep < 1:
            raise ValueError("rotate_keep must be >= 1 or None")
        from .._version import __version__

        self.path = Path(path)
        self._queue = FrameQueue(buffer_size, flush_entries, None, buffer_bytes)
        # The C arena's bound method *is* write(): no Python frame on the hot path.
        self.write = self._queue.push  # type: ignore[method-assign]
        self._closed = False
        t0 = time.monotonic_ns()
        wall0 = time.time_ns()
        header = {
            "type": "header",
            "format": FORMAT_VERSION,
            "zenws": __version__,
            "url": redact_url(url),
            "start": format_ts(wall0),
            "start_wall_ns": wall0,
            "metadata": _redacted_metadata(metadata),
        }
        self._writer = Writer(
            self.path,
            header,
            self._queue,
            t0=t0,
            wall0=wall0,
            flush_interval=flush_interval,
            rotate_bytes=rotate_bytes,
            rotate_keep=rotate_keep,
            redact=redact,
            fsync=fsync,
            writer_cpu=writer_cpu if pin_supported() else None,
        )
        # Flushes a recorder that is garbage collected or still open at interpreter exit
        # (weakref.finalize runs its pending callbacks from an atexit hook).
        self._finalizer = weakref.finalize(self, self._writer.close)

    def write(
        self,
        direction: str,
        kind: str,
        payload: str | bytes | bytearray | memoryview | None,
        epoch: int,
        mono_ns: int | None = None,
        code: int | None = None,
        reason: str = "",
    ) -> None:
        """Queue one frame for writing; never blocks, never does I/O.

        Args:
            direction: ``"in"`` (received) or ``"out"`` (sent).
            kind: ``"text"``, ``"binary"``, ``"ping"``, ``"pong"`` or ``"close"``.
            payload: the frame payload (str or UTF-8 bytes for text); a mutable buffer is
                copied, since the caller may reuse it (every payload up to 64 KiB is copied).
            epoch: the connection epoch the frame belongs to.
            mono_ns: when the frame was sent/received, from ``time.monotonic_ns()`` or the
                zenws C clock (the same clock); default now.
            code: close code (``close`` frames).
            reason: close reason (``close`` frames).

        Raises:
            ValueError: for an unknown direction or kind.
        """
        self._queue.push(direction, kind, payload, epoch, mono_ns, code, reason)

    @property
    def dropped(self) -> int:
        """Frames discarded because the buffer was full."""
        return int(self._queue.dropped)

    @property
    def queue(self) -> FrameQueue:
        """The C arena behind :meth:`write`; Cython callers may ``cimport`` ``FrameQueue``
        from ``zenws.fast.jsonl`` and call ``push_c(out, opcode, payload, epoch, mono_ns,
        code, reason)`` to skip the Python call."""
        return self._queue

    @property
    def written(self) -> int:
        """Frames written to the file so far."""
        return self._writer.written

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._closed

    @property
    def error(self) -> BaseException | None:
        """The I/O error that stopped the writer thread, if any."""
        return self._writer.error

    def flush(self) -> None:
        """Wake the writer thread now (returns at once; :meth:`close` is the durable flush)."""
        self._writer.flush()

    def close(self) -> None:
        """Write everything queued, the footer line, and close the file (idempotent).

        Blocks until the file is written (the writer thread's current batch plus whatever
        is still queued); on an event loop prefer ``await recorder.aclose()``.
        """
        self._closed = True
        self._queue.close()
        self._finalizer()

    async def aclose(self) -> None:
        """:meth:`close` in a worker thread, for callers on an event loop."""
        import asyncio

        self._closed = True
        self._queue.close()
        await asyncio.get_running_loop().run_in_executor(None, self._finalizer)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<Recorder {str(self.path)!r} {state} written={self.written} dropped={self.dropped}>"
        )


def record(path: str | os.PathLike[str], *, url: str = "", **options: Any) -> Recorder:
    """Open a :class:`Recorder` (usable as a context manager).

    Args:
        path: the JSONL file to append to.
        url: the connection URL stored (redacted) in the header.
        **options: any other :class:`Recorder` keyword.

    Returns:
        The open recorder.
    """
    return Recorder(path, url=url, **options)
