"""Matchers for :meth:`MockServer.assert_received <zenws.testing.MockServer.assert_received>`.

A matcher is one of:

- ``str`` / ``bytes``: the message equals it exactly;
- ``re.Pattern``: ``pattern.search(message_text)`` succeeds;
- ``dict`` (or list): the message is JSON and contains this as a subset (recursively: dict keys
  must be present with matching values, lists must match element-wise);
- a callable ``(Received) -> bool``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, Union

from .handler import Received, redact

__all__ = ["Matcher", "describe", "matches", "subset"]

Matcher = Union[
    str, bytes, "re.Pattern[str]", dict[str, Any], list[Any], Callable[[Received], bool]
]

_NO_JSON = object()


def subset(expected: Any, actual: Any) -> bool:
    """True if ``expected`` is contained in ``actual`` (dict subset, element-wise lists).

    Args:
        expected: the pattern.
        actual: the parsed JSON value.

    Returns:
        Whether it matches.
    """
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return False
        return all(k in actual and subset(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(expected) != len(actual):
            return False
        return all(subset(e, a) for e, a in zip(expected, actual, strict=True))
    if isinstance(expected, re.Pattern):
        return isinstance(actual, str) and expected.search(actual) is not None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual  # JSON true is not 1
    return bool(expected == actual)


def matches(matcher: Matcher, message: Received) -> bool:
    """Apply one matcher to a captured message.

    Args:
        matcher: see the module docstring.
        message: the captured message.

    Returns:
        Whether it matches.

    Raises:
        TypeError: the matcher has an unsupported type.
    """
    if isinstance(matcher, (str, bytes)):
        return message.data == matcher
    if isinstance(matcher, re.Pattern):
        return matcher.search(message.text) is not None
    if isinstance(matcher, (dict, list)):
        value = message.json(default=_NO_JSON)
        return value is not _NO_JSON and subset(matcher, value)
    if callable(matcher):
        return bool(matcher(message))
    raise TypeError(f"unsupported matcher type {type(matcher).__name__}: {matcher!r}")


def describe(matcher: Matcher, received: Iterable[Received], *, limit: int = 20) -> str:
    """Build the failure message of a matcher that never matched.

    Args:
        matcher: the matcher.
        received: what was captured (oldest first).
        limit: how many of the latest messages to show.

    Returns:
        A multi-line message listing what was received.
    """
    seen = list(received)
    shown = seen[-limit:]
    what = getattr(matcher, "__name__", None) or redact(repr(matcher))
    lines = [f"no received message matched {what}; {len(seen)} message(s) received"]
    if len(seen) > len(shown):
        lines.append(f"  ... {len(seen) - len(shown)} earlier message(s) not shown")
    lines.extend(f"  [conn {m.connection_id}] {m.shown()}" for m in shown)
    return "\n".join(lines)
