"""The background half of :class:`zenws.recorder.Recorder`: formatting, redaction, file I/O.

The event-loop thread only appends a tuple to a C ring (:class:`zenws.fast.jsonl.FrameQueue`,
no lock: the GIL serialises it); everything that costs time -- JSONL encoding (C, with an
orjson path for frames that need redaction), base64, writes, rotation -- happens here, on a
daemon thread that wakes every ``flush_interval`` seconds or when ``flush_entries`` frames are
waiting.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
import time
import warnings
from pathlib import Path
from typing import IO, Any

import orjson

from ._redact import REDACTED, redact_mapping
from .fast.jsonl import FrameQueue, encode_batch, encode_frame

__all__ = ["FORMAT_VERSION", "RecordingDropWarning", "Writer", "format_ts", "redact_text"]

logger = logging.getLogger("zenws.recorder")

#: Version of the JSONL layout, stored in every header line.
FORMAT_VERSION = 1

# Upper bound of a footer line's length, reserved in every rotated part.
_FOOTER_ROOM = 160

#: One queued frame: (mono_ns, direction, kind, payload, epoch, code, reason).
Entry = tuple[int, str, str, Any, int, "int | None", str]


class RecordingDropWarning(RuntimeWarning):
    """Frames were dropped because the recorder's buffer was full (the loop never waits)."""


# A JSON object key that looks like a credential (same word list as zenws._redact.is_sensitive,
# plus the exact short names). Only frames matching this are parsed, so the common market-data
# frame costs one failed regex scan.
_SECRET_KEY = re.compile(
    rb'"[^"\\]*(?:token|secret|signature|password|passwd|key|passphrase|credential|auth|sig'
    rb'|cookie)[^"\\]*"\s*:',
    re.IGNORECASE,
)
# Fallback for text that is not valid JSON: hide the string value after a secret-looking key.
_SECRET_PAIR = re.compile(
    rb'("[^"\\]*(?:token|secret|signature|password|passwd|key|passphrase|credential|auth|sig'
    rb'|cookie)[^"\\]*"\s*:\s*)"(?:[^"\\]|\\.)*"',
    re.IGNORECASE,
)


def redact_text(raw: bytes) -> bytes:
    """Hide the values of secret-named keys in a JSON text frame.

    Args:
        raw: the UTF-8 text frame.

    Returns:
        ``raw`` itself when no key is a credential; otherwise the frame re-encoded with those
        values replaced by ``"***"``.
    """
    if _SECRET_KEY.search(raw) is None:
        return raw
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _SECRET_PAIR.sub(rb'\1"' + REDACTED.encode() + rb'"', raw)
    clean = redact_mapping(doc)
    # keep the frame byte for byte when the suspicious-looking key was harmless ("signal")
    return raw if clean == doc else orjson.dumps(clean)


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
        rec["reason"] = reason
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
            payload = payload.encode("utf-8")
        rec["data"] = base64.b64encode(payload).decode("ascii")
    return orjson.dumps(rec) + b"\n"


class Writer:
    """Owns the file and the writer thread; shared with the Recorder by reference only.

    The Recorder holds the queue and counters it writes on the loop thread; this object holds
    everything else, so the thread keeps no reference to the Recorder and a forgotten recorder
    can still be garbage collected (its ``weakref.finalize`` then closes this writer).
    """

    def __init__(
        self,
        path: Path,
        header: dict[str, Any],
        queue: FrameQueue,
        wake: threading.Event,
        *,
        t0: int,
        wall0: int,
        flush_interval: float,
        rotate_bytes: int | None,
        rotate_keep: int | None,
        redact: bool,
        fsync: bool,
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
        self.wake = wake
        self.closing = False
        self.closed = False
        self.written = 0
        self.reported_drops = 0
        self.part = 0
        self.error: BaseException | None = None
        self._close_lock = threading.Lock()
        self._file: IO[bytes] = open(path, "ab")  # noqa: SIM115 - owned until close()
        line = orjson.dumps(self.header) + b"\n"
        self._file.write(line)  # no rotation check: the header always opens its session
        self._file.flush()
        self._size = self._file.tell()
        self.thread = threading.Thread(target=self._run, name=f"zenws-recorder:{path.name}")
        self.thread.daemon = True  # never holds up interpreter exit; atexit closes us first
        self.thread.start()

    # -- thread side -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                self.wake.wait(self.flush_interval)
                self.wake.clear()
                done = self.closing
                self._drain()
                if done:
                    return
        except BaseException as exc:  # disk full, permission lost...: report, stop recording
            self.error = exc
            logger.error("zenws recorder %s stopped: %r", self.path, exc)

    def _drain(self) -> None:
        q = self.queue
        # Only what is queued now: chasing frames that arrive meanwhile would wake this thread
        # once per frame, and every GIL hand-over is a context switch the loop pays for.
        left = len(q)
        while left > 0:
            batch = q.pop_batch(min(left, 256))
            left -= len(batch)
            if self.rotate_bytes is None:
                self._write_batch(batch)
            else:
                self._write_lines(batch)
            self.written += len(batch)
            if left > 0:
                time.sleep(0)  # between big batches, let a waiting event loop have the GIL
        self._report_drops()
        self._file.flush()

    def _fallback(self, entry: Entry) -> bytes:
        return _encode_entry(entry, self.t0, self.wall0, self.redact)

    def _write_batch(self, batch: list[Entry]) -> None:
        try:
            block = encode_batch(batch, self.t0, self.wall0, self.redact, self._fallback)
        except (TypeError, ValueError, OverflowError):  # a malformed entry: encode one by one
            self._write_lines(batch)
            return
        self._file.write(block)
        self._size += len(block)

    def _write_lines(self, batch: list[Entry]) -> None:
        t0, wall0, redact = self.t0, self.wall0, self.redact
        for entry in batch:
            mono, direction, kind, payload, epoch, code, reason = entry
            rel = mono - t0
            line = None
            if type(epoch) is int and type(rel) is int:
                line = encode_frame(rel, wall0 + rel, epoch, direction, kind, payload, code,
                                    reason, redact)  # fmt: skip
            if line is None:  # needs Python: redaction, invalid UTF-8, odd payload type
                line = _encode_entry(entry, t0, wall0, redact)
            self._write_line(line)

    def _report_drops(self) -> None:
        total = self.queue.dropped
        if total == self.reported_drops:
            return
        new = total - self.reported_drops
        self.reported_drops = total
        line = {"type": "dropped", "ts": format_ts(time.time_ns()), "count": new, "total": total}
        self._write_line(orjson.dumps(line) + b"\n")
        msg = f"zenws recorder {self.path}: buffer full, {new} frame(s) dropped ({total} total)"
        logger.warning(msg)
        warnings.warn(msg, RecordingDropWarning, stacklevel=1)

    def _write_line(self, line: bytes) -> None:
        limit = self.rotate_bytes
        # keep room for the footer so a part never exceeds the limit (unless one line does)
        if limit is not None and self._size + len(line) + _FOOTER_ROOM > limit:
            self._rotate()
        self._file.write(line)
        self._size += len(line)

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
        self._file.write(self._footer(rotated=True))
        self._file.close()
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
        self._file = open(self.path, "ab")  # noqa: SIM115
        self._size = 0
        line = orjson.dumps({**self.header, "part": self.part, "continues": True}) + b"\n"
        self._file.write(line)
        self._size = len(line)

    # -- any thread ---------------------------------------------------------------------------

    def flush(self) -> None:
        """Ask the thread to write everything queued now (does not wait for it)."""
        self.wake.set()

    def close(self) -> None:
        """Drain the queue, write the footer, close the file; idempotent and thread-safe."""
        with self._close_lock:
            if self.closed:
                return
            self.closing = True
            self.wake.set()
            if self.thread.is_alive() and threading.current_thread() is not self.thread:
                self.thread.join()
            try:
                if self.error is None:
                    while len(self.queue):  # anything queued after the thread's last pass
                        self._drain()
                    self._report_drops()
                    self._file.write(self._footer())
                    self._file.flush()
                    if self.fsync:
                        os.fsync(self._file.fileno())
            finally:
                self._file.close()
                self.closed = True
