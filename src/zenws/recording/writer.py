"""The background half of :class:`zenws.recorder.Recorder`: formatting, redaction, file I/O.

The event-loop thread only copies each frame into a C arena
(:class:`zenws.fast.jsonl.FrameQueue`, no lock, no Python object per frame). Everything that
costs time happens on a daemon thread that lives inside :meth:`FrameQueue.serve`: it sleeps on
a C lock until ``flush_entries`` frames wait (or ``flush_interval`` passes), encodes the frames
straight from the arena and ``write(2)``s them, all **without the GIL**. It comes back to Python
only for a frame that needs it (a text frame whose keys may name a secret, invalid UTF-8, a
frame held by reference), which is encoded here with orjson, before a line that would cross
``rotate_bytes`` (the file is rotated here), and to report dropped frames.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import orjson

from .._redact import redact_mapping
from .._redact import redact_text as _redact_free_text
from ..fast.jsonl import (
    DRAIN_DONE,
    DRAIN_DROPS,
    DRAIN_PYTHON,
    DRAIN_ROTATE,
    FrameQueue,
    encode_frame,
    has_secret_key,
    write_fd,
)
from ..fast.jsonrpc import dumps

__all__ = ["FORMAT_VERSION", "RecordingDropWarning", "Writer", "format_ts", "redact_text"]

logger = logging.getLogger("zenws.recorder")

#: Version of the JSONL layout, stored in every header line.
FORMAT_VERSION = 1

# Upper bound of a footer line's length, reserved in every rotated part.
_FOOTER_ROOM = 160

#: One queued frame: (mono_ns, direction, kind, payload, epoch, code, reason).
Entry = tuple[int, str, str, Any, int, "int | None", str]

_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
_can_pin = hasattr(os, "sched_setaffinity")


class RecordingDropWarning(RuntimeWarning):
    """Frames were dropped because the recorder's buffer was full (the loop never waits)."""


def redact_text(raw: bytes) -> bytes:
    """Hide secrets in a text frame: JSON as ``redact_mapping``, other text as ``redact_text``.

    Args:
        raw: the UTF-8 text frame.

    Returns:
        ``raw`` itself when no key is a credential; otherwise the frame re-encoded with those
        values replaced by ``"***"``.
    """
    # the C scan is a superset of both rule paths below (keys, URL values, free-text forms)
    if not has_secret_key(raw):
        return raw
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # not JSON: the free-text rules of the same rule set, bytes kept as they were
        text = raw.decode("utf-8", "surrogateescape")
        return _redact_free_text(text).encode("utf-8", "surrogateescape")
    clean = redact_mapping(doc)
    # keep the frame byte for byte when the suspicious-looking key was harmless ("signal");
    # re-encoded by zenws' C encoder: orjson.dumps (3.12, 3.13) overflows its buffer on some
    # ~4 KiB nested documents (tests/data/orjson_dumps_overflow.json), and this one is the peer's
    return raw if clean == doc else dumps(clean)


_ts_cache: list[Any] = [-1, ""]


def format_ts(wall_ns: int) -> str:
    """Format a UTC wall-clock time as ISO-8601 with microseconds and a ``Z`` suffix.

    Args:
        wall_ns: nanoseconds since the Unix epoch.

    Returns:
        e.g. ``"2026-11-26T00:50:00.123456Z"``.
    """
    sec, ns = divmod(wall_ns, 1_000_000_000)
    if _ts_cache[0] != sec:  # the date/time prefix changes once a second
        _ts_cache[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        _ts_cache[0] = sec
    return f"{_ts_cache[1]}.{ns // 1000:06d}Z"


def _encode_entry(entry: Entry, t0: int, wall0: int, redact: bool) -> bytes:
    mono, direction, kind, payload, epoch, code, reason = entry
    rel = mono - t0
    rec: dict[str, Any] = {
        "ts": format_ts(wall0 + rel),
        "mono_ns": rel,
        "epoch": epoch,
        "dir": direction,
        "type": kind,
    }
    if kind == "close":
        rec["code"] = code
        rec["reason"] = _redact_free_text(reason) if redact else reason
    elif kind == "text":
        raw = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
        if redact:
            raw = redact_text(raw)
        try:
            rec["data"] = raw.decode("utf-8")
        except UnicodeDecodeError:  # record exactly what was on the wire, flagged
            rec["data"] = base64.b64encode(raw).decode("ascii")
            rec["invalid_utf8"] = True
    else:  # binary, ping, pong: bytes on the wire
        if isinstance(payload, str):
            payload = payload.encode("utf-8", "surrogatepass")
        rec["data"] = base64.b64encode(payload).decode("ascii")
    return orjson.dumps(rec) + b"\n"


class Writer:
    """Owns the file and the writer thread; shared with the Recorder by reference only.

    The Recorder holds the queue that the loop thread writes to; this object holds everything
    else, so the thread keeps no reference to the Recorder and a forgotten recorder can still
    be garbage collected (its ``weakref.finalize`` then closes this writer).
    """

    def __init__(
        self,
        path: Path,
        header: dict[str, Any],
        queue: FrameQueue,
        *,
        t0: int,
        wall0: int,
        flush_interval: float,
        rotate_bytes: int | None,
        rotate_keep: int | None,
        redact: bool,
        fsync: bool,
        writer_cpu: int | None = None,
    ) -> None:
        self.path = path
        self.header = header
        self.queue = queue
        self.t0 = t0
        self.wall0 = wall0
        self.flush_interval = flush_interval
        self.rotate_bytes = rotate_bytes
        self.rotate_keep = rotate_keep
        self.redact = redact
        self.fsync = fsync
        self.writer_cpu = writer_cpu
        self.closing = False
        self.closed = False
        self.reported_drops = 0
        self.part = 0
        self.error: BaseException | None = None
        self._close_lock = threading.Lock()
        self._drain_lock = threading.Lock()
        # A raw descriptor: the C drain write(2)s to it without the GIL, so no Python
        # buffering may sit in between (every write here goes through write_fd too).
        self.fd = os.open(path, _OPEN_FLAGS, 0o666)
        try:
            self._size = os.fstat(self.fd).st_size
            # no rotation check: the header always opens its session
            self._write(orjson.dumps(self.header) + b"\n")
        except BaseException:
            os.close(self.fd)
            raise
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"zenws-recorder:{path.name}")
        self.thread.daemon = True  # never holds up interpreter exit; atexit closes us first
        self.thread.start()
        if writer_cpu is not None:
            self._ready.wait(5.0)  # the pinning is in place when the constructor returns

    # -- thread side -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            if self.writer_cpu is not None and _can_pin:
                try:
                    os.sched_setaffinity(0, {self.writer_cpu})  # this thread only
                except OSError as exc:
                    logger.warning("zenws recorder: cannot pin to CPU %s: %r", self.writer_cpu, exc)
            self._ready.set()
            q = self.queue
            exempt = False
            while True:
                # Sleeps, encodes and writes without the GIL; back here only for what needs
                # Python, so the event loop's thread never waits for this one.
                status, self._size = q.serve(
                    self.fd, self.t0, self.wall0, self.redact, self._size, self._limit(),
                    exempt, self.flush_interval,
                )  # fmt: skip
                exempt = False
                if status == DRAIN_PYTHON:
                    self._write_slow()
                elif status == DRAIN_ROTATE:
                    self._rotate()
                    exempt = True  # the line goes into the fresh part whatever its size
                elif status == DRAIN_DROPS:
                    self._report_drops()
                else:  # DRAIN_STOP: everything queued is written
                    break
        except BaseException as exc:  # disk full, permission lost...: report, stop recording
            self.error = exc
            logger.error("zenws recorder %s stopped: %r", self.path, exc)
        finally:
            self._ready.set()
        if self.closing:  # close() was called on this very thread (a finalizer): finish here
            try:
                self._finish()
            except BaseException as exc:
                self.error = self.error or exc
                logger.error("zenws recorder %s: closing failed: %r", self.path, exc)

    @property
    def written(self) -> int:
        """Frames written to the file so far."""
        return int(self.queue.written)

    def _limit(self) -> int:
        return -1 if self.rotate_bytes is None else self.rotate_bytes - _FOOTER_ROOM

    def _write_slow(self) -> None:
        batch = self.queue.pop_batch(1)
        if batch:
            self._write_line(self._encode_slow(batch[0]))
            self.queue.add_written(1)

    def _drain(self) -> None:
        """Write everything queued from the calling thread (once the writer thread is gone)."""
        with self._drain_lock:
            q = self.queue
            limit = self._limit()
            exempt = False
            while len(q):
                status, _, self._size = q.drain(
                    self.fd, self.t0, self.wall0, self.redact, self._size, limit, exempt, len(q)
                )
                exempt = False
                if status == DRAIN_PYTHON:
                    self._write_slow()
                elif status == DRAIN_ROTATE:
                    self._rotate()
                    exempt = True
                elif status != DRAIN_DONE:
                    break
            self._report_drops()

    def _encode_slow(self, entry: Entry) -> bytes:
        mono, direction, kind, payload, epoch, code, reason = entry
        rel = mono - self.t0
        line = None
        if type(epoch) is int and type(code) in (int, type(None)):
            try:
                line = encode_frame(rel, self.wall0 + rel, epoch, direction, kind, payload,
                                    code, reason, self.redact)  # fmt: skip
            except (TypeError, ValueError, OverflowError):
                line = None
        if line is None:  # needs Python: redaction, invalid UTF-8, odd payload type
            line = _encode_entry(entry, self.t0, self.wall0, self.redact)
        return line

    def _report_drops(self) -> None:
        total = self.queue.dropped
        if total == self.reported_drops:
            return
        new = total - self.reported_drops
        self.reported_drops = total
        self.queue.reported_drops(total)
        line = {"type": "dropped", "ts": format_ts(time.time_ns()), "count": new, "total": total}
        self._write_line(orjson.dumps(line) + b"\n")
        msg = f"zenws recorder {self.path}: buffer full, {new} frame(s) dropped ({total} total)"
        logger.warning(msg)
        # warnings turned into errors (-W error): the drop is in the file and the log
        # already; recording must not stop over it
        with contextlib.suppress(RecordingDropWarning):
            warnings.warn(msg, RecordingDropWarning, stacklevel=1)

    def _write(self, data: bytes) -> None:
        write_fd(self.fd, data)
        self._size += len(data)

    def _write_line(self, line: bytes) -> None:
        limit = self.rotate_bytes
        # keep room for the footer so a part never exceeds the limit (unless one line does)
        if limit is not None and self._size + len(line) + _FOOTER_ROOM > limit:
            self._rotate()
        self._write(line)

    def _footer(self, **extra: Any) -> bytes:
        rec = {
            "type": "footer",
            "ts": format_ts(time.time_ns()),
            "frames": self.written,
            "dropped": self.queue.dropped,
            **extra,
        }
        return orjson.dumps(rec) + b"\n"

    def _rotate(self) -> None:
        self._write(self._footer(rotated=True))
        os.close(self.fd)
        self.fd = -1
        keep = self.rotate_keep
        n = 1
        while Path(f"{self.path}.{n}").exists():
            n += 1
        for i in range(n, 0, -1):  # path.(i-1) -> path.i, oldest last
            src = self.path if i == 1 else Path(f"{self.path}.{i - 1}")
            if keep is not None and i > keep:
                src.unlink(missing_ok=True)
            else:
                os.replace(src, f"{self.path}.{i}")
        self.part += 1
        self.fd = os.open(self.path, _OPEN_FLAGS, 0o666)
        self._size = 0
        self._write(orjson.dumps({**self.header, "part": self.part, "continues": True}) + b"\n")

    def _finish(self) -> None:
        """Write what is still queued and the footer, close the file (once)."""
        with self._close_lock:
            if self.closed:
                return
            self.queue.close()
            try:
                if self.error is None:
                    while len(self.queue):  # anything queued after the thread's last pass
                        before = len(self.queue)
                        self._drain()
                        if len(self.queue) >= before:
                            break
                    self._report_drops()
                    self._write(self._footer())
                    if self.fsync:
                        os.fsync(self.fd)
            finally:
                if self.fd >= 0:
                    os.close(self.fd)
                    self.fd = -1
                self.closed = True

    # -- any thread ---------------------------------------------------------------------------

    def flush(self) -> None:
        """Ask the thread to write everything queued now (does not wait for it)."""
        self.queue.kick()

    def close(self) -> None:
        """Drain the queue, write the footer, close the file; idempotent and thread-safe."""
        self.closing = True
        self.queue.stop()
        if threading.current_thread() is self.thread:
            return  # a finalizer running on the writer thread: _run finishes after this pass
        if self.thread.is_alive():
            self.thread.join()
        self._finish()


def pin_supported() -> bool:
    """True where :class:`Writer` can pin its thread to a CPU (Linux)."""
    return _can_pin and sys.platform.startswith("linux")
