"""``zenws replay FILE``: print, time, summarise and plot a recording."""

from __future__ import annotations

import os
import warnings
from typing import Any, TextIO

from ._redact import redact_json_text
from .cli import EXIT_ERROR, EXIT_MISSING, EXIT_OK, CliError
from .fast.jsonl import has_secret_key

__all__ = ["format_frame", "replay_command", "round_trips"]

_MAX_SHOWN = 400  # characters of a text payload printed per frame


def format_frame(frame: Any, t0: int) -> str:
    """One line per frame: wall time, offset, epoch, direction, type and payload."""
    clock = frame.ts[11:26] if len(frame.ts) >= 26 else frame.ts
    offset = (frame.mono_ns - t0) / 1e9
    arrow = "<-" if frame.dir == "in" else "->"
    head = f"{clock}  +{offset:10.6f}s  e{frame.epoch}  {arrow} {frame.type:<6}"
    if frame.type == "close":
        return f"{head} code={frame.code} reason={frame.reason!r}"
    data = frame.data
    if isinstance(data, str):
        if has_secret_key(data):  # recorded with redact=False: still never printed
            data = redact_json_text(data)
        shown = data if len(data) <= _MAX_SHOWN else data[:_MAX_SHOWN] + f"... ({len(data)} chars)"
        return f"{head} {shown}"
    raw = bytes(data or b"")
    return f"{head} [{len(raw)} bytes] {raw[:32].hex()}{'...' if len(raw) > 32 else ''}"


def round_trips(frames: list[Any]) -> list[int]:
    """Request -> response round trips (ns), matched by JSON-RPC id within an epoch."""
    import orjson

    pending: dict[tuple[int, int, Any], int] = {}
    out: list[int] = []
    for f in frames:
        if f.type != "text" or not isinstance(f.data, str) or '"id"' not in f.data:
            continue
        try:
            doc = orjson.loads(f.data)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("id"), (int, str)):
            continue
        key = (f.session, f.epoch, doc["id"])
        if f.dir == "out" and "method" in doc:
            pending[key] = f.mono_ns
        elif f.dir == "in" and ("result" in doc or "error" in doc) and key in pending:
            out.append(f.mono_ns - pending.pop(key))
    return out


def _print_stats(meta: Any, out: TextIO) -> None:
    rows: list[tuple[str, str]] = [
        ("file", meta.path),
        ("sessions", str(len(meta.sessions))),
        ("url", ", ".join(sorted({str(s.get("url", "")) for s in meta.sessions})) or "-"),
        ("frames", str(meta.frames)),
    ]
    for direction in ("in", "out"):
        counts = meta.counts.get(direction, {})
        detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v)
        rows.append((f"frames {direction}", f"{sum(counts.values())} ({detail or 'none'})"))
        rows.append((f"bytes {direction}", str(meta.bytes.get(direction, 0))))
    rows += [
        ("first", meta.first_ts or "-"),
        ("last", meta.last_ts or "-"),
        ("duration", f"{meta.duration_s:.3f} s"),
        ("rate", f"{meta.rate:.1f} frames/s"),
        ("epochs", ", ".join(map(str, meta.epochs)) or "-"),
    ]
    lat = meta.latency
    if lat.get("count"):
        rows.append(("requests", f"{int(lat['count'])} answered, {meta.unanswered} unanswered"))
        for key in ("min", "p50", "p90", "p99", "p999", "max", "mean"):
            rows.append((f"rtt {key}", f"{lat[key] / 1000:.1f} us"))
    else:
        rows.append(("requests", f"0 answered, {meta.unanswered} unanswered"))
    rows += [
        ("dropped", str(meta.dropped)),
        ("complete", "yes" if meta.complete else "no (no footer: the writer did not close)"),
        ("corrupt lines", str(len(meta.errors))),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}", file=out)


def _plot(rtts: list[int], path: str, out: TextIO) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CliError(
            "--plot needs matplotlib, which is not installed",
            EXIT_MISSING,
            hint="pip install 'zenws[plot]'",
        ) from None
    import numpy as np

    if not rtts:
        raise CliError("no request/response pairs in the recording: nothing to plot", EXIT_ERROR)
    us = np.sort(np.asarray(rtts, dtype=np.float64) / 1000.0)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.hist(us, bins=min(60, max(5, len(us) // 5)))
    ax1.set_xlabel("round trip (us)")
    ax1.set_ylabel("requests")
    ax1.set_title(f"RTT histogram (n={len(us)})")
    cdf = np.arange(1, len(us) + 1) / len(us)
    ax2.plot(us, cdf)
    for q in (50, 99):
        v = float(np.percentile(us, q, method="inverted_cdf"))
        ax2.axvline(v, linestyle="--", linewidth=0.8)
        ax2.annotate(f"p{q} {v:.0f} us", (v, q / 100), fontsize=8)
    ax2.set_xlabel("round trip (us)")
    ax2.set_ylabel("fraction")
    ax2.set_title("RTT CDF")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"wrote {path} ({len(us)} round trips)", file=out)


def replay_command(
    path: str,
    *,
    speed: float | None,
    stats: bool,
    plot: str | None,
    quiet: bool,
    out: TextIO,
) -> int:
    """Run ``zenws replay``; returns the exit code."""
    from .recorder import metadata, read_recording, replay_sync

    if not os.path.isfile(path):
        raise CliError(f"no such recording: {path}", EXIT_ERROR)
    code = EXIT_OK
    if (not stats and not plot) or speed is not None:
        first: list[int] = []

        def show(frame: Any) -> None:
            if quiet:
                return
            if not first:
                first.append(frame.mono_ns)
            print(format_frame(frame, first[0]), file=out, flush=speed is not None)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = replay_sync(path, show, speed=speed, strict=False)
        print(f"-- {result.frames} frames, {result.sessions} session(s)", file=out)
        if result.errors:
            lines = ", ".join(str(n) for n, _ in result.errors[:10])
            print(f"zenws: {len(result.errors)} corrupt line(s) skipped: {lines}", file=out)
            code = EXIT_ERROR
    if stats:
        meta = metadata(path)
        _print_stats(meta, out)
        if meta.errors:
            code = EXIT_ERROR
    if plot:
        frames, _ = read_recording(path)
        _plot(round_trips(frames), plot, out)
    return code
