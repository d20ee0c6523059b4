"""The logger zenws hands picows: every record is redacted before it enters ``logging``.

picows logs the whole upgrade request at its trace level (9, ``Send upgrade request:``),
with ``Authorization``, API-key headers and the query string, and its ``info``/``warning``
lines can carry URLs. A :class:`logging.Filter` on a logger would not see the records of
the per-connection child loggers picows creates, nor stop a handler the user attached to
them; so zenws passes picows a :class:`RedactingAdapter` instead (picows accepts a
``LoggerAdapter`` as ``logger_name``): the message is formatted and redacted with the one
rule set (:func:`zenws._redact.redact_text`) before any handler, at any level, sees it.

Cost: none unless the level is enabled (picows checks ``isEnabledFor`` itself, once per
connection for its trace level).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import MutableMapping
from typing import Any

from ._redact import redact_text

__all__ = ["RedactingAdapter", "redacting_logger"]


def _text_arg(arg: Any) -> Any:
    # bytes are redacted as text (real CR LF, so header lines are seen) and shown as before
    if isinstance(arg, (bytes, bytearray, memoryview)):
        raw = bytes(arg).decode("latin-1")
        return redact_text(raw).encode("latin-1")
    return arg


class RedactingAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A ``LoggerAdapter`` that hides credentials in every message it passes on.

    The message is formatted with its arguments first (``bytes`` arguments are redacted as
    text), then redacted; an exception's traceback is appended to the message as redacted
    text instead of being passed as ``exc_info`` (its text could carry a secret).
    """

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        """Unused: :meth:`log` formats and redacts the whole record."""
        return msg, kwargs

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        """Format, redact and log ``msg % args`` at ``level`` if it is enabled."""
        if not self.isEnabledFor(level):
            return
        try:
            text = str(msg) % tuple(_text_arg(a) for a in args) if args else str(msg)
        except (TypeError, ValueError):
            text = " ".join([str(msg), *map(repr, args)])
        exc_info = kwargs.pop("exc_info", None)
        if exc_info:
            if exc_info is True:
                exc_info = None
            elif isinstance(exc_info, BaseException):
                exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
            lines = traceback.format_exception(*exc_info) if exc_info else []
            if not lines:
                import sys

                info = sys.exc_info()
                lines = traceback.format_exception(*info) if info[0] is not None else []
            text = f"{text}\n{''.join(lines).rstrip()}" if lines else text
        kwargs.pop("stack_info", None)
        kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 1
        self.logger.log(level, redact_text(text), **kwargs)


def redacting_logger(name: str) -> RedactingAdapter:
    """A :class:`RedactingAdapter` over ``logging.getLogger(name)``.

    Args:
        name: the logger name (``"zenws.picows"`` for the client transport).

    Returns:
        The adapter to pass as picows' ``logger_name``.
    """
    return RedactingAdapter(logging.getLogger(name), {})
