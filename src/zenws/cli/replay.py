"""``zenws replay FILE``: print, time, summarise and plot a recording."""

from __future__ import annotations

import os
import warnings
from typing import Any, TextIO

from .._redact import redact_json_text
from ..fast.jsonl import has_secret_key
from .base import EXIT_ERROR, EXIT_MISSING, EXIT_OK, CliError

__all__ = ["figure", "format_frame", "replay_command", "round_trips"]

_MAX_SHOWN = 400  # characters of a text payload printed per frame


def format_frame(frame: Any, t0: int) -> str:
    """One line per frame: wall time, offset, epoch, direction, type and payload.

    Text payloads pass the recorder's redaction again (secret-named JSON keys show ``***``),
    so a recording written without it, or by another tool, prints no credentials either.
    """
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


#: Percentile markers of the plot: (percentile, colour, line style).
_MARKS = ((50, "tab:green", "--"), (99, "tab:red", "--"), (99.9, "tab:purple", ":"))


def _pyplot() -> Any:
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
    return plt


def _plot(rtts: list[int], path: str, out: TextIO, log_x: bool = False) -> None:
    """Write the figure of :func:`figure` to ``path`` (PNG, SVG, PDF: by its suffix)."""
    plt = _pyplot()
    if not rtts:
        raise CliError("no request/response pairs in the recording: nothing to plot", EXIT_ERROR)
    fig, tail = figure(rtts, log_x)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path} ({len(rtts)} round trips)", file=out)
    if tail > 10 and not log_x:
        print(f"hint: p99 is {tail:.0f}x p50; --log-x spreads a long tail out", file=out)


def figure(rtts: list[int], log_x: bool = False) -> tuple[Any, float]:
    """Histogram + CDF of round trips (ns), percentiles as vertical lines named in a legend.

    Returns:
        The matplotlib figure, and p99 / p50 (how long the tail is).
    """
    plt = _pyplot()
    import numpy as np

    us = np.sort(np.asarray(rtts, dtype=np.float64) / 1000.0)
    us = np.maximum(us, 1e-3)  # a log axis needs > 0
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    n_bins = min(60, max(5, len(us) // 5))
    bins: Any = n_bins
    if log_x and us[-1] > us[0]:
        bins = np.geomspace(us[0], us[-1], n_bins + 1)
    ax1.hist(us, bins=bins, color="tab:blue", alpha=0.8)
    ax1.set_ylabel("requests")
    ax1.set_title(f"RTT histogram (n={len(us)})")
    ax2.plot(us, np.arange(1, len(us) + 1) / len(us), color="tab:blue", label="CDF")
    ax2.set_ylabel("fraction of requests")
    ax2.set_ylim(0, 1.02)
    ax2.set_title("RTT CDF")
    at: dict[float, float] = {}
    for q, colour, style in _MARKS:
        v = at[q] = float(np.percentile(us, q, method="inverted_cdf"))
        if q > 99 and len(us) < 1000:  # p99.9 of fewer samples is the maximum
            continue
        label = f"p{q:g} {v:,.0f} us"
        for ax in (ax1, ax2):
            ax.axvline(v, color=colour, linestyle=style, linewidth=1.2, label=label)
    for ax in (ax1, ax2):
        ax.set_xlabel("round trip (us" + (", log scale)" if log_x else ")"))
        if log_x:
            ax.set_xscale("log")
        ax.grid(True, which="major", alpha=0.3)
    # One legend below both plots, outside the axes: no label sits on a line or the curve.
    handles, labels = ax2.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig, at[99] / at[50]


def replay_command(
    path: str,
    *,
    speed: float | None,
    stats: bool,
    plot: str | None,
    quiet: bool,
    out: TextIO,
    log_x: bool = False,
) -> int:
    """Run ``zenws replay``: every frame, one per line (unless ``quiet``), then the
    summary, statistics and plot that were asked for; returns the exit code."""
    from ..recording import metadata, read_recording, replay_sync

    if not os.path.isfile(path):
        raise CliError(f"no such recording: {path}", EXIT_ERROR)
    code = EXIT_OK
    if not quiet or not (stats or plot):
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
        _plot(round_trips(frames), plot, out, log_x=log_x)
    return code
