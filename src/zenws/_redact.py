"""The one secret-redaction rule set of zenws.

Every surface hides the same things through this module: ``Config`` reprs, exception texts
(:class:`~zenws.errors.ConnectError`, :func:`~zenws.errors.explain`), logs (zenws' own and the
picows logger zenws hands the transport, at any level), recordings (the C key prefilter of
:mod:`zenws.fast.jsonl` is pinned to :data:`KEY_WORDS` by the tests), ``zenws connect``
output, telemetry metadata and the mock server's reprs.

A header, query-parameter or JSON key name is sensitive (:func:`is_sensitive`) when, case
folded:

- it is one of :data:`NAMES` (``authorization``, ``x-bapi-sign``, ``sig``...), or
- one of its words (split at ``-``, ``_``, ``.``, spaces and camelCase humps) is in
  :data:`ANY_WORDS` (``secret``, ``password``, ``apikey``, ``cookie``...), or
- its last word is in :data:`LAST_WORDS` (``token``, ``key``, ``sign``, ``session``...):
  ``refresh_token`` and ``OK-ACCESS-KEY`` are secret, ``token_type`` and ``key_id`` are not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

__all__ = [
    "ANY_WORDS",
    "KEY_WORDS",
    "LAST_WORDS",
    "NAMES",
    "REDACTED",
    "is_sensitive",
    "redact",
    "redact_headers",
    "redact_json_text",
    "redact_mapping",
    "redact_text",
    "redact_url",
]

REDACTED = "***"

#: Words that make a name secret wherever they appear in it.
ANY_WORDS = frozenset(
    {
        "secret",
        "password",
        "passwd",
        "passphrase",
        "credential",
        "credentials",
        "apikey",
        "cookie",
        "authorization",
        "signature",
        "jwt",
    }
)

#: Words that make a name secret when they end it (``access_token``, ``X-BAPI-SIGN``).
LAST_WORDS = frozenset({"token", "key", "sign", "sig", "pass", "session", "auth"})

#: Names that are secret as a whole: well-known credential headers and parameters. Every
#: one of them is also caught by the word rules; the list is what the tests enumerate on
#: every surface.
NAMES = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-mbx-apikey",
        "x-bapi-api-key",
        "x-bapi-sign",
        "ok-access-key",
        "ok-access-sign",
        "ok-access-passphrase",
        "access-sign",
        "api-sign",
        "api-key",
        "x-custom-auth",
        "x-session",
        "x-auth-token",
        "client_secret",
        "access_token",
        "refresh_token",
        "id_token",
        "api_key",
        "apikey",
        "signature",
        "sig",
        "sign",
        "password",
        "passwd",
        "pass",
        "passphrase",
        "secret",
        "token",
        "auth",
        "session",
        "jwt",
        "credential",
        "credentials",
        "key",
    }
)

#: Words the C prefilter of recordings (``zenws_suspicious_key`` in ext/zenws_jstr.c)
#: searches names for -- JSON keys, and the names of ``name=value``, ``Name: value`` and
#: ``'name': value`` in any text (``zenws_text_suspicious``): every sensitive name contains one
#: of them, so a frame whose names contain none needs no redaction. Pinned to the C code by
#: tests/unit/test_redaction_rules.py.
KEY_WORDS = ("token", "secret", "sig", "pass", "key", "credential", "cookie", "auth", "session",
             "jwt")  # fmt: skip

_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SPLIT = re.compile(r"[^0-9a-z]+")


def _words(name: str) -> list[str]:
    return [w for w in _SPLIT.split(_HUMP.sub(" ", name).lower()) if w]


def is_sensitive(name: str) -> bool:
    """Return True when a header, query or JSON key name may carry a secret.

    Args:
        name: the key name (any case).

    Returns:
        True for credential-like names (``Authorization``, ``client_secret``,
        ``X-MBX-APIKEY``, ``accessToken``...), False for ``token_type``, ``key_id``...
    """
    if name.lower() in NAMES:
        return True
    words = _words(name)
    return bool(words) and (words[-1] in LAST_WORDS or any(w in ANY_WORDS for w in words))


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
        fragment = redact_text(parts.fragment) if parts.fragment else ""
        return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))
    except ValueError:
        head, sep, _ = url.partition("?")
        return redact_text(head) + (sep + REDACTED if sep else "")


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
    if isinstance(obj, str) and "://" in obj:
        # a URL value (a redirect target, a callback): hide its secrets, keep it otherwise
        red = redact_url(obj)
        return red if red.count(REDACTED) > obj.count(REDACTED) else obj
    return obj


# -- free text (log lines, exception messages, CLI output, non-JSON frames) -----------------

_NAME = r"[A-Za-z0-9_.\-]+"
# "name": "value" / 'name': 'value' / "name": 123 (JSON and Python reprs)
_QUOTED_PAIR = re.compile(
    r"""(?P<q>["'])(?P<name>[^"'\\\s]{1,100})(?P=q)(?P<sep>\s*:\s*)"""
    r"""(?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s,}\]"']+)"""
)
# name=value (query strings, k=v log fields)
_EQ_PAIR = re.compile(r"(?P<name>(?<![A-Za-z0-9_.\-])" + _NAME + r")=(?P<value>[^&\s#\"',;)\]}]*)")
# Name: value at the start of a line (HTTP headers); the line may end with a real or an
# escaped (bytes repr) CR/LF.
_HEADER_LINE = re.compile(
    r"(?P<lead>^|(?<=\\n))(?P<name>" + _NAME + r")(?P<sep>[ \t]*:[ \t]*)"
    r"(?P<value>(?:[^\r\n\\]|\\(?![rn]))*)",
    re.MULTILINE,
)
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@'\"]*):[^/\s@'\"]*@")
_SCHEME_TOKEN = re.compile(r"(?i)\b(?P<scheme>bearer|basic|digest)\s+[^\s'\"]+")


def _hide_quoted(m: re.Match[str]) -> str:
    if not is_sensitive(m["name"]):
        return m[0]
    quote_char = "'" if m["value"][:1] == "'" else '"'
    return f"{m['q']}{m['name']}{m['q']}{m['sep']}{quote_char}{REDACTED}{quote_char}"


def _hide_eq(m: re.Match[str]) -> str:
    return f"{m['name']}={REDACTED}" if is_sensitive(m["name"]) and m["value"] else m[0]


def _hide_header(m: re.Match[str]) -> str:
    if not is_sensitive(m["name"]) or not m["value"]:
        return m[0]
    return f"{m['lead']}{m['name']}{m['sep']}{REDACTED}"


def redact_text(text: str) -> str:
    """Hide secrets inside free text: a log line, an exception message, a frame.

    Covers ``"name": "value"`` pairs (JSON, Python reprs), ``name=value`` pairs (query
    strings, ``k=v`` fields), ``Name: value`` header lines (also in a ``bytes`` repr),
    URL userinfo passwords and ``Bearer``/``Basic`` credentials, for every sensitive name.

    Args:
        text: any text.

    Returns:
        The text with secret values replaced by ``***``.
    """
    if not text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['head']}:{REDACTED}@", text)
    text = _SCHEME_TOKEN.sub(lambda m: f"{m['scheme']} {REDACTED}", text)
    text = _QUOTED_PAIR.sub(_hide_quoted, text)
    text = _HEADER_LINE.sub(_hide_header, text)
    return _EQ_PAIR.sub(_hide_eq, text)


def redact_json_text(text: str) -> str:
    """Hide secret values in a text WebSocket message (JSON or not).

    JSON is parsed and re-encoded only when a sensitive key is present (otherwise ``text``
    is returned unchanged); other text goes through :func:`redact_text`.

    Args:
        text: the message text.

    Returns:
        The message with the values of sensitive keys replaced by ``"***"``.
    """
    import orjson

    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return redact_text(text)
    clean = redact_mapping(doc)
    if clean == doc:
        return text
    # the standard library re-encodes the peer's document: orjson.dumps (3.12, 3.13) overflows
    # its buffer on some ~4 KiB nested documents (tests/data/orjson_dumps_overflow.json)
    return json.dumps(clean, ensure_ascii=False, separators=(",", ":"))


def redact(obj: Any) -> Any:
    """Redact whatever is given: a URL, header pairs, or a JSON-like value.

    Args:
        obj: a ``str`` (treated as a URL when it contains ``://``; other text is returned
            unchanged, see :func:`redact_text` for free text), a sequence of ``(name, value)``
            string pairs (headers), a mapping or list (JSON params, recursively).

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
