"""Heartbeat strategies and liveness timers.

A :class:`Heartbeat` decides when a connection is dead *from the protocol's point of view*
(a pong that never came, a Deribit heartbeat that stopped); :class:`Liveness` decides it from
raw traffic (no frame at all / no data frame for too long).  Both only schedule
``loop.call_later`` timers: no task per tick, no busy loop.  On expiry they call
``host.force_reconnect(reason)``; the client closes the transport, fails pending requests,
reconnects and calls :meth:`Heartbeat.stop` / :meth:`Heartbeat.start` around it.

Timers re-arm at exactly ``last_event + timeout`` (reading the monotonic clock when they fire,
the same clock the hot path stamps frames with), so a stalled half-open peer is detected within
the timeout plus one loop iteration, whatever the phase of the traffic.

The hot path (``fast/listener.pyx``) feeds events in: ``on_ping``/``on_pong`` for control
frames, ``on_server_heartbeat``/``on_test_reply`` for Deribit (it answers ``test_request``
itself, before user code) and ``on_text`` for text-payload heartbeats.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import logging
import re
import struct
from collections.abc import Callable
from typing import Any, Final

from . import errors
from ._liveness import (
    _MIN_REARM,
    HeartbeatHost,
    Liveness,
    _check_positive,
    _ConnectionTimers,
    _emit,
    _meta,
    _now_ns,
)
from .exchanges import deribit
from .metrics import HeartbeatHealth

__all__ = [
    "DERIBIT_MIN_INTERVAL",
    "Binance",
    "Deribit",
    "Heartbeat",
    "HeartbeatHealth",
    "HeartbeatHost",
    "Liveness",
    "PingPong",
    "Text",
    "create",
    "from_config",
]

_log = logging.getLogger("zenws.heartbeat")

#: Deribit rejects ``public/set_heartbeat`` intervals below 10 s (zenws.exchanges.deribit).
#: Simulators may go lower.
DERIBIT_MIN_INTERVAL: Final = deribit.MIN_HEARTBEAT_INTERVAL
_PING_STRUCT: Final = struct.Struct(">Q")


class Heartbeat(_ConnectionTimers):
    """Base class of heartbeat strategies (subclass it for a custom protocol).

    Lifecycle: :meth:`start` at every OPEN, :meth:`stop` at every disconnect or close.  A
    strategy that detects a dead peer counts a miss, emits ``heartbeat.missed``, stops itself
    and calls ``host.force_reconnect(reason)``.

    Args:
        interval: seconds between heartbeats (sent by the client or expected from the server).
        timeout: seconds to wait for the answer / the grace after a server heartbeat was due;
            ``None`` means ``interval``.

    Raises:
        ConfigError: a non-positive or non-finite interval or timeout.
    """

    kind: str = "none"

    def __init__(self, interval: float, timeout: float | None = None) -> None:
        self.interval = _check_positive("heartbeat_interval", interval)
        self.timeout = (
            self.interval if timeout is None else _check_positive("heartbeat_timeout", timeout)
        )
        self.misses = 0
        self._host: HeartbeatHost | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._epoch = -1
        self._running = False
        self._started_ns = 0
        self._last_seen_ns = 0
        self._rtt_ns = -1
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._url: str | None = None
        self._missed_epoch = -1

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, host: HeartbeatHost) -> None:
        """Begin on a freshly opened connection (call from the event loop)."""
        self.stop()
        self._bind(host)
        self._running = True
        self._on_start(host)

    def stop(self) -> None:
        """Cancel every timer and task; idempotent, safe before :meth:`start`."""
        self._cancel_timers()
        if self._running:
            self._running = False
            self._on_stop()

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._running

    def fresh(self) -> Heartbeat:
        """Return an idle copy with the same settings (one instance per connection)."""
        clone = copy.copy(self)
        clone._timers = {}
        clone._host = None
        clone._loop = None
        clone._running = False
        clone.misses = 0
        clone._missed_epoch = -1
        clone._last_seen_ns = 0
        clone._rtt_ns = -1
        clone._reset_copy()
        return clone

    @property
    def max_silence(self) -> float:
        """Longest silence from the server (seconds) this strategy tolerates before its miss.

        ``interval + timeout``: the next heartbeat is due within one interval (sent by the
        client, or expected from the server), then its answer / grace gets ``timeout``.
        :func:`from_config` never arms an implicit dead-peer window shorter than this, so the
        strategy's own deadline is not cut short by the backstop.
        """
        return self.interval + self.timeout

    def claim_dead_peer(self, epoch: int) -> bool:
        """Give the strategy's own verdict when the dead-peer timer of ``epoch`` expires.

        The dead-peer timer (:class:`Liveness`) asks this before it reports: if the strategy
        already reported a miss on that connection, or its own deadline has passed by now, the
        strategy reports it (``heartbeat.missed`` with this strategy's ``kind`` and reason, a
        counted miss) and the generic dead-peer verdict is not given a second time.

        Args:
            epoch: connection epoch the dead-peer timer was armed for.

        Returns:
            True if the strategy has (now or earlier) reported the dead peer on ``epoch``.
        """
        if epoch != self._epoch:
            return False
        if self._missed_epoch == epoch:
            return True
        if not self._running:
            return False
        reason = self._overdue(_now_ns())
        if reason is None:
            return False
        self._miss(reason)
        return True

    # -- events from the hot path (default: ignored) -----------------------------------------

    def on_ping(self, payload: bytes, recv_ns: int) -> None:
        """A PING control frame arrived (RFC 6455 §5.5.2)."""

    def on_pong(self, payload: bytes, recv_ns: int) -> None:
        """A PONG control frame arrived (RFC 6455 §5.5.3)."""

    def on_server_heartbeat(self, kind: str, recv_ns: int) -> None:
        """A Deribit ``heartbeat`` notification (``kind`` = ``heartbeat``/``test_request``)."""

    def on_test_reply(self, rtt_ns: int) -> None:
        """The response to the hot path's ``public/test`` arrived after ``rtt_ns``."""

    def on_text(self, data: bytes, recv_ns: int) -> bool:
        """A text message arrived; return True if it was this heartbeat's pong (consumed)."""
        return False

    def health(self) -> HeartbeatHealth:
        """Snapshot for ``client.heartbeat_health()``."""
        return HeartbeatHealth(
            kind=self.kind,
            last_seen=self._last_seen_ns / 1e9 if self._last_seen_ns else None,
            rtt=self._rtt_ns / 1e9 if self._rtt_ns >= 0 else None,
            misses=self.misses,
            healthy=self._running,
        )

    # -- for subclasses ----------------------------------------------------------------------

    def _on_start(self, host: HeartbeatHost) -> None:
        """Schedule the strategy's timers (``self._running`` is already True)."""

    def _on_stop(self) -> None:
        """Release anything besides timers (tasks, outstanding pings)."""

    def _reset_copy(self) -> None:
        """Reset subclass runtime state on a :meth:`fresh` copy."""

    def _overdue(self, now_ns: int) -> str | None:
        """The miss reason if the strategy's deadline has passed at ``now_ns``, else None."""
        return None

    def _arm(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        old = self._timers.pop(name, None)
        if old is not None:
            old.cancel()
        if self._loop is not None and self._running:
            self._timers[name] = self._loop.call_later(max(delay, _MIN_REARM), callback)

    def _disarm(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _seen(self, recv_ns: int) -> None:
        self._last_seen_ns = recv_ns or _now_ns()

    def _record_rtt(self, rtt_ns: int) -> None:
        self._rtt_ns = rtt_ns
        _emit("heartbeat.received", {"rtt_ns": rtt_ns}, _meta(self.kind, self._epoch, self._url))

    def _miss(self, reason: str) -> None:
        """Count a miss and force a reconnect of the connection it was started on."""
        host = self._host
        epoch = self._epoch
        self.misses += 1
        self._missed_epoch = epoch
        _log.warning("heartbeat %s missed (epoch %d): %s", self.kind, epoch, reason)
        _emit(
            "heartbeat.missed",
            {"misses": self.misses},
            _meta(self.kind, epoch, self._url, reason=reason),
        )
        self.stop()
        if host is not None and host.epoch == epoch:
            host.force_reconnect(reason)

    def _watch(self, name: str, window_ns: int, last_ns: Callable[[], int], what: str) -> None:
        """Re-arm ``name`` at ``max(last_ns(), start) + window``; miss if already past."""
        if not self._running:
            return
        base = max(last_ns(), self._started_ns)
        remaining = base + window_ns - _now_ns()
        if remaining <= 0:
            self._miss(f"{what} for {window_ns / 1e9:.3f} s")
            return
        self._arm(name, remaining / 1e9, lambda: self._watch(name, window_ns, last_ns, what))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(interval={self.interval}, timeout={self.timeout})"


class _ClientDriven(Heartbeat):
    """Shared logic of strategies where the client sends and the server answers."""

    def __init__(self, interval: float, timeout: float | None = None) -> None:
        super().__init__(interval, timeout)
        # key -> sent_ns, oldest first; a late answer acknowledges older ones too (RFC 6455
        # §5.5.3 lets a peer answer only the most recent ping).
        self._outstanding: collections.OrderedDict[Any, int] = collections.OrderedDict()
        self._seq = 0

    def _reset_copy(self) -> None:
        self._outstanding = collections.OrderedDict()
        self._seq = 0

    def _on_start(self, host: HeartbeatHost) -> None:
        self._outstanding.clear()
        self._arm("tick", self.interval, self._tick)

    def _on_stop(self) -> None:
        self._outstanding.clear()

    def _next(self) -> tuple[Any, Any]:
        """Build the next heartbeat: ``(key its answer is matched by, payload)``."""
        raise NotImplementedError

    def _transmit(self, host: HeartbeatHost, payload: Any) -> None:
        raise NotImplementedError

    def _tick(self) -> None:
        host = self._host
        if not self._running or host is None:
            return
        self._arm("tick", self.interval, self._tick)
        try:
            key, payload = self._next()
        except Exception:  # a user ping builder must never break the timer chain
            _log.exception("heartbeat %s could not build its ping", self.kind)
            return
        # Registered before sending: an answer can never precede its bookkeeping.
        self._outstanding[key] = _now_ns()
        try:
            self._transmit(host, payload)
        except Exception as exc:  # transport closing: the disconnect path stops us
            self._outstanding.pop(key, None)
            _log.debug("heartbeat %s send failed: %r", self.kind, exc)
            return
        _emit("heartbeat.sent", {}, _meta(self.kind, self._epoch, self._url))
        if "deadline" not in self._timers and self._outstanding:
            self._arm("deadline", self.timeout, self._check_deadline)

    def _check_deadline(self) -> None:
        self._timers.pop("deadline", None)
        if not self._running or not self._outstanding:
            return
        now = _now_ns()
        reason = self._overdue(now)
        if reason is not None:
            self._miss(reason)
        else:
            oldest = next(iter(self._outstanding.values()))
            remaining = oldest + int(self.timeout * 1e9) - now
            self._arm("deadline", remaining / 1e9, self._check_deadline)

    def _overdue(self, now_ns: int) -> str | None:
        if not self._outstanding:
            return None
        oldest = next(iter(self._outstanding.values()))
        if oldest + int(self.timeout * 1e9) > now_ns:
            return None
        return f"no answer to {self.kind} heartbeat within {self.timeout} s"

    def _answered(self, key: Any, recv_ns: int) -> bool:
        sent_ns = self._outstanding.get(key)
        if sent_ns is None:
            return False
        while self._outstanding:
            k, _ = self._outstanding.popitem(last=False)
            if k == key:
                break
        recv_ns = recv_ns or _now_ns()
        self._seen(recv_ns)
        self._record_rtt(max(0, recv_ns - sent_ns))
        if not self._outstanding:
            self._disarm("deadline")
        return True


class PingPong(_ClientDriven):
    """WebSocket PING every ``interval`` with an 8-byte counter payload; PONG within ``timeout``.

    RTT is measured from the matching payload (RFC 6455 §5.5.3: the pong echoes the ping's
    application data).  A pong that does not arrive in time forces a reconnect.
    """

    kind = "ping_pong"

    def _next(self) -> tuple[Any, Any]:
        self._seq += 1
        payload = _PING_STRUCT.pack(self._seq)
        return payload, payload

    def _transmit(self, host: HeartbeatHost, payload: Any) -> None:
        host.send_ping(payload)

    def on_pong(self, payload: bytes, recv_ns: int) -> None:
        """Match the pong to its ping (unknown payloads are unsolicited pongs: ignored)."""
        if self._running:
            self._answered(bytes(payload), recv_ns)


class Text(_ClientDriven):
    """Application-level heartbeat with text payloads (``"ping"``/``"pong"``, JSON, ...).

    Args:
        ping: the message to send, or a callable building it (e.g. with a timestamp).
        pong: how to recognise the answer: exact ``str``/``bytes``, a compiled ``bytes``
            regex (``search``), or a predicate over the raw message bytes.
        interval: seconds between pings.
        timeout: seconds to wait for the pong (default ``interval``).

    Answers are matched first-in first-out (a text pong carries no correlation key).
    """

    kind = "text"

    def __init__(
        self,
        ping: str | bytes | Callable[[], str | bytes] = "ping",
        pong: str | bytes | re.Pattern[bytes] | Callable[[bytes], bool] = "pong",
        interval: float = 15.0,
        timeout: float | None = None,
    ) -> None:
        super().__init__(interval, timeout)
        self.ping = ping
        #: Exact pong bytes when the matcher is a literal: lets the hot path compare in C
        #: and call :meth:`on_text` only on a hit.
        self.pong_bytes: bytes | None = None
        self._match: Callable[[bytes], bool]
        if isinstance(pong, str):
            pong = pong.encode()
        if isinstance(pong, bytes):
            literal = pong
            self.pong_bytes = literal
            self._match = lambda data: bytes(data) == literal
        elif isinstance(pong, re.Pattern):
            pattern = pong
            self._match = lambda data: pattern.search(bytes(data)) is not None
        elif callable(pong):
            self._match = pong
        else:
            raise errors.ConfigError(
                f"text heartbeat pong matcher invalid: {pong!r}", field="heartbeat"
            )

    def _next(self) -> tuple[Any, Any]:
        self._seq += 1
        return self._seq, (self.ping() if callable(self.ping) else self.ping)

    def _transmit(self, host: HeartbeatHost, payload: Any) -> None:
        host.send_text(payload)

    def on_text(self, data: bytes, recv_ns: int) -> bool:
        """Consume ``data`` if it is a pong; RTT is taken against the oldest ping in flight."""
        try:
            hit = bool(self._match(data))
        except Exception:  # a user matcher must never break the read path
            _log.exception("text heartbeat pong matcher raised")
            return False
        if hit and self._running and self._outstanding:
            self._answered(next(iter(self._outstanding)), recv_ns)
        return hit


class _ServerDriven(Heartbeat):
    """The server sends a heartbeat every ``interval``; silence for ``interval + timeout``
    (the grace) forces a reconnect."""

    def _on_start(self, host: HeartbeatHost) -> None:
        self._watch("watchdog", self._window_ns(), self._last_source_ns, self._what())

    def _window_ns(self) -> int:
        return int((self.interval + self.timeout) * 1e9)

    def _overdue(self, now_ns: int) -> str | None:
        window_ns = self._window_ns()
        if max(self._last_source_ns(), self._started_ns) + window_ns > now_ns:
            return None
        return f"{self._what()} for {window_ns / 1e9:.3f} s"

    def _last_source_ns(self) -> int:
        return self._last_seen_ns

    def _what(self) -> str:
        return f"no {self.kind} server heartbeat"


class Binance(_ServerDriven):
    """Binance-style: the server PINGs every ``interval`` (20 s on Binance spot), the client
    PONGs (picows' auto-pong does it at once); no server ping within ``interval + timeout``
    forces a reconnect."""

    kind = "binance"

    def on_ping(self, payload: bytes, recv_ns: int) -> None:
        """Record the server's ping (the pong itself is sent by the transport)."""
        self._seen(recv_ns)
        _emit("heartbeat.received", {}, _meta(self.kind, self._epoch, self._url))


class Deribit(_ServerDriven):
    """Deribit heartbeat: ``public/set_heartbeat`` at every (re)connect.

    The server then sends ``heartbeat`` and ``test_request`` notifications every ``interval``;
    the hot path answers each ``test_request`` with ``public/test`` and reports its round trip
    through :meth:`on_test_reply` (that is the RTT).  No server heartbeat within
    ``interval + timeout`` forces a reconnect.

    Args:
        interval: seconds, sent as ``params.interval``; at least ``min_interval``.
        timeout: grace after a heartbeat was due (default ``interval``).
        min_interval: lowest accepted interval (Deribit: 10 s); lower it only for simulators.

    Raises:
        ConfigError: ``interval < min_interval``.
    """

    kind = "deribit"

    def __init__(
        self,
        interval: float = 15.0,
        timeout: float | None = None,
        *,
        min_interval: float = DERIBIT_MIN_INTERVAL,
    ) -> None:
        super().__init__(interval, timeout)
        if self.interval < min_interval:
            raise errors.ConfigError(
                f"heartbeat_interval for deribit must be >= {min_interval} s "
                f"(Deribit rejects shorter intervals), got {interval!r}",
                field="heartbeat_interval",
            )
        self.min_interval = min_interval
        self._task: asyncio.Task[None] | None = None

    def _reset_copy(self) -> None:
        self._task = None

    @property
    def wire_interval(self) -> int | float:
        """``params.interval`` as sent: an int when whole (Deribit documents an integer)."""
        iv = self.interval
        return int(iv) if iv.is_integer() else iv

    def _on_start(self, host: HeartbeatHost) -> None:
        super()._on_start(host)
        assert self._loop is not None
        self._task = self._loop.create_task(self._set_heartbeat(host, self._epoch))

    def _on_stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()

    async def _set_heartbeat(self, host: HeartbeatHost, epoch: int) -> None:
        try:
            await host.request(deribit.SET_HEARTBEAT, {"interval": self.wire_interval})
        except asyncio.CancelledError:
            raise
        except (errors.ConnectionLost, errors.RequestTimeout) as exc:
            _log.debug("public/set_heartbeat not answered (epoch %d): %r", epoch, exc)
        except Exception as exc:
            # The watchdog still enforces liveness; surface the cause for the operator.
            _log.error("public/set_heartbeat failed (epoch %d): %r", epoch, exc)

    def on_server_heartbeat(self, kind: str, recv_ns: int) -> None:
        """A ``heartbeat``/``test_request`` notification arrived: the server is alive."""
        self._seen(recv_ns)

    def on_test_reply(self, rtt_ns: int) -> None:
        """Round trip of the hot path's ``public/test`` answer to a test_request."""
        if rtt_ns >= 0:
            self._record_rtt(rtt_ns)


_STRATEGIES: Final[dict[str, type[Heartbeat]]] = {
    "ping_pong": PingPong,
    "deribit": Deribit,
    "binance": Binance,
    "text": Text,
}


def create(
    spec: str | Heartbeat | None, interval: float = 15.0, timeout: float | None = None, **kw: Any
) -> Heartbeat | None:
    """Build the heartbeat named by ``Config.heartbeat``.

    Args:
        spec: ``None``/``"none"``, a strategy name (``"ping_pong"``, ``"deribit"``,
            ``"binance"``, ``"text"``) or a :class:`Heartbeat` object (returned as an idle
            :meth:`~Heartbeat.fresh` copy so connections never share timers; its own
            interval/timeout win over the arguments).
        interval: ``Config.heartbeat_interval``.
        timeout: ``Config.heartbeat_timeout`` (``None`` = ``interval``).
        **kw: strategy options (``ping``/``pong`` for text, ``min_interval`` for deribit).

    Returns:
        A stopped Heartbeat, or ``None`` for no heartbeat.

    Raises:
        ConfigError: unknown name or invalid values.
    """
    if spec is None or spec == "none":
        return None
    if isinstance(spec, Heartbeat):
        return spec.fresh()
    if isinstance(spec, str) and spec in _STRATEGIES:
        return _STRATEGIES[spec](interval=interval, timeout=timeout, **kw)
    raise errors.ConfigError(
        f"heartbeat must be None, one of {', '.join(['none', *_STRATEGIES])} "
        f"or a Heartbeat, got {spec!r}",
        field="heartbeat",
    )


def from_config(config: Any) -> tuple[Heartbeat | None, Liveness | None]:
    """The heartbeat strategy and liveness timers a :class:`zenws.Config` asks for.

    The dead-peer window is ``heartbeat_timeout``, or, when a heartbeat is configured without
    a timeout, ``2 * heartbeat_interval`` -- or the strategy's own deadline
    (:attr:`Heartbeat.max_silence`, ``interval + timeout``) when that is longer: the implicit
    window is a backstop and must not pre-empt a grace the strategy was given.  With neither a
    heartbeat nor a timeout it is off, so a quiet connection is not cut.  When the dead-peer
    timer expires while the strategy's own deadline has passed too, the strategy reports the
    miss (:meth:`Heartbeat.claim_dead_peer`): one verdict, with the specific reason.

    Args:
        config: reads ``heartbeat``, ``heartbeat_interval``, ``heartbeat_timeout`` and
            ``idle_timeout``.

    Returns:
        ``(heartbeat or None, liveness or None)``; both stopped.

    Raises:
        ConfigError: a heartbeat with ``heartbeat_timeout <= heartbeat_interval``: a healthy
            but quiet server is silent for up to one interval, so the dead-peer timer would
            cut it.
    """
    spec = getattr(config, "heartbeat", None)
    interval = getattr(config, "heartbeat_interval", 15.0)
    timeout = getattr(config, "heartbeat_timeout", None)
    idle = getattr(config, "idle_timeout", None)
    hb = create(spec, interval, timeout)
    if hb is not None and timeout is not None and timeout <= hb.interval:
        raise errors.ConfigError(
            f"heartbeat_timeout ({timeout} s) must be greater than heartbeat_interval "
            f"({hb.interval} s): it is the longest silence tolerated, and a healthy server "
            "may send nothing for a whole interval",
            field="heartbeat_timeout",
        )
    dead: float | None = timeout
    if dead is None and hb is not None:
        dead = max(2.0 * hb.interval, hb.max_silence)
    live = Liveness(dead, idle, defer_to=hb.claim_dead_peer if hb is not None else None)
    return hb, (live if live.enabled else None)
