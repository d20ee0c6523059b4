"""What every ``zenws`` command shares: exit codes, errors, signals, the event loop.

The commands (``zenws.cli.demo``, ``.connect``, ``.replay``, ``.bench``, ``.docs``) import
from here, never from the ``zenws.cli`` package, which imports them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import traceback
from collections.abc import Callable, Coroutine
from typing import Any, TextIO

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
    from ..errors import Category, ConfigError, categorize

    if isinstance(exc, CliError):
        return exc.code
    if isinstance(exc, ConfigError):
        return EXIT_USAGE
    if isinstance(exc, ImportError):
        return EXIT_MISSING
    return EXIT_FATAL if categorize(exc) is Category.FATAL else EXIT_ERROR


def report_error(exc: BaseException, stream: TextIO) -> int:
    """Print an explained error (no traceback unless ZENWS_DEBUG is set); return the code."""
    from ..errors import explain

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
