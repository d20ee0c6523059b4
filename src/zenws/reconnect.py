"""Reconnect policy: exponential backoff with jitter, a stability window, retry decisions.

Sans-I/O: nothing here sleeps or touches a socket.  The client asks :class:`Backoff` for the
next delay after each failed (re)connect, tells it when a connection comes up and goes down,
and asks :func:`retry_decision` whether an exception is worth another attempt.

Backoff follows the "full jitter" scheme of the AWS Architecture Blog post *Exponential
Backoff And Jitter* (2015): ``delay = uniform(0, min(cap, base * 2**attempt))``, which
spreads a herd of clients reconnecting after an exchange outage over the whole window.

A ``Retry-After`` value (RFC 9110 §10.2.3), from a refused upgrade (429/503) or a
:class:`~zenws.errors.RateLimited`, is a *floor*: the delay is never shorter than it.  A
server-supplied value is capped at ``max_retry_after`` (default 300 s) so a misconfigured
proxy answering ``Retry-After: 86400`` cannot park a trading connection for a day.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from collections import deque
from typing import Any, Final

from . import errors

__all__ = [
    "DEFAULT_MAX_RETRY_AFTER",
    "JITTER_MODES",
    "AttemptLimit",
    "Backoff",
    "parse_retry_after",
    "retry_decision",
]

#: Largest server-supplied Retry-After honoured, in seconds.
DEFAULT_MAX_RETRY_AFTER: Final = 300.0
#: Accepted values of ``jitter`` / ``Config.backoff_jitter``.
JITTER_MODES: Final = ("full", "equal", "none")
# 2**64 * any positive retry_delay exceeds every sensible cap; stops float overflow.
_MAX_EXPONENT: Final = 64


class Backoff:
    """Exponential backoff with jitter, a cap, a retry limit and a stability window.

    ``attempt`` counts consecutive failed attempts.  It is reset to 0 only when a connection
    stayed up for at least ``stable_after`` seconds: a server that accepts the upgrade and
    drops the socket a moment later keeps the delays growing instead of being hammered.

    Args:
        retry_delay: base delay in seconds (the window of attempt 0).
        max_backoff: cap of the window in seconds.
        jitter: ``"full"`` (uniform in ``[0, w]``), ``"equal"`` (uniform in ``[w/2, w]``) or
            ``"none"`` (exactly ``w``), where ``w = min(max_backoff, retry_delay * 2**attempt)``.
        stable_after: uptime in seconds after which a disconnect resets ``attempt``.
        retry_count: give up after this many consecutive attempts (``None`` = never).
        rng: random source (seed one in tests for reproducible delays).
        max_retry_after: cap applied to a server-supplied Retry-After, in seconds.

    Raises:
        ConfigError: a negative/non-finite delay, an unknown jitter mode, a negative count.
    """

    __slots__ = (
        "_connected_at",
        "_rng",
        "attempt",
        "jitter",
        "max_backoff",
        "max_retry_after",
        "retry_count",
        "retry_delay",
        "stable_after",
    )

    def __init__(
        self,
        retry_delay: float,
        max_backoff: float,
        jitter: str = "full",
        stable_after: float = 10.0,
        retry_count: int | None = None,
        rng: random.Random | None = None,
        *,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
    ) -> None:
        _check_seconds("retry_delay", retry_delay)
        _check_seconds("max_backoff", max_backoff)
        _check_seconds("stable_after", stable_after)
        _check_seconds("max_retry_after", max_retry_after)
        if jitter not in JITTER_MODES:
            raise errors.ConfigError(
                f"backoff_jitter must be one of {', '.join(JITTER_MODES)}, got {jitter!r}",
                field="backoff_jitter",
            )
        if retry_count is not None and (
            isinstance(retry_count, bool) or not isinstance(retry_count, int) or retry_count < 0
        ):
            raise errors.ConfigError(
                f"retry_count must be None or an int >= 0, got {retry_count!r}",
                field="retry_count",
            )
        self.retry_delay = float(retry_delay)
        self.max_backoff = float(max_backoff)
        self.jitter = jitter
        self.stable_after = float(stable_after)
        self.retry_count = retry_count
        self.max_retry_after = float(max_retry_after)
        self._rng = rng if rng is not None else random.Random()
        self.attempt = 0
        self._connected_at: float | None = None

    @classmethod
    def from_config(cls, config: Any) -> Backoff:
        """Build the policy from a :class:`zenws.Config` (or any object with its fields).

        Args:
            config: reads ``retry_delay``, ``max_backoff``, ``backoff_jitter``,
                ``stable_after`` and ``retry_count`` (DESIGN §2 defaults when absent).

        Returns:
            A fresh Backoff with ``attempt == 0``.
        """
        return cls(
            retry_delay=getattr(config, "retry_delay", 0.5),
            max_backoff=getattr(config, "max_backoff", 30.0),
            jitter=getattr(config, "backoff_jitter", "full"),
            stable_after=getattr(config, "stable_after", 10.0),
            retry_count=getattr(config, "retry_count", None),
        )

    def window(self, attempt: int | None = None) -> float:
        """Upper bound of the delay for ``attempt`` (default: the next one), in seconds."""
        n = self.attempt if attempt is None else attempt
        return min(self.max_backoff, math.ldexp(self.retry_delay, min(n, _MAX_EXPONENT)))

    def next_delay(self, retry_after: float | None = None) -> float | None:
        """Consume one attempt and return how long to wait before it.

        Args:
            retry_after: server-requested minimum wait in seconds (``None``, negative or
                non-finite values are ignored); capped at ``max_retry_after``.

        Returns:
            The delay in seconds, or ``None`` when ``retry_count`` attempts were already
            made since the last stable connection (the caller gives up).
        """
        if self.retry_count is not None and self.attempt >= self.retry_count:
            return None
        w = self.window()
        if self.jitter == "full":
            delay = self._rng.uniform(0.0, w)
        elif self.jitter == "equal":
            delay = w / 2.0 + self._rng.uniform(0.0, w / 2.0)
        else:
            delay = w
        self.attempt += 1
        if retry_after is not None and math.isfinite(retry_after) and retry_after > 0:
            delay = max(delay, min(float(retry_after), self.max_retry_after))
        return delay

    @property
    def exhausted(self) -> bool:
        """True when the next :meth:`next_delay` would return ``None``."""
        return self.retry_count is not None and self.attempt >= self.retry_count

    def on_connected(self, now: float) -> None:
        """Record that a connection reached OPEN at monotonic time ``now`` (seconds)."""
        self._connected_at = now

    def on_disconnected(self, now: float) -> None:
        """Record a disconnect at ``now``; resets ``attempt`` if uptime >= ``stable_after``."""
        up = self._connected_at
        self._connected_at = None
        if up is not None and now - up >= self.stable_after:
            self.attempt = 0

    def reset(self) -> None:
        """Forget all history (used by an explicit ``client.reconnect()``)."""
        self.attempt = 0
        self._connected_at = None

    def __repr__(self) -> str:
        return (
            f"Backoff(retry_delay={self.retry_delay}, max_backoff={self.max_backoff}, "
            f"jitter={self.jitter!r}, stable_after={self.stable_after}, "
            f"retry_count={self.retry_count}, attempt={self.attempt})"
        )


class AttemptLimit:
    """At most ``count`` connection attempts in any ``window`` seconds (a sliding window).

    A venue that limits connection attempts per IP (Binance: 300 per 5 minutes) must never
    see more, whatever the backoff's jitter drew.  The client asks :meth:`wait` before each
    attempt, sleeps that long, then calls :meth:`record`.  One object may be shared by the
    clients that count against the same limit (``Config.attempt_limit`` accepts it).

    Args:
        count: attempts allowed per window (>= 1).
        window: the window in seconds (> 0).

    Raises:
        ConfigError: a count below 1 or a window that is not a positive finite number.
    """

    __slots__ = ("_times", "count", "window")

    def __init__(self, count: int, window: float) -> None:
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise errors.ConfigError(
                f"attempt_limit: count must be an int >= 1, got {count!r}", field="attempt_limit"
            )
        _check_seconds("attempt_limit", window)
        if window <= 0:
            raise errors.ConfigError(
                f"attempt_limit: window must be > 0 s, got {window!r}", field="attempt_limit"
            )
        self.count = count
        self.window = float(window)
        self._times: deque[float] = deque(maxlen=count)  # the last `count` attempts

    @classmethod
    def of(cls, value: Any) -> AttemptLimit | None:
        """``Config.attempt_limit`` as an AttemptLimit: ``None``, ``(count, window)`` or one."""
        if value is None or isinstance(value, AttemptLimit):
            return value
        count, window = value
        return cls(count, window)

    def wait(self, now: float | None = None) -> float:
        """Seconds before the next attempt keeps within the limit (0: now).

        Args:
            now: monotonic seconds (default ``time.monotonic()``).
        """
        if len(self._times) < self.count:
            return 0.0
        now = time.monotonic() if now is None else now
        return max(0.0, self._times[0] + self.window - now)

    def recent(self, now: float | None = None) -> int:
        """Attempts recorded in the window ending at ``now`` (default: the current time)."""
        now = time.monotonic() if now is None else now
        return sum(1 for t in self._times if t > now - self.window)

    def record(self, now: float | None = None) -> None:
        """An attempt starts at ``now`` (monotonic seconds, default the current time)."""
        self._times.append(time.monotonic() if now is None else now)

    def __repr__(self) -> str:
        return f"AttemptLimit({self.count}, {self.window})"


def _check_seconds(field: str, value: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise errors.ConfigError(
            f"{field} must be a finite number of seconds >= 0, got {value!r}", field=field
        )


def parse_retry_after(value: str | bytes | None, now: float | None = None) -> float | None:
    """Parse an HTTP ``Retry-After`` header (RFC 9110 §10.2.3) into seconds from now.

    Args:
        value: delta-seconds (``"120"``) or an HTTP-date; ``None`` or garbage gives ``None``.
        now: wall-clock time for HTTP-dates (default ``time.time()``).

    Returns:
        Seconds to wait (>= 0), or ``None`` when absent or unparseable.
    """
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 §5.6.7: HTTP-dates are GMT.
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _retry_after_of(exc: BaseException) -> float | None:
    ra = getattr(exc, "retry_after", None)
    if isinstance(ra, (int, float)) and not isinstance(ra, bool) and math.isfinite(ra) and ra > 0:
        return float(ra)
    return None


def retry_decision(exc: BaseException) -> tuple[bool, float | None]:
    """Decide whether a failed connect (or a lost connection) should be retried.

    The classification is :func:`zenws.errors.categorize`: a refused upgrade with 401, 403
    or another 4xx a retry cannot fix is fatal; 408/425/429 and 5xx are retried, no earlier
    than their ``Retry-After``; configuration and certificate errors are fatal.
    Cancellation and interpreter exit are never retried.

    Args:
        exc: the exception that ended the attempt or the connection.

    Returns:
        ``(retry, retry_after)``: whether to try again and the server-requested minimum
        delay in seconds (``None`` if none was given).
    """
    if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
        return False, None
    if errors.categorize(exc) is errors.Category.FATAL:
        return False, None
    return True, _retry_after_of(exc)
