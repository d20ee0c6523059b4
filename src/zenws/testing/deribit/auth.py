"""``public/auth`` for the simulator: client_credentials, client_signature (HMAC-SHA256 checked)
and refresh_token grants, token expiry, and the per-connection session.

Deribit reference: https://docs.deribit.com/#public-auth (signature = hex HMAC-SHA256 of
``"{timestamp}\\n{nonce}\\n{data}"`` keyed with the client secret).
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time
from dataclasses import dataclass, field
from typing import Any

from .knobs import DeribitKnobs, RpcFault

__all__ = ["Session", "Tokens", "sign"]


def sign(secret: str, timestamp: int, nonce: str, data: str = "") -> str:
    """The ``client_signature`` a Deribit client sends (helper for tests and demos).

    Args:
        secret: client secret.
        timestamp: milliseconds since the epoch.
        nonce: random string chosen by the client.
        data: optional extra data.

    Returns:
        Lower-case hex HMAC-SHA256.
    """
    message = f"{timestamp}\n{nonce}\n{data}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass
class Session:
    """Per-connection state kept in ``connection.state["deribit"]``.

    Attributes:
        client_id: authenticated account, or None.
        access_token: the token this connection authenticated with.
        subscriptions: channels this connection is subscribed to.
        cod_enabled: cancel-on-disconnect is on.
        cod_scope: ``"connection"`` or ``"account"``.
        heartbeat_interval: seconds, or None when heartbeats are off.
        test_request_pending: a test_request awaits its ``public/test`` reply.
        logged_out: ``private/logout`` was called (cancel-on-disconnect does not fire).
        closing: the simulator ended the session (rate limit, idle, logout): requests ignored.
        last_activity: monotonic seconds of the last client message.
    """

    client_id: str | None = None
    access_token: str | None = field(default=None, repr=False)
    subscriptions: set[str] = field(default_factory=set)
    cod_enabled: bool = False
    cod_scope: str = "connection"
    heartbeat_interval: float | None = None
    test_request_pending: bool = False
    logged_out: bool = False
    closing: bool = False
    last_activity: float = field(default_factory=time.monotonic)
    heartbeat_task: Any = None


@dataclass
class _Token:
    client_id: str
    expires_at: float
    refresh: bool


class Tokens:
    """Issues and checks access/refresh tokens (never logged, never in reprs)."""

    def __init__(self, knobs: DeribitKnobs) -> None:
        """Seeded token generator."""
        self.knobs = knobs
        self.rng = random.Random(f"{knobs.seed}:tokens")
        self._tokens: dict[str, _Token] = {}

    def __repr__(self) -> str:
        return f"<Tokens issued={len(self._tokens)}>"

    def _new(self, client_id: str, ttl: float, refresh: bool) -> str:
        token = (
            f"{int(time.time() * 1000)}.{self.rng.getrandbits(64):016x}.{'R' if refresh else 'A'}"
        )
        self._tokens[token] = _Token(client_id, time.monotonic() + ttl, refresh)
        return token

    def grant(self, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Run ``public/auth``; returns (client_id, result).

        Raises:
            RpcFault: -32602 for missing/unknown parameters, 13004 for bad credentials.
        """
        grant = params.get("grant_type")
        if grant == "client_credentials":
            client_id = self._check_secret(params)
        elif grant == "client_signature":
            client_id = self._check_signature(params)
        elif grant == "refresh_token":
            client_id = self._check_refresh(params)
        else:
            raise RpcFault(
                -32602, "Invalid params", {"reason": "invalid grant_type", "param": "grant_type"}
            )
        ttl = self.knobs.access_token_ttl
        access = self._new(client_id, ttl, refresh=False)
        refresh = self._new(client_id, self.knobs.refresh_token_ttl, refresh=True)
        return client_id, {
            "access_token": access,
            # Deribit sends whole seconds; a fractional test TTL is sent as is, so that
            # expires_in is exactly how long the token lives.
            "expires_in": int(ttl) if float(ttl).is_integer() else ttl,
            "refresh_token": refresh,
            "scope": "connection mainaccount",
            "enabled_features": [],
            "token_type": "bearer",
        }

    def _client(self, params: dict[str, Any]) -> tuple[str, str]:
        client_id = params.get("client_id")
        if not isinstance(client_id, str):
            raise RpcFault(-32602, "Invalid params", {"reason": "missing", "param": "client_id"})
        secret = self.knobs.credentials.get(client_id)
        if secret is None:
            raise RpcFault(13004, "invalid_credentials")
        return client_id, secret

    def _check_secret(self, params: dict[str, Any]) -> str:
        client_id, secret = self._client(params)
        given = params.get("client_secret")
        if not isinstance(given, str) or not hmac.compare_digest(given, secret):
            raise RpcFault(13004, "invalid_credentials")
        return client_id

    def _check_signature(self, params: dict[str, Any]) -> str:
        client_id, secret = self._client(params)
        timestamp, nonce = params.get("timestamp"), params.get("nonce")
        signature = params.get("signature")
        if not isinstance(timestamp, int) or not isinstance(nonce, str):
            raise RpcFault(-32602, "Invalid params", {"reason": "invalid format", "param": "nonce"})
        if abs(time.time() * 1000 - timestamp) > self.knobs.signature_window * 1000:
            raise RpcFault(13004, "invalid_credentials", {"reason": "timestamp out of window"})
        expected = sign(secret, timestamp, nonce, str(params.get("data", "")))
        if not isinstance(signature, str) or not hmac.compare_digest(signature, expected):
            raise RpcFault(13004, "invalid_credentials")
        return client_id

    def _check_refresh(self, params: dict[str, Any]) -> str:
        token = params.get("refresh_token")
        entry = self._tokens.get(token) if isinstance(token, str) else None
        if entry is None or not entry.refresh or entry.expires_at < time.monotonic():
            raise RpcFault(13004, "invalid_credentials", {"reason": "invalid refresh token"})
        del self._tokens[token]  # type: ignore[arg-type]  # refresh tokens are single-use
        return entry.client_id

    def check_access(self, token: str | None) -> str:
        """Return the account of a valid access token.

        Raises:
            RpcFault: 10000 when no token was given, 13009 when it is unknown or expired.
        """
        if token is None:
            raise RpcFault(10000, "authorization_required")
        entry = self._tokens.get(token)
        if entry is None or entry.refresh:
            raise RpcFault(13009, "unauthorized")
        if entry.expires_at < time.monotonic():
            raise RpcFault(13009, "unauthorized", {"reason": "token_expired"})
        return entry.client_id

    def expire(self, client_id: str | None = None) -> int:
        """Expire every access token (of one account); returns how many."""
        count = 0
        for entry in self._tokens.values():
            if not entry.refresh and (client_id is None or entry.client_id == client_id):
                entry.expires_at = 0.0
                count += 1
        return count
