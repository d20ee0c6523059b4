"""Deribit session policy: cancel-on-disconnect scopes, the credit limiter, metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

__all__ = ["COD_SCOPES", "DeribitMetrics", "cod_scope", "deribit_limiter"]

COD_SCOPES = ("connection", "account")


@dataclass(frozen=True)
class DeribitMetrics:
    """Adapter counters plus the client's :class:`~zenws.metrics.StateMetrics`.

    Attributes:
        gaps: book sequence gaps detected.
        resyncs: book channels resubscribed after a gap.
        malformed: book messages that could not be applied (each resyncs its book).
        auths: successful ``public/auth`` with credentials (one per connection).
        refreshes: successful token refreshes.
        rate_limit_pauses: 10028 pauses.
        authenticated: the current connection holds a session.
        cancel_on_disconnect: the enabled scope, or ``None``.
        client: the underlying client's metrics.
    """

    gaps: int
    resyncs: int
    malformed: int
    auths: int
    refreshes: int
    rate_limit_pauses: int
    authenticated: bool
    cancel_on_disconnect: str | None
    client: Any


def deribit_limiter(margin: float) -> Any:
    """The ``deribit`` credit preset with pools and burst scaled by ``margin``.

    The server refills its buckets by *arrival* time: a burst delayed on the way (a loaded
    host, a busy link) arrives compressed, so a client limiter with exactly the server's pool
    can still trigger 10028.  Keeping ``1 - margin`` of each pool in reserve absorbs that much
    delivery jitter (10 % of 50,000 credits = 0.5 s of refill).
    """
    from ..ratelimit import preset

    if not 0 < margin <= 1:
        raise ConfigError("rate_limit_margin: must be in (0, 1]", field="rate_limit_margin")
    return preset(
        "deribit",
        credits_pool=50_000 * margin,
        subscribe_pool=30_000 * margin,
        matching_engine_burst=max(1.0, 20 * margin),
    )


def cod_scope(value: bool | str) -> str | None:
    if value is False or value is None:
        return None
    scope = "connection" if value is True else value
    if scope not in COD_SCOPES:
        raise ConfigError(
            f"cancel_on_disconnect: must be a bool or one of {COD_SCOPES}, got {value!r}",
            field="cancel_on_disconnect",
        )
    return scope
