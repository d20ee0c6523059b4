"""Reading recordings back: parsing with line-numbered errors, replay, summary metadata."""

from __future__ import annotations

import asyncio
import base64
import binascii
import inspect
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import orjson

from ..errors import ZenwsError

__all__ = [
    "RecordedFrame",
    "RecordingError",
    "RecordingMetadata",
    "ReplayResult",
    "metadata",
    "read_recording",
    "replay",
    "replay_sync",
]

_DIRECTIONS = ("in", "out")
_KINDS = ("text", "binary", "ping", "pong", "close")
_BOOKKEEPING = ("header", "footer", "dropped")

#: A replay handler: sync, or returning an awaitable (coroutine function).
Handler = Callable[["RecordedFrame"], Any]


class RecordingError(ZenwsError, ValueError):
    """A recording has lines that are not valid zenws JSONL records.

    Attributes:
        path: the file.
        errors: ``(line_number, message)`` pairs, 1-based line numbers, every bad line.
    """

    def __init__(self, path: str, errors: list[tuple[int, str]]) -> None:
        shown = "; ".join(f"line {n}: {m}" for n, m in errors[:10])
        more = f" (+{len(errors) - 10} more)" if len(errors) > 10 else ""
        super().__init__(f"{path}: {len(errors)} corrupt line(s): {shown}{more}")
        self.path = path
        self.errors = errors


@dataclass(frozen=True, slots=True)
class RecordedFrame:
    """One recorded frame.

    Attributes:
        line: 1-based line number in the file.
        session: index of the session (header) it belongs to, from 0.
        ts: UTC ISO-8601 timestamp with microseconds.
        mono_ns: monotonic offset from the session start.
        epoch: connection epoch.
        dir: ``"in"`` or ``"out"``.
        type: ``"text"``, ``"binary"``, ``"ping"``, ``"pong"`` or ``"close"``.
        data: ``str`` for text, ``bytes`` for binary/ping/pong (and invalid-UTF-8 text),
            ``None`` for close.
        code: close code (close frames).
        reason: close reason (close frames).
    """

    line: int
    session: int
    ts: str
    mono_ns: int
    epoch: int
    dir: str
    type: str
    data: str | bytes | None
    code: int | None = None
    reason: str = ""

    @property
    def size(self) -> int:
        """Payload size in bytes (UTF-8 length for text)."""
        if self.data is None:
            return 0
        return len(self.data.encode("utf-8")) if isinstance(self.data, str) else len(self.data)

    def json(self) -> Any:
        """Parse a text frame as JSON (raises ``orjson.JSONDecodeError`` if it is not)."""
        return orjson.loads(self.data if self.data is not None else b"")


def _parse_frame(rec: dict[str, Any], line: int, session: int) -> RecordedFrame:
    kind = rec.get("type")
    direction = rec.get("dir")
    mono = rec.get("mono_ns")
    epoch = rec.get("epoch")
    ts = rec.get("ts")
    if kind not in _KINDS:
        raise ValueError(f"unknown record type {kind!r}")
    if direction not in _DIRECTIONS:
        raise ValueError(f"bad dir {direction!r}")
    if type(mono) is not int or type(epoch) is not int or not isinstance(ts, str):
        raise ValueError("missing or mistyped ts/mono_ns/epoch")
    if kind == "close":
        code = rec.get("code")
        reason = rec.get("reason", "")
        if (code is not None and type(code) is not int) or not isinstance(reason, str):
            raise ValueError("bad close code/reason")
        return RecordedFrame(line, session, ts, mono, epoch, direction, kind, None, code, reason)
    data = rec.get("data")
    if not isinstance(data, str):
        raise ValueError("missing data")
    payload: str | bytes = data
    if kind != "text" or rec.get("invalid_utf8"):
        try:
            payload = base64.b64decode(data, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"bad base64 data: {exc}") from None
    return RecordedFrame(line, session, ts, mono, epoch, direction, kind, payload)


def _iter_lines(path: str) -> Iterator[tuple[int, str, Any]]:
    """Yield ``(line, "frame"|"header"|"footer"|"dropped"|"error", object)`` per line."""
    session = -1
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.endswith(b"\n"):
                # a torn last line (the process died mid-write) is corrupt, not "almost valid"
                yield n, "error", "truncated line (no newline)"
                continue
            try:
                rec = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                yield n, "error", f"invalid JSON: {exc}"
                continue
            if not isinstance(rec, dict):
                yield n, "error", "not a JSON object"
                continue
            kind = rec.get("type")
            if kind in _BOOKKEEPING:
                if kind == "header":
                    session += 1
                yield n, kind, rec
                continue
            try:
                yield n, "frame", _parse_frame(rec, n, max(session, 0))
            except ValueError as exc:
                yield n, "error", str(exc)


def read_recording(
    path: str | os.PathLike[str],
) -> tuple[list[RecordedFrame], list[tuple[int, str]]]:
    """Load every frame of a recording into memory.

    Args:
        path: the JSONL file.

    Returns:
        ``(frames, errors)``: frames in file order and ``(line, message)`` for corrupt lines.
    """
    frames: list[RecordedFrame] = []
    errors: list[tuple[int, str]] = []
    for n, kind, obj in _iter_lines(os.fspath(path)):
        if kind == "frame":
            frames.append(obj)
        elif kind == "error":
            errors.append((n, obj))
    return frames, errors


@dataclass
class ReplayResult:
    """What :func:`replay` delivered.

    Attributes:
        frames: frames passed to the handler.
        sessions: session headers seen.
        errors: ``(line, message)`` for corrupt lines (only non-empty with ``strict=False``).
    """

    frames: int = 0
    sessions: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def _schedule(
    path: str, speed: float | None, directions: tuple[str, ...], strict: bool, out: ReplayResult
) -> Iterator[tuple[RecordedFrame, float]]:
    """Yield frames with the delay (seconds from replay start) at which each is due."""
    if speed is not None and speed <= 0:
        raise ValueError("speed must be > 0 or None")
    base: int | None = None
    offset = 0.0  # seconds of replay time before the current session
    last = 0.0
    it = _iter_lines(path)
    for n, kind, obj in it:
        if kind == "error":
            out.errors.append((n, obj))
            if strict:  # keep reading so that every bad line is listed
                out.errors.extend((m, e) for m, k, e in it if k == "error")
                raise RecordingError(path, out.errors)
            continue
        if kind == "header":
            out.sessions += 1
            if not obj.get("continues"):  # a rotated part keeps its session's clock
                base, offset = None, last
            continue
        if kind != "frame":
            continue
        if base is None:
            base = obj.mono_ns
        due = offset + (obj.mono_ns - base) / 1e9 / speed if speed else 0.0
        last = due
        if obj.dir in directions:
            yield obj, due


async def replay(
    path: str | os.PathLike[str],
    handler: Handler,
    *,
    speed: float | None = None,
    directions: tuple[str, ...] = ("in", "out"),
    strict: bool = True,
) -> ReplayResult:
    """Feed a recording's frames to ``handler`` in recorded order.

    Args:
        path: the JSONL file.
        handler: called with each :class:`RecordedFrame`; may be a coroutine function.
        speed: None = as fast as possible; 1.0 = recorded timing; 2.0 = twice as fast.
        directions: which directions to deliver (timing always follows the whole recording).
        strict: raise :class:`RecordingError` at the first corrupt line (after scanning the
            rest of the file so the error lists every bad line). With False, corrupt lines are
            skipped, reported by a ``RuntimeWarning`` and returned in ``errors``.

    Returns:
        A :class:`ReplayResult`.

    Raises:
        RecordingError: corrupt lines with ``strict=True``.
        ValueError: for ``speed <= 0``.
    """
    out = ReplayResult()
    loop = asyncio.get_running_loop()
    start = loop.time()
    for frame, due in _schedule(os.fspath(path), speed, directions, strict, out):
        if speed:
            delay = start + due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        r = handler(frame)
        if inspect.isawaitable(r):
            await r
        out.frames += 1
    _warn_errors(path, out)
    return out


def replay_sync(
    path: str | os.PathLike[str],
    handler: Callable[[RecordedFrame], Any],
    *,
    speed: float | None = None,
    directions: tuple[str, ...] = ("in", "out"),
    strict: bool = True,
) -> ReplayResult:
    """Blocking form of :func:`replay` (no event loop; ``handler`` must be a plain callable).

    Args and Returns and Raises: as :func:`replay`.
    """
    out = ReplayResult()
    start = time.monotonic()
    for frame, due in _schedule(os.fspath(path), speed, directions, strict, out):
        if speed:
            delay = start + due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        handler(frame)
        out.frames += 1
    _warn_errors(path, out)
    return out


def _warn_errors(path: str | os.PathLike[str], out: ReplayResult) -> None:
    if out.errors:
        lines = ", ".join(str(n) for n, _ in out.errors[:20])
        warnings.warn(
            f"{os.fspath(path)}: skipped {len(out.errors)} corrupt line(s): {lines}",
            RuntimeWarning,
            stacklevel=3,
        )


@dataclass
class RecordingMetadata:
    """Summary of a recording, from :func:`metadata`.

    Attributes:
        path: the file.
        sessions: session headers (redacted URL, zenws version, start time, metadata).
        frames: frame lines.
        counts: ``{"in": {"text": n, ...}, "out": {...}}``.
        bytes: payload bytes ``{"in": n, "out": n}``.
        first_ts / last_ts: timestamps of the first and last frame (None when empty).
        duration_s: seconds between the first and last frame.
        rate: frames per second over ``duration_s`` (0.0 for under two frames).
        epochs: connection epochs seen, sorted.
        latency: request/response round-trip statistics in ns (``count``, ``min``, ``max``,
            ``mean``, ``p50``, ``p90``, ``p99``, ``p999``), matched by JSON-RPC id per epoch.
        unanswered: requests with no response in the recording.
        dropped: frames the recorder reported as dropped.
        complete: every session ended with a footer (closed cleanly).
        errors: ``(line, message)`` for every corrupt line.
    """

    path: str
    sessions: list[dict[str, Any]] = field(default_factory=list)
    frames: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    first_ts: str | None = None
    last_ts: str | None = None
    duration_s: float = 0.0
    rate: float = 0.0
    epochs: list[int] = field(default_factory=list)
    latency: dict[str, float] = field(default_factory=dict)
    unanswered: int = 0
    dropped: int = 0
    complete: bool = False
    errors: list[tuple[int, str]] = field(default_factory=list)


def _wall_ns(frame: RecordedFrame, header: dict[str, Any] | None) -> int:
    if header is not None and type(header.get("start_wall_ns")) is int:
        return int(header["start_wall_ns"]) + frame.mono_ns
    return int(datetime.fromisoformat(frame.ts.replace("Z", "+00:00")).timestamp() * 1e9)


def _latency(rtts: list[int]) -> dict[str, float]:
    if not rtts:
        return {"count": 0}
    qs = (50, 90, 99, 99.9)
    try:
        from ..fast.latency import LatencyBuffer

        buf = LatencyBuffer(capacity=len(rtts))
        buf.extend(rtts)
        ps = [int(p) for p in buf.percentiles(qs)]
    except ImportError:  # the compiled module is optional here: this is offline analysis
        arr = np.asarray(rtts, dtype=np.int64)
        ps = [int(np.percentile(arr, q, method="inverted_cdf")) for q in qs]
    return {
        "count": len(rtts),
        "min": min(rtts),
        "max": max(rtts),
        "mean": sum(rtts) / len(rtts),
        "p50": ps[0],
        "p90": ps[1],
        "p99": ps[2],
        "p999": ps[3],
    }


def _rpc_key(frame: RecordedFrame, want_method: bool) -> Any:
    """The JSON-RPC id of a request (want_method) or a response, else None."""
    data = frame.data
    if not isinstance(data, str) or '"id"' not in data:
        return None
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or doc.get("id") is None:
        return None
    if want_method and "method" not in doc:
        return None
    if not want_method and "result" not in doc and "error" not in doc:
        return None
    rid = doc["id"]
    return rid if isinstance(rid, (int, str)) else None


def metadata(path: str | os.PathLike[str]) -> RecordingMetadata:
    """Summarise a recording: counts, bytes, timing, rate, request latency, errors.

    Corrupt lines never raise here; they are listed in ``errors`` with their line numbers.

    Args:
        path: the JSONL file.

    Returns:
        A :class:`RecordingMetadata`.
    """
    meta = RecordingMetadata(path=os.fspath(path))
    meta.counts = {d: dict.fromkeys(_KINDS, 0) for d in _DIRECTIONS}
    meta.bytes = dict.fromkeys(_DIRECTIONS, 0)
    pending: dict[tuple[int, int, Any], int] = {}
    rtts: list[int] = []
    epochs: set[int] = set()
    first_wall = last_wall = None
    footers = 0
    drops: dict[int, int] = {}  # session -> highest reported total
    header: dict[str, Any] | None = None
    for n, kind, obj in _iter_lines(meta.path):
        if kind == "error":
            meta.errors.append((n, obj))
        elif kind == "header":
            header = obj
            if not obj.get("continues"):
                meta.sessions.append(obj)
        elif kind == "footer":
            if not obj.get("rotated"):
                footers += 1
        elif kind == "dropped":
            sess = len(meta.sessions)
            drops[sess] = max(drops.get(sess, 0), int(obj.get("total", 0)))
        else:
            f: RecordedFrame = obj
            meta.frames += 1
            meta.counts[f.dir][f.type] += 1
            meta.bytes[f.dir] += f.size
            epochs.add(f.epoch)
            wall = _wall_ns(f, header)
            if first_wall is None:
                first_wall, meta.first_ts = wall, f.ts
            last_wall, meta.last_ts = wall, f.ts
            if f.type == "text":
                rid = _rpc_key(f, want_method=f.dir == "out")
                if rid is not None:
                    key = (f.session, f.epoch, rid)
                    if f.dir == "out":
                        pending[key] = f.mono_ns
                    elif key in pending:
                        rtts.append(f.mono_ns - pending.pop(key))
    if first_wall is not None and last_wall is not None:
        meta.duration_s = (last_wall - first_wall) / 1e9
    if meta.duration_s > 0:
        meta.rate = meta.frames / meta.duration_s
    meta.epochs = sorted(epochs)
    meta.latency = _latency(rtts)
    meta.unanswered = len(pending)
    meta.dropped = sum(drops.values())
    meta.complete = bool(meta.sessions) and footers >= len(meta.sessions)
    return meta
