"""Health scoring and failover safety rules used by :class:`zenws.pool.Pool`."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConnectionLost, RateLimited

__all__ = ["MemberHealth", "provably_unsent", "score"]

_PRESSURE_PENALTY = {"none": 0.0, "low": 5.0, "medium": 15.0, "high": 30.0}


@dataclass(frozen=True)
class MemberHealth:
    """Health of one pool member, as computed on the last tick.

    Attributes:
        name: member name (``"<pool>[i]"``, also its :mod:`zenws.registry` name).
        url: endpoint URL with secrets removed.
        state: client state name (``"DOWN"`` when no client exists, ``"SUSPENDED"``).
        score: 0 (unusable) .. 100 (perfect).
        pending: requests in flight.
        p99_ns: p99 request round trip.
        errors: decayed recent-error level.
        pressure: rate-limit pressure level.
        heartbeat_ok: heartbeat healthy (True when no heartbeat is configured).
        restarts: supervisor restarts so far.
    """

    name: str
    url: str
    state: str
    score: int
    pending: int = 0
    p99_ns: int = 0
    errors: float = 0.0
    pressure: str = "none"
    heartbeat_ok: bool = True
    restarts: int = 0


def score(
    *,
    open: bool,
    pending: int = 0,
    p99_ns: int = 0,
    errors: float = 0.0,
    pressure: str = "none",
    heartbeat_ok: bool = True,
    write_paused: bool = False,
    latency_ref_ns: int = 25_000_000,
) -> int:
    """Combine client signals into a 0-100 health score.

    Penalties: pending requests up to 20 (1 per request), p99 latency up to 35
    (``35 * p99 / (p99 + latency_ref)``, half at ``latency_ref``), recent errors up to 30
    (10 per decayed error), rate-limit pressure 0/5/15/30, write back-pressure 20, an unhealthy
    heartbeat 50. A connection that is not open scores 0.

    Returns:
        The score, an int in 0..100.
    """
    if not open:
        return 0
    p = min(20.0, float(pending))
    p += 35.0 * p99_ns / (p99_ns + latency_ref_ns) if p99_ns > 0 else 0.0
    p += min(30.0, 10.0 * errors)
    p += _PRESSURE_PENALTY.get(pressure, 0.0)
    p += 20.0 if write_paused else 0.0
    p += 0.0 if heartbeat_ok else 50.0
    return max(0, min(100, round(100.0 - p)))


def provably_unsent(exc: BaseException) -> bool:
    """True when ``Client.request`` raised before writing the request.

    ``RateLimited`` is raised by the limiter before sending. ``ConnectionLost`` is "unsent"
    when the client says so (``exc.sent is False``) or when it was raised by the client's
    open-connection check (``Client._open_listener``), which runs before every write; a
    ConnectionLost delivered to the waiting future (the request was written) is not.
    """
    if isinstance(exc, RateLimited):
        return True
    sent = getattr(exc, "sent", None)
    if sent is not None:
        return not sent
    if not isinstance(exc, ConnectionLost):
        return False
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_name
        tb = tb.tb_next
    return last == "_open_listener"
