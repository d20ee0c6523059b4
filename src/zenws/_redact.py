"""Secret redaction shared by config reprs, errors, logs and recordings.

One place decides what counts as a secret so that every layer (``Config.__repr__``,
``ConnectError.url``, the recorder, the Deribit adapter's logs) hides the same things.
A name is sensitive when it is one of the well-known credential names or contains
``token``, ``secret``, ``signature``, ``password`` or ``key`` (case-insensitive).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "is_sensitive",
    "redact",
    "redact_headers",
    "redact_mapping",
    "redact_url",
]

REDACTED = "***"

_EXACT = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "client_secret",
        "access_token",
        "refresh_token",
        "signature",
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "sig",
        "auth",
    }
)
_PARTS = ("token", "secret", "signature", "password", "key", "passphrase", "credential")


def is_sensitive(name: str) -> bool:
    """Return True when a header, query or JSON key name may carry a secret.

    Args:
        name: the key name (any case).

    Returns:
        True for credential-like names (``Authorization``, ``client_secret``, ``X-MBX-APIKEY``...).
    """
    low = name.lower()
    return low in _EXACT or any(part in low for part in _PARTS)


def redact_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Return header pairs with the values of sensitive names replaced by ``"***"``.

    Args:
        headers: ``(name, value)`` pairs.

    Returns:
        A tuple of pairs, names kept, secret values hidden.
    """
    return tuple((k, REDACTED if is_sensitive(k) else v) for k, v in headers)


def redact_url(url: str) -> str:
    """Hide the userinfo password and secret-named query parameters of a URL.

    Args:
        url: any URL; unparsable input is returned with everything after ``?`` hidden.

    Returns:
        The URL with secrets replaced by ``"***"``.
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:{REDACTED}@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(is_sensitive(k) for k, _ in pairs):
                query = urlencode(
                    [(k, REDACTED if is_sensitive(k) else v) for k, v in pairs],
                    safe="*",
                    quote_via=quote,
                )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        head, sep, _ = url.partition("?")
        return head + (sep + REDACTED if sep else "")


def redact_mapping(obj: Any) -> Any:
    """Return a copy of a JSON-like value with secret-named keys hidden, recursively.

    Used for JSON-RPC params (``public/auth`` carries ``client_secret``, ``signature``,
    ``refresh_token``) and results (``access_token``) before they reach logs or recordings.

    Args:
        obj: a mapping, list/tuple or scalar.

    Returns:
        The same shape with the values of sensitive keys replaced by ``"***"``.
    """
    if isinstance(obj, Mapping):
        return {
            k: (REDACTED if isinstance(k, str) and is_sensitive(k) else redact_mapping(v))
            for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return [redact_mapping(v) for v in obj]
    return obj


def redact(obj: Any) -> Any:
    """Redact whatever is given: a URL, header pairs, or a JSON-like value.

    Args:
        obj: a ``str`` (treated as a URL when it contains ``://``; other text is returned
            unchanged), a sequence of ``(name, value)`` string pairs (headers), a mapping or
            list (JSON params, recursively).

    Returns:
        The redacted copy.
    """
    if isinstance(obj, str):
        return redact_url(obj) if "://" in obj else obj
    if (
        isinstance(obj, (list, tuple))
        and obj
        and all(
            isinstance(p, tuple) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in obj
        )
    ):
        return redact_headers(obj)
    return redact_mapping(obj)
