"""The ``zenws`` command: ``demo``, ``connect``, ``replay``, ``bench``, ``docs``.

Exit codes (also in ``docs/cli.md``): 0 success; 1 runtime failure (connection refused or
lost, server error); 2 usage error (bad arguments, bad option values); 3 fatal error that
retrying will not fix (authentication, TLS certificate, refused upgrade 4xx); 4 missing
optional dependency; 130 interrupted (SIGINT, Ctrl-C); 143 terminated (SIGTERM).  Errors are
explained (:func:`zenws.errors.explain`), never shown as tracebacks (``ZENWS_DEBUG=1`` shows
them).  A signal cancels the running command, which closes its connections and servers
before the process exits.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TextIO

from .base import (
    EXIT_ERROR,
    EXIT_FATAL,
    EXIT_INTERRUPTED,
    EXIT_MISSING,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    STOP_SIGNALS,
    CliError,
    Interrupted,
    _flush_streams,
    _raise_interrupted,
    _use_rich,
    report_error,
    run_async,
)

__all__ = [
    "COMMANDS",
    "EXIT_ERROR",
    "EXIT_FATAL",
    "EXIT_INTERRUPTED",
    "EXIT_MISSING",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "CliError",
    "Interrupted",
    "main",
]


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME:VALUE, got {text!r}")
    return name.strip(), value.strip()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``zenws`` command."""
    from .._version import __version__

    p = argparse.ArgumentParser(
        prog="zenws",
        description="zenws: low-latency WebSocket client for trading.",
        epilog="Run 'zenws demo' to see it work against an embedded exchange simulator; "
        "'zenws docs' lists the documentation shipped with the package.",
    )
    p.add_argument("--version", action="version", version=f"zenws {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    d = sub.add_parser(
        "demo",
        help="run a Deribit session against the embedded simulator (no network)",
        description="Start the embedded DeribitSimulator on loopback, connect a DeribitClient, "
        "subscribe to ticker/book/trades, place and cancel orders, and show live stats.",
    )
    d.add_argument(
        "--duration", type=_positive, default=10.0, metavar="S", help="seconds to run (default 10)"
    )
    d.add_argument(
        "--chaos",
        action="store_true",
        help="inject disconnects, a stall and a book gap to show recovery",
    )
    d.add_argument("--plain", action="store_true", help="plain text output even with rich")
    d.add_argument(
        "--venue",
        choices=["deribit", "binance"],
        default="deribit",
        help="which embedded exchange simulator to run against (default deribit)",
    )

    c = sub.add_parser(
        "connect",
        help="interactive WebSocket client (like wscat)",
        description="Connect to URL, print every message with a timestamp, send each stdin "
        "line. With stdin not a terminal, sends the lines and exits after --wait seconds.",
    )
    c.add_argument("url")
    c.add_argument(
        "--send",
        action="append",
        default=[],
        metavar="MSG",
        help="send MSG after connecting (repeatable)",
    )
    c.add_argument(
        "--header",
        action="append",
        default=[],
        type=_header,
        metavar="K:V",
        help="extra handshake header (repeatable)",
    )
    c.add_argument(
        "--heartbeat",
        choices=["ping_pong", "deribit", "binance", "text"],
        help="heartbeat strategy",
    )
    c.add_argument("--heartbeat-interval", type=_positive, metavar="S")
    c.add_argument("--record", metavar="FILE", help="record the session to a JSONL file")
    c.add_argument(
        "--wait",
        type=_positive,
        default=1.0,
        metavar="S",
        help="non-interactive: seconds to wait for replies after stdin ends",
    )
    c.add_argument(
        "--count", type=int, default=0, metavar="N", help="exit after receiving N messages"
    )
    c.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    c.add_argument("--connect-timeout", type=_positive, default=5.0, metavar="S")

    r = sub.add_parser(
        "replay",
        help="replay or summarise a recording",
        description="Print the frames of a JSONL recording (zenws connect --record / "
        "record_to=) with their timing, or summarise it.",
    )
    r.add_argument("file")
    r.add_argument(
        "--speed",
        type=_positive,
        default=None,
        metavar="X",
        help="1 = recorded timing, 2 = twice as fast (default: no delays)",
    )
    r.add_argument(
        "--stats", action="store_true", help="print counts, duration, rates and latency percentiles"
    )
    r.add_argument(
        "--plot", metavar="OUT.png", help="write a latency histogram + CDF (needs matplotlib)"
    )
    r.add_argument(
        "--log-x", action="store_true", help="--plot with a logarithmic time axis (long tails)"
    )
    r.add_argument("--quiet", action="store_true", help="do not print the frames")

    b = sub.add_parser(
        "bench",
        help="loopback round-trip benchmark vs raw picows (and websockets/aiohttp)",
        description="JSON-RPC round trips over loopback against one echo server: zenws vs a "
        "hand-written picows client, plus websockets and aiohttp when installed.",
    )
    b.add_argument(
        "--seconds", type=_positive, default=2.0, metavar="S", help="seconds per client (default 2)"
    )
    b.add_argument("--size", type=int, default=512, metavar="BYTES", help="payload size")
    b.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only these clients (zenws, picows, websockets, aiohttp)",
    )

    o = sub.add_parser(
        "docs",
        help="print a documentation page, or one section of it",
        description="Print the documentation shipped with zenws. Without TOPIC, list the "
        "topics. TOPIC#ANCHOR prints one section, e.g. 'zenws docs errors#close-1006' (the "
        "references printed with errors).",
    )
    o.add_argument("topic", nargs="?", metavar="TOPIC[#ANCHOR]")
    return p


# ----------------------------------------------------------------------------------------------
# commands


def cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    """``zenws replay FILE``."""
    from .replay import replay_command

    if args.log_x and not args.plot:
        raise CliError("--log-x applies to --plot", EXIT_USAGE, hint="add --plot OUT.png")
    return replay_command(
        args.file,
        speed=args.speed,
        stats=args.stats,
        plot=args.plot,
        quiet=args.quiet,
        out=out,
        log_x=args.log_x,
    )


def cmd_connect(args: argparse.Namespace, out: TextIO) -> int:
    """``zenws connect URL``."""
    from .connect import connect_command

    return run_async(lambda: connect_command(args, out))


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    """``zenws demo``."""
    from .demo import demo_command

    rich_ok = _use_rich(out, args.plain)
    return run_async(
        lambda: demo_command(args.duration, args.chaos, rich_ok, out, venue=args.venue)
    )


def cmd_bench(args: argparse.Namespace, out: TextIO) -> int:
    """``zenws bench``."""
    from .bench import bench_command

    if args.size < 16:
        raise CliError("--size must be at least 16 bytes", EXIT_USAGE)
    rich_ok = _use_rich(out)
    return run_async(lambda: bench_command(args.seconds, args.size, args.only, out, rich_ok))


def cmd_docs(args: argparse.Namespace, out: TextIO) -> int:
    """``zenws docs [TOPIC[#ANCHOR]]``."""
    from .docs import docs_command

    return docs_command(args.topic, out)


COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "demo": cmd_demo,
    "connect": cmd_connect,
    "replay": cmd_replay,
    "bench": cmd_bench,
    "docs": cmd_docs,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``zenws`` console script and ``python -m zenws``.

    Args:
        argv: arguments without the program name (default ``sys.argv[1:]``).

    Returns:
        The process exit code.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {signum: signal.signal(signum, _raise_interrupted) for signum in STOP_SIGNALS}
    try:
        return COMMANDS[args.command](args, sys.stdout)
    except (Interrupted, KeyboardInterrupt) as exc:
        return _report_stop(exc.signum if isinstance(exc, Interrupted) else signal.SIGINT)
    except BrokenPipeError:  # `zenws replay f | head`
        with contextlib.suppress(OSError):
            sys.stdout.close()
        return EXIT_OK
    except Exception as exc:
        return report_error(exc, sys.stderr)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _report_stop(signum: int) -> int:
    """Print why the command stopped, on a line of its own; return 128 + signum."""
    _flush_streams()
    # A live status line may still hold the cursor (no newline yet): clear it first.
    lead = "\r\033[K" if sys.stderr.isatty() else ""
    print(f"{lead}zenws: {STOP_SIGNALS.get(signum, 'stopped')}", file=sys.stderr, flush=True)
    return 128 + signum
