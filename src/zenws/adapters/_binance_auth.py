"""Binance request signing and the server clock estimate.

Signed requests (security types ``TRADE`` and ``USER_DATA``) carry ``apiKey``,
``timestamp`` (ms), an optional ``recvWindow`` and ``signature``, computed over the payload
``key=value`` pairs of every other parameter sorted by name and joined with ``&``
(https://developers.binance.com/docs/binance-spot-api-docs/web-socket-api/request-security;
the rule itself is :func:`zenws.exchanges.binance.signature_payload`):

- HMAC-SHA256 keys: ``signature`` = the lowercase hex digest with the secret key;
- Ed25519 keys: ``signature`` = the base64 of the Ed25519 signature of the payload; only
  these keys may ``session.logon``, after which requests omit ``apiKey`` and ``signature``.

The server accepts a request when ``timestamp < serverTime + 1000`` and
``serverTime - timestamp <= recvWindow``; :class:`ServerClock` keeps the local estimate of
``serverTime`` so that a drifting host clock does not push requests outside that window.

:class:`Credentials` never shows its secrets in ``repr``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..exchanges.binance import signature_payload

__all__ = ["KEY_TYPES", "ClockSample", "Credentials", "ServerClock", "signature_payload"]

KEY_TYPES = ("hmac", "ed25519")


def _load_ed25519(key: Any, password: bytes | None) -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            'Ed25519 keys need the cryptography package: pip install "zenws[binance]"',
            name="cryptography",
        ) from exc
    if isinstance(key, Ed25519PrivateKey):
        return key
    if isinstance(key, str):
        key = key.encode()
    if not isinstance(key, bytes):
        raise ConfigError(
            "private_key: must be PEM text/bytes or an Ed25519PrivateKey", field="private_key"
        )
    try:
        loaded = serialization.load_pem_private_key(key, password=password)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"private_key: not a PEM private key ({type(exc).__name__})", field="private_key"
        ) from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ConfigError("private_key: not an Ed25519 key", field="private_key")
    return loaded


@dataclass(frozen=True)
class Credentials:
    """An API key and what signs for it (secrets hidden from ``repr``).

    Give exactly one of ``secret_key`` (HMAC-SHA256) and ``private_key`` (Ed25519, PEM or a
    ``cryptography`` key object).

    Attributes:
        api_key: the API key (sent as ``apiKey``; hidden from ``repr`` too).
        secret_key: HMAC secret.
        private_key: Ed25519 private key.
        key_type: ``"hmac"`` or ``"ed25519"``.
    """

    api_key: str = field(repr=False)
    secret_key: str | None = field(default=None, repr=False)
    private_key: Any = field(default=None, repr=False)
    private_key_password: bytes | None = field(default=None, repr=False)
    key_type: str = field(default="", init=False)
    _signer: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.api_key, str) or not self.api_key:
            raise ConfigError("api_key: must be a non-empty str", field="api_key")
        if (self.secret_key is None) == (self.private_key is None):
            raise ConfigError(
                "give exactly one of secret_key (HMAC) and private_key (Ed25519)",
                field="secret_key",
            )
        if self.secret_key is not None:
            if not isinstance(self.secret_key, str) or not self.secret_key:
                raise ConfigError("secret_key: must be a non-empty str", field="secret_key")
            object.__setattr__(self, "key_type", "hmac")
            return
        object.__setattr__(self, "key_type", "ed25519")
        object.__setattr__(
            self, "_signer", _load_ed25519(self.private_key, self.private_key_password)
        )

    def sign(self, payload: str) -> str:
        """The ``signature`` of ``payload`` (hex HMAC-SHA256, or base64 Ed25519)."""
        if self.key_type == "hmac":
            assert self.secret_key is not None
            return hmac.new(self.secret_key.encode(), payload.encode(), hashlib.sha256).hexdigest()
        return base64.b64encode(self._signer.sign(payload.encode())).decode()

    def signed(
        self,
        params: Mapping[str, Any] | None,
        timestamp_ms: int,
        recv_window: float | None,
        *,
        with_key: bool = True,
    ) -> dict[str, Any]:
        """``params`` plus ``apiKey``, ``timestamp``, ``recvWindow`` and ``signature``.

        Args:
            params: the method's own parameters.
            timestamp_ms: the request's ``timestamp`` (server time estimate, ms).
            recv_window: ``recvWindow`` in ms, or ``None`` for the server's default (5000).
            with_key: ``False`` after ``session.logon``: only ``timestamp`` (and
                ``recvWindow``) are added, no ``apiKey`` and no ``signature``.

        Returns:
            A new dict.
        """
        out = dict(params or {})
        out["timestamp"] = int(timestamp_ms)
        if recv_window is not None:
            out["recvWindow"] = recv_window
        if not with_key:
            return out
        out["apiKey"] = self.api_key
        out["signature"] = self.sign(signature_payload(out))
        return out

    def __repr__(self) -> str:
        return f"Credentials(key_type={self.key_type!r}, api_key='***')"


@dataclass(frozen=True)
class ClockSample:
    """One ``time`` round trip: the offset it implies and how long it took (ms)."""

    offset_ms: float
    rtt_ms: float
    at: float


class ServerClock:
    """The server's clock, estimated from ``time`` round trips.

    Each sample: local send time ``t0``, the server's ``serverTime`` ``T``, local receive
    time ``t1``; the offset is ``T - (t0 + t1) / 2``, uncertain by at most ``rtt / 2``.
    The estimate is the offset of the minimum-RTT sample among the last ``keep`` (the one
    least distorted by queueing), so one slow round trip does not move it.

    Args:
        keep: samples kept.
        wall: the local wall clock in seconds (tests inject a drifting one).
    """

    def __init__(self, keep: int = 8, wall: Any = time.time) -> None:
        self._samples: deque[ClockSample] = deque(maxlen=keep)
        self._wall = wall
        self.refreshed_at: float | None = None

    def local_ms(self) -> float:
        """The local wall clock in ms."""
        return float(self._wall()) * 1000.0

    def add(self, t0_ms: float, server_ms: float, t1_ms: float) -> ClockSample:
        """Record one round trip (local ms before, server ms, local ms after)."""
        sample = ClockSample(server_ms - (t0_ms + t1_ms) / 2.0, max(0.0, t1_ms - t0_ms), t1_ms)
        self._samples.append(sample)
        self.refreshed_at = time.monotonic()
        return sample

    def clear(self) -> None:
        """Forget every sample (after a -1021: the clock moved)."""
        self._samples.clear()
        self.refreshed_at = None

    @property
    def best(self) -> ClockSample | None:
        """The minimum-RTT sample, or ``None`` before the first."""
        return min(self._samples, key=lambda s: s.rtt_ms, default=None)

    @property
    def offset_ms(self) -> float:
        """Server minus local clock in ms (0 before the first sample)."""
        best = self.best
        return best.offset_ms if best is not None else 0.0

    def now_ms(self) -> int:
        """The server time estimate, in whole ms."""
        return int(self.local_ms() + self.offset_ms)

    def __len__(self) -> int:
        return len(self._samples)
