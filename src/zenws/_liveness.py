"""Liveness timers (dead peer, data idle) and the host interface heartbeats drive.

Re-exported by :mod:`zenws.heartbeat` (import them from there).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Final, Protocol

from . import errors, telemetry
from ._redact import redact_url

__all__ = ["HeartbeatHost", "Liveness"]

_log = logging.getLogger("zenws.heartbeat")

# Shortest re-arm delay: uvloop timers have millisecond resolution and may fire a hair early.
_MIN_REARM: Final = 0.001


def _emit(event: str, measurements: dict[str, Any], metadata: dict[str, Any]) -> None:
    if telemetry.active:
        telemetry.emit(event, measurements, metadata)


def _url_of(host: Any) -> str | None:
    """The host's URL with secrets removed (telemetry exporters label by it), if it has one."""
    url = getattr(getattr(host, "config", None), "url", None)
    return redact_url(url) if isinstance(url, str) else None


def _meta(kind: str, epoch: int, url: str | None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"kind": kind, "epoch": epoch, **extra}
    if url is not None:
        meta["url"] = url
    return meta


def _now_ns() -> int:
    # Same clock as zenws_monotonic_ns() in ext/zenws_compat.h (CLOCK_MONOTONIC on Linux).
    return time.monotonic_ns()


def _check_positive(field: str, value: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise errors.ConfigError(
            f"{field} must be a finite number of seconds > 0, got {value!r}", field=field
        )
    return float(value)


class HeartbeatHost(Protocol):
    """What a heartbeat needs from the connection; implemented by the client."""

    epoch: int

    def send_ping(self, payload: bytes) -> None: ...
    def send_text(self, data: str | bytes) -> None: ...
    async def request(
        self, method: str, params: Any = None, *, timeout: float | None = None
    ) -> Any: ...
    def force_reconnect(self, reason: str) -> None: ...
    def last_frame_ns(self) -> int: ...
    def last_data_ns(self) -> int: ...


class _ConnectionTimers:
    """Per-connection state shared by :class:`Liveness` and the heartbeat strategies.

    Both bind to a freshly opened connection the same way and own a set of named loop timers.
    """

    _host: HeartbeatHost | None
    _loop: asyncio.AbstractEventLoop | None
    _epoch: int
    _url: str | None
    _started_ns: int
    _timers: dict[str, asyncio.TimerHandle]

    def _bind(self, host: HeartbeatHost) -> None:
        """Remember the connection ``host`` just opened (call from the event loop)."""
        self._host = host
        self._loop = asyncio.get_running_loop()
        self._epoch = host.epoch
        self._url = _url_of(host)
        self._started_ns = _now_ns()

    def _cancel_timers(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()


class Liveness(_ConnectionTimers):
    """Two traffic watchdogs per connection, each ending in ``host.force_reconnect``.

    * dead-peer: no frame of any kind (data, ping, pong) within ``heartbeat_timeout``;
    * data-idle: no data frame within ``idle_timeout`` (a feed that silently stopped while
      the server still answers pings).

    Each timer is re-armed exactly at ``last_frame + timeout`` so detection never takes more
    than the timeout (plus one loop iteration), and costs one timer wakeup per timeout period
    on a busy connection.

    When a heartbeat strategy runs on the same connection the dead-peer timer is its backstop:
    on expiry it first asks ``defer_to(epoch)`` (:meth:`Heartbeat.claim_dead_peer`), and stays
    silent if the strategy gives, or already gave, its own verdict (the same silence seen
    with a specific reason: a Deribit heartbeat overdue, a pong that never came).

    Args:
        heartbeat_timeout: dead-peer window in seconds, ``None`` = disabled.
        idle_timeout: data-idle window in seconds, ``None`` = disabled.
        defer_to: called with the epoch when the dead-peer timer expires; True means the
            heartbeat strategy reported the dead peer itself.
    """

    def __init__(
        self,
        heartbeat_timeout: float | None,
        idle_timeout: float | None,
        *,
        defer_to: Callable[[int], bool] | None = None,
    ) -> None:
        self.heartbeat_timeout = (
            None
            if heartbeat_timeout is None
            else _check_positive("heartbeat_timeout", heartbeat_timeout)
        )
        self.idle_timeout = (
            None if idle_timeout is None else _check_positive("idle_timeout", idle_timeout)
        )
        self._host: HeartbeatHost | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._epoch = -1
        self._started_ns = 0
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._url: str | None = None
        self._defer_to = defer_to
        self.fired = 0

    @property
    def enabled(self) -> bool:
        """True if at least one timer is configured."""
        return self.heartbeat_timeout is not None or self.idle_timeout is not None

    def start(self, host: HeartbeatHost) -> None:
        """Arm the timers for a freshly opened connection."""
        self.stop()
        self._bind(host)
        if self.heartbeat_timeout is not None:
            self._check("dead_peer", int(self.heartbeat_timeout * 1e9), host.last_frame_ns)
        if self.idle_timeout is not None:
            self._check("data_idle", int(self.idle_timeout * 1e9), host.last_data_ns)

    def stop(self) -> None:
        """Cancel both timers; idempotent."""
        self._cancel_timers()
        self._host = None

    def _check(self, name: str, window_ns: int, last_ns: Callable[[], int]) -> None:
        self._timers.pop(name, None)
        host, loop = self._host, self._loop
        if host is None or loop is None:
            return
        base = max(last_ns(), self._started_ns)
        remaining = base + window_ns - _now_ns()
        if remaining > 0:
            self._timers[name] = loop.call_later(
                max(remaining / 1e9, _MIN_REARM), self._check, name, window_ns, last_ns
            )
            return
        epoch = self._epoch
        if name == "dead_peer" and self._defer_to is not None and self._defer_to(epoch):
            self.stop()  # the strategy reported it (and forced the reconnect)
            return
        what = "no frame" if name == "dead_peer" else "no data frame"
        reason = f"{name.replace('_', '-')}: {what} for {window_ns / 1e9:.3f} s"
        self.fired += 1
        _log.warning("liveness timer expired (epoch %d): %s", epoch, reason)
        _emit("heartbeat.missed", {}, _meta(name, epoch, self._url, reason=reason))
        self.stop()
        if host.epoch == epoch:
            host.force_reconnect(reason)
