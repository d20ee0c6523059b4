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
import asyncio
import contextlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TextIO

__all__ = ["EXIT_ERROR", "EXIT_FATAL", "EXIT_MISSING", "EXIT_OK", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_FATAL = 3
EXIT_MISSING = 4
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM

#: The signals every command stops cleanly on, with the message printed for each.
STOP_SIGNALS: dict[int, str] = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}


class Interrupted(BaseException):
    """A stop signal arrived (SIGINT or SIGTERM); the command unwinds and exits 128 + signum.

    A BaseException, like KeyboardInterrupt, so that ``except Exception`` blocks let it pass.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def code(self) -> int:
        """The exit code: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


class CliError(Exception):
    """A user-facing failure with an exit code (message already explained)."""

    def __init__(self, message: str, code: int = EXIT_ERROR, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.hint = hint


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
    from . import __version__

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
# shared plumbing


def _use_rich(stream: TextIO, plain: bool = False) -> bool:
    if plain or os.environ.get("NO_COLOR") or not stream.isatty():
        return False
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.new_event_loop()


def _raise_interrupted(signum: int, frame: Any) -> None:
    raise Interrupted(signum)


def run_async(coro_fn: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run a command coroutine on uvloop (when available) and return its exit code.

    SIGINT and SIGTERM cancel the command's task: its ``finally`` blocks and ``async with``
    exits close connections and servers, then every task still pending is cancelled and
    awaited, and :class:`Interrupted` is raised.  A second signal during that clean-up stops
    the process at once with the same exit code.

    Raises:
        Interrupted: a stop signal arrived.
    """
    loop = _new_loop()
    main = loop.create_task(coro_fn())
    caught: list[int] = []

    def on_signal(signum: int) -> None:
        if caught:  # clean-up is taking too long: stop now
            _flush_streams()
            os._exit(128 + caught[0])
        caught.append(signum)
        main.cancel()

    installed = []
    for signum in STOP_SIGNALS:
        try:
            loop.add_signal_handler(signum, on_signal, signum)
        except (ValueError, RuntimeError, NotImplementedError):  # not the main thread; Windows
            continue
        installed.append(signum)
    try:
        try:
            code = loop.run_until_complete(main)
        except asyncio.CancelledError:
            if caught:
                raise Interrupted(caught[0]) from None
            raise
        finally:
            _cancel_pending(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        if caught:  # the command absorbed the cancellation: the signal still decides
            raise Interrupted(caught[0])
        return code
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
            signal.signal(signum, _raise_interrupted)
        loop.close()


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the tasks a command left behind and let them finish (no "Task was destroyed")."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    if not pending:
        return
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


def _flush_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def exit_code_for(exc: BaseException) -> int:
    """Map an exception to the command's exit code."""
    from .errors import Category, ConfigError, categorize

    if isinstance(exc, CliError):
        return exc.code
    if isinstance(exc, ConfigError):
        return EXIT_USAGE
    if isinstance(exc, ImportError):
        return EXIT_MISSING
    return EXIT_FATAL if categorize(exc) is Category.FATAL else EXIT_ERROR


def report_error(exc: BaseException, stream: TextIO) -> int:
    """Print an explained error (no traceback unless ZENWS_DEBUG is set); return the code."""
    from .errors import explain

    if isinstance(exc, CliError):
        print(f"zenws: error: {exc}", file=stream)
        if exc.hint:
            print(f"  hint: {exc.hint}", file=stream)
    else:
        why = explain(exc)
        print(f"zenws: error: {why.message}", file=stream)
        print(f"  hint: {why.suggestion}", file=stream)
        print(f"  see: {why.docs}", file=stream)
    if os.environ.get("ZENWS_DEBUG", "0") not in ("", "0"):
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=stream)
    return exit_code_for(exc)


# ----------------------------------------------------------------------------------------------
# commands


def cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    """``zenws replay FILE``."""
    from ._cli_replay import replay_command

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
    from ._cli_connect import connect_command

    return run_async(lambda: connect_command(args, out))


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    """``zenws demo``."""
    from ._cli_demo import demo_command

    rich_ok = _use_rich(out, args.plain)
    return run_async(lambda: demo_command(args.duration, args.chaos, rich_ok, out))


def cmd_bench(args: argparse.Namespace, out: TextIO) -> int:
    """``zenws bench``."""
    from ._bench import bench_command

    if args.size < 16:
        raise CliError("--size must be at least 16 bytes", EXIT_USAGE)
    rich_ok = _use_rich(out)
    return run_async(lambda: bench_command(args.seconds, args.size, args.only, out, rich_ok))


def cmd_docs(args: argparse.Namespace, out: TextIO) -> int:
    """``zenws docs [TOPIC[#ANCHOR]]``."""
    from . import _docs

    pages = _docs.topics()
    if not pages:
        raise CliError(
            "the documentation pages are not installed with this copy of zenws",
            hint="reinstall the package: pip install --force-reinstall zenws",
        )
    if not args.topic:
        width = max(map(len, pages))
        print("zenws docs TOPIC prints a page; TOPIC#ANCHOR one section of it.\n", file=out)
        for name, title in pages.items():
            print(f"  {name:<{width}}  {title}", file=out)
        return EXIT_OK
    try:
        topic, anchor = _docs.find(args.topic)
    except _docs.DocsError as exc:
        import difflib

        wanted = args.topic.partition("#")[2] if "#" in args.topic else args.topic
        close = difflib.get_close_matches(wanted, exc.choices, n=3, cutoff=0.5)
        if close:
            hint = "did you mean " + " or ".join(close) + "?"
        elif "#" in args.topic:
            hint = f"`zenws docs {args.topic.partition('#')[0]}` prints the whole page"
        else:
            hint = "`zenws docs` lists the topics"
        raise CliError(str(exc), EXIT_USAGE, hint=hint) from None
    out.write(_docs.section(topic, anchor))
    return EXIT_OK


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
