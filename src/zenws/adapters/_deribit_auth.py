"""Deribit credentials and ``public/auth`` parameters.

Grant types (https://docs.deribit.com/#public-auth):

- ``client_credentials``: ``client_id`` + ``client_secret`` sent as is (TLS protects them);
- ``client_signature``: the secret never leaves the process; the request carries
  ``timestamp`` (ms), a random ``nonce`` and ``signature = HMAC-SHA256(secret,
  "{timestamp}\\n{nonce}\\n{data}")`` in hex;
- ``refresh_token``: renew the session before ``expires_in`` runs out.

:class:`Credentials` never shows the secret in ``repr`` and :class:`Token` never shows tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

__all__ = ["GRANTS", "Credentials", "Token", "sign"]

GRANTS = ("client_credentials", "client_signature")


def sign(secret: str, timestamp_ms: int, nonce: str, data: str = "") -> str:
    """Deribit ``client_signature``: hex HMAC-SHA256 of ``"{timestamp}\\n{nonce}\\n{data}"``.

    Args:
        secret: the client secret.
        timestamp_ms: milliseconds since the epoch.
        nonce: a random string.
        data: optional extra data (usually empty).

    Returns:
        The lowercase hex digest.
    """
    message = f"{timestamp_ms}\n{nonce}\n{data}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Credentials:
    """API key pair plus how to present it.

    Attributes:
        client_id: the API key id.
        client_secret: the API secret (hidden from ``repr``).
        grant: ``"client_credentials"`` or ``"client_signature"``.
    """

    client_id: str
    client_secret: str = field(repr=False)
    grant: str = "client_credentials"

    def __post_init__(self) -> None:
        if not isinstance(self.client_id, str) or not self.client_id:
            raise ConfigError("client_id: must be a non-empty str", field="client_id")
        if not isinstance(self.client_secret, str) or not self.client_secret:
            raise ConfigError("client_secret: must be a non-empty str", field="client_secret")
        if self.grant not in GRANTS:
            raise ConfigError(
                f"grant: must be one of {', '.join(GRANTS)}, got {self.grant!r}", field="grant"
            )

    @classmethod
    def resolve(
        cls, client_id: str | None, client_secret: str | None, grant: str
    ) -> Credentials | None:
        """Use the arguments, else ``DERIBIT_CLIENT_ID`` / ``DERIBIT_CLIENT_SECRET``.

        Returns:
            Credentials, or ``None`` when neither source has both values.

        Raises:
            ConfigError: only one of the two values was given.
        """
        cid = client_id if client_id is not None else os.environ.get("DERIBIT_CLIENT_ID")
        sec = (
            client_secret if client_secret is not None else os.environ.get("DERIBIT_CLIENT_SECRET")
        )
        if not cid and not sec:
            return None
        if not cid or not sec:
            missing = "client_id" if not cid else "client_secret"
            raise ConfigError(
                f"{missing}: client_id and client_secret go together "
                "(arguments or DERIBIT_CLIENT_ID / DERIBIT_CLIENT_SECRET)",
                field=missing,
            )
        return cls(cid, sec, grant)

    def auth_params(self, *, data: str = "", scope: str | None = None) -> dict[str, Any]:
        """The ``public/auth`` params for this grant (fresh timestamp and nonce each call)."""
        params: dict[str, Any]
        if self.grant == "client_signature":
            ts = int(time.time() * 1000)
            nonce = secrets.token_hex(8)
            params = {
                "grant_type": "client_signature",
                "client_id": self.client_id,
                "timestamp": ts,
                "nonce": nonce,
                "signature": sign(self.client_secret, ts, nonce, data),
                "data": data,
            }
        else:
            params = {
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            }
        if scope:
            params["scope"] = scope
        return params


@dataclass
class Token:
    """The session returned by ``public/auth`` (tokens hidden from ``repr``).

    Attributes:
        access_token: bearer token.
        refresh_token: token for ``grant_type=refresh_token``.
        expires_in: lifetime in seconds when issued.
        scope: granted scope.
        issued_at: ``time.monotonic()`` when received.
        epoch: connection epoch it was obtained on.
    """

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: float
    scope: str = ""
    issued_at: float = 0.0
    epoch: int = 0

    @classmethod
    def from_result(cls, result: Any, epoch: int) -> Token:
        """Parse an auth result.

        Raises:
            ValueError: the result lacks the token fields.
        """
        if not isinstance(result, dict) or "access_token" not in result:
            raise ValueError("public/auth result has no access_token")
        return cls(
            access_token=str(result["access_token"]),
            refresh_token=str(result.get("refresh_token", "")),
            expires_in=float(result.get("expires_in", 0) or 0),
            scope=str(result.get("scope", "")),
            issued_at=time.monotonic(),
            epoch=epoch,
        )

    def refresh_delay(self, fraction: float = 0.8) -> float | None:
        """Seconds from issue until a refresh is due (``fraction`` of ``expires_in``)."""
        if self.expires_in <= 0 or not self.refresh_token:
            return None
        return self.expires_in * fraction
