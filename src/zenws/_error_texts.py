"""Texts for :func:`zenws.errors.explain`: close codes, HTTP statuses, JSON-RPC codes.

Each entry is ``code -> (what happened, what to do)``; anchors live in ``docs/errors.md``.
"""

from __future__ import annotations

__all__ = ["CLOSE_TEXT", "HTTP_TEXT", "RPC_TEXT"]

# RFC 6455 §7.4.1 defined status codes.
CLOSE_TEXT: dict[int, tuple[str, str]] = {
    1000: ("normal closure", "nothing to fix; the peer finished the session"),
    1001: ("the server is going away (restart or deploy)", "zenws reconnects with backoff"),
    1002: (
        "protocol error: a frame violated RFC 6455",
        "reconnects automatically; if it repeats, record the session (record_to=) and report it",
    ),
    1003: (
        "unsupported data: the endpoint cannot accept this message type (text vs binary)",
        "send the type the server expects (str -> text, bytes -> binary)",
    ),
    1004: ("reserved close code 1004", "a misbehaving peer; report it to the server operator"),
    1005: ("closed without a status code", "zenws reconnects; check the server logs"),
    1006: (
        "abnormal closure: TCP dropped without a close frame (network, proxy or server crash)",
        "zenws reconnects with backoff; a heartbeat detects this faster (heartbeat=)",
    ),
    1007: (
        "invalid payload data (e.g. text frame with invalid UTF-8)",
        "the offending message is discarded; check the encoder on the sending side",
    ),
    1008: (
        "policy violation: the server rejected this client",
        "zenws reconnects with backoff; if it repeats, check credentials, request rates "
        "and the server's usage policy",
    ),
    1009: (
        "message too big",
        "raise max_message_size if the server legitimately sends large messages, "
        "or send smaller messages",
    ),
    1010: (
        "a required extension was not negotiated",
        "enable the extension the server needs (compression='deflate')",
    ),
    1011: ("internal server error", "zenws reconnects with backoff"),
    1012: ("service restart", "zenws reconnects with backoff"),
    1013: ("try again later (server overloaded)", "zenws reconnects with a longer backoff"),
    1014: ("bad gateway: a proxy could not reach the upstream", "zenws reconnects with backoff"),
    1015: (
        "TLS handshake failure",
        "check certificates and the ssl= option; see the TLS section",
    ),
}

HTTP_TEXT: dict[int, tuple[str, str]] = {
    400: ("Bad Request", "check the URL path and handshake headers (headers=, subprotocols=)"),
    401: ("Unauthorized", "the endpoint needs credentials: check tokens or API keys in headers="),
    403: ("Forbidden", "credentials are valid but not allowed here, or the IP is blocked"),
    404: ("Not Found", "the URL path is wrong; check the endpoint in the API documentation"),
    426: ("Upgrade Required", "the server wants a different protocol version or wss://"),
    429: ("Too Many Requests", "too many connections or requests; zenws backs off and retries"),
    500: ("Internal Server Error", "a server-side failure; zenws retries with backoff"),
    502: ("Bad Gateway", "a proxy in front of the server failed; zenws retries with backoff"),
    503: ("Service Unavailable", "maintenance or overload; zenws retries with backoff"),
}

RPC_TEXT: dict[int, tuple[str, str]] = {
    10000: ("authorization required", "authenticate first (public/auth) or pass credentials"),
    10028: (
        "too many requests: the credit limit was exhausted",
        "use rate_limit='deribit' so zenws paces requests before sending",
    ),
    10040: ("the server asked to retry", "retry the request after a short delay"),
    10041: ("settlement in progress", "retry after settlement (usually under a minute)"),
    10047: ("matching engine queue full", "back off and retry; reduce order rate"),
    11050: ("bad request", "check the method name and params against the API documentation"),
    11051: ("system maintenance", "wait for maintenance to end; zenws keeps reconnecting"),
    13004: ("invalid credentials", "check client_id / client_secret (or the API key's scope)"),
    13009: ("unauthorized", "the token is invalid or expired; re-authenticate"),
    13021: ("forbidden", "the API key lacks the scope needed for this method"),
    13028: ("temporarily unavailable", "retry with backoff"),
    13778: (
        "raw subscriptions are not available without authentication",
        "authenticate before subscribing to .raw channels, or use a 100ms channel",
    ),
    13888: ("the server timed out processing the request", "retry reads; check orders first"),
    -32600: (
        "invalid request (e.g. request entity too large)",
        "keep subscribe calls at or below 250 channels (subscribe_chunk=)",
    ),
    -32601: ("method not found", "check the method name"),
    -32602: ("invalid params", "check parameter names and types"),
    -32603: ("internal JSON-RPC error", "retry with backoff"),
    -32700: ("parse error: the server could not parse the request", "send valid JSON"),
}
