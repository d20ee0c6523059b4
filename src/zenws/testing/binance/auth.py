"""API keys, signatures, ``recvWindow`` checks and logged-on sessions of the simulator.

HMAC-SHA-256 (hex, case-insensitive) and Ed25519 (base64) signatures over
:func:`zenws.exchanges.binance.signature_payload`.  Ed25519 needs the ``cryptography`` package
(the ``zenws[binance]`` extra), imported only when an Ed25519 key is added.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...exchanges import binance
from .knobs import ApiError

__all__ = ["Keys", "Session"]


@dataclass
class Session:
    """The ``session.logon`` state of one WebSocket API connection.

    Attributes:
        connected_since: epoch ms of the connection.
        api_key: the logged-on key (``None`` before ``session.logon`` and after logout).
        authorized_since: epoch ms of the logon.
        subscriptions: user-data subscription ids of this connection.
    """

    connected_since: int
    api_key: str | None = None
    authorized_since: int | None = None
    subscriptions: set[int] | None = None

    def status(self, server_time: int, user_stream: bool) -> dict[str, Any]:
        """The ``session.*`` result object."""
        return {
            "apiKey": self.api_key,
            "authorizedSince": self.authorized_since,
            "connectedSince": self.connected_since,
            "returnRateLimits": True,
            "serverTime": server_time,
            "userDataStream": user_stream,
        }


def _ed25519_public(key: Any) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, str):
        key = key.encode()
    if isinstance(key, bytes) and key.lstrip().startswith(b"-----BEGIN"):
        loaded = load_pem_public_key(key)
        if not isinstance(loaded, Ed25519PublicKey):
            raise ValueError("the PEM key is not an Ed25519 public key")
        return loaded
    if isinstance(key, bytes) and len(key) == 32:
        return Ed25519PublicKey.from_public_bytes(key)
    raise ValueError("an Ed25519 public key is a PEM text, 32 raw bytes or an Ed25519PublicKey")


class Keys:
    """The API keys the simulator accepts: ``api_key -> HMAC secret or Ed25519 public key``."""

    def __init__(self) -> None:
        self._hmac: dict[str, bytes] = {}
        self._ed25519: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<Keys hmac={len(self._hmac)} ed25519={len(self._ed25519)}>"

    def add_hmac(self, api_key: str, secret: str | bytes) -> None:
        """Accept ``api_key`` with HMAC-SHA-256 signatures made with ``secret``."""
        self._hmac[api_key] = secret.encode() if isinstance(secret, str) else bytes(secret)
        self._ed25519.pop(api_key, None)

    def add_ed25519(self, api_key: str, public_key: Any) -> None:
        """Accept ``api_key`` with Ed25519 signatures (PEM text, 32 raw bytes or key object).

        Raises:
            ValueError: the key is not an Ed25519 public key.
            ImportError: ``cryptography`` is not installed (``pip install zenws[binance]``).
        """
        self._ed25519[api_key] = _ed25519_public(public_key)
        self._hmac.pop(api_key, None)

    def remove(self, api_key: str) -> None:
        """Stop accepting ``api_key`` (requests with it get -2015)."""
        self._hmac.pop(api_key, None)
        self._ed25519.pop(api_key, None)

    def is_ed25519(self, api_key: str) -> bool:
        """True for an Ed25519 key."""
        return api_key in self._ed25519

    def verify(self, params: Mapping[str, Any]) -> str:
        """Check ``apiKey`` and ``signature`` of a SIGNED request.

        Returns:
            The API key.

        Raises:
            ApiError: -1102 (missing), -2014 (key not a string), -2015 (unknown key),
                -1022 (bad signature).
        """
        api_key = params.get("apiKey")
        if api_key is None or api_key == "":
            raise ApiError(-1102, "apiKey")
        if not isinstance(api_key, str):
            raise ApiError(-2014)
        if api_key not in self._hmac and api_key not in self._ed25519:
            raise ApiError(-2015, status=401)
        signature = params.get("signature")
        if not isinstance(signature, str) or not signature:
            raise ApiError(-1102, "signature")
        payload = binance.signature_payload(params).encode()
        if not self._valid(api_key, payload, signature):
            raise ApiError(-1022)
        return api_key

    def _valid(self, api_key: str, payload: bytes, signature: str) -> bool:
        secret = self._hmac.get(api_key)
        if secret is not None:
            digest = hmac.new(secret, payload, hashlib.sha256).hexdigest()
            return hmac.compare_digest(digest, signature.lower())  # HMAC: case-insensitive
        from cryptography.exceptions import InvalidSignature

        try:
            raw = base64.b64decode(signature, validate=True)
            self._ed25519[api_key].verify(raw, payload)
        except (InvalidSignature, ValueError):
            return False
        return True


def check_timestamp(params: Mapping[str, Any], server_ms: float) -> None:
    """Apply the documented ``timestamp`` / ``recvWindow`` rule.

    Raises:
        ApiError: -1102 (missing ``timestamp``), -1131 (``recvWindow`` over 60000), -1021.
    """
    ts = params.get("timestamp")
    if isinstance(ts, bool) or not isinstance(ts, int):
        raise ApiError(-1102, "timestamp")
    window = params.get("recvWindow", binance.RECV_WINDOW_DEFAULT)
    if isinstance(window, bool) or not isinstance(window, (int, float)) or window <= 0:
        raise ApiError(-1102, "recvWindow")
    if window > binance.RECV_WINDOW_MAX:
        raise ApiError(-1131)
    if ts >= 10**15:  # microseconds are accepted too
        ts //= 1000
    if ts >= server_ms + binance.TIMESTAMP_AHEAD_MS:
        raise ApiError(
            -1021,
            msg=f"Timestamp for this request was {binance.TIMESTAMP_AHEAD_MS}ms ahead of the "
            "server's time.",
        )
    if server_ms - ts > window:
        raise ApiError(-1021)


def now_ms(offset_ms: float) -> int:
    """The simulated server clock (epoch ms)."""
    return int(time.time() * 1000 + offset_ms)
