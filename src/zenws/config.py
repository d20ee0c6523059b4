"""Client configuration: one frozen, validated dataclass.

:class:`Config` is validated once, in ``__post_init__``; lower layers trust its typed
fields.  Every bad value raises :class:`~zenws.errors.ConfigError` whose ``field`` names
the option and whose message says what is allowed.  Unknown option names are rejected
with a "did you mean" hint.  ``repr()`` never shows secrets (see :mod:`zenws._redact`).

Example::

    cfg = Config.new("wss://test.deribit.com/ws/api/v2", heartbeat="deribit",
                     heartbeat_interval=10, rate_limit="deribit")
    faster = cfg.replace(request_timeout=5)
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import os
import ssl as _ssl
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._redact import redact_headers, redact_url
from .errors import ConfigError

if TYPE_CHECKING:
    from .recording import Recorder

__all__ = [
    "BACKOFF_JITTERS",
    "DECODERS",
    "DIALECTS",
    "HEARTBEATS",
    "OVERFLOW_POLICIES",
    "RATE_LIMIT_PRESETS",
    "Config",
    "DeflateOptions",
]

HEARTBEATS = ("ping_pong", "deribit", "binance", "text")
BACKOFF_JITTERS = ("full", "equal", "none")
OVERFLOW_POLICIES = ("drop_oldest", "drop_newest", "pause_reading", "disconnect")
DECODERS = ("zenws", "orjson", "json", "simdjson")
DIALECTS = ("jsonrpc", "deribit", "binance")
RATE_LIMIT_PRESETS = ("deribit", "binance", "simple")
COMPRESSIONS = ("deflate",)
PROXY_SCHEMES = ("http", "https", "socks4", "socks5", "socks5h")

#: Headers the opening handshake owns (RFC 6455 §4.1); set them through options instead.
_RESERVED_HEADERS = {
    "host": "it is derived from the url",
    "upgrade": "the handshake sets it",
    "connection": "the handshake sets it",
    "sec-websocket-key": "the handshake sets it",
    "sec-websocket-version": "the handshake sets it",
    "sec-websocket-accept": "it is a response header",
    "sec-websocket-protocol": "use subprotocols=",
    "sec-websocket-extensions": "use compression=",
}
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
_SCALARS = (str, bytes, bytearray, int, float, complex, bool)


@dataclasses.dataclass(frozen=True, slots=True)
class DeflateOptions:
    """The permessage-deflate offer (RFC 7692 §7.1), for ``compression=``.

    ``compression="deflate"`` is ``DeflateOptions()``. Pass an instance or a dict with
    these keys to offer other parameters; the server's answer is checked against it.

    Attributes:
        client_no_context_takeover: offer ``client_no_context_takeover``: the client resets
            its compressor after every message (RFC 7692 §7.1.1.1, also when the server
            does not repeat it). Servers that require it (Autobahn 13.2/13.5/13.6) accept
            only such an offer.
        server_no_context_takeover: ask the server to reset its compressor per message.
        client_max_window_bits: ``True`` offers the parameter without a value (the server
            may choose 8..15), an int 9..15 caps the client's window, ``None`` omits it.
        server_max_window_bits: ``None``, or 8..15 to ask for a smaller server window.
        level: zlib level 0..9 for sent messages (not negotiated): 1 costs 2-5x less CPU
            than the default 6 for a slightly larger output.
    """

    client_no_context_takeover: bool = False
    server_no_context_takeover: bool = False
    client_max_window_bits: bool | int | None = True
    server_max_window_bits: int | None = None
    level: int = 6

    def __post_init__(self) -> None:
        for name in ("client_no_context_takeover", "server_no_context_takeover"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise _fail("compression", f"{name} must be True or False", value)
        for name, low, flag in (
            ("client_max_window_bits", 9, True),
            ("server_max_window_bits", 8, False),
        ):
            value = getattr(self, name)
            if value is None or (flag and value is True):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 15:
                allowed = f"an int {low}..15" + (", True" if flag else "") + " or None"
                raise _fail("compression", f"{name} must be {allowed}", value)
        if isinstance(self.level, bool) or not isinstance(self.level, int):
            raise _fail("compression", "level must be an int 0..9", self.level)
        if not 0 <= self.level <= 9:
            raise _fail("compression", "level must be an int 0..9", self.level)

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``zenws.fast.frame.deflate_offer`` /
        ``parse_deflate_response``."""
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "level"
        }


@dataclasses.dataclass(frozen=True, slots=True, repr=False)
class Config:
    """Every option of a zenws client (times in seconds).

    Attributes:
        url: ``ws://`` or ``wss://`` URL with a host. ``user:password@`` in it is sent as
            an ``Authorization: Basic`` header (percent-decoded), never in ``Host``; an
            ``Authorization`` header in ``headers`` takes precedence over it.
        headers: extra handshake headers; a mapping or ``(name, value)`` pairs, stored as a
            tuple of pairs.
        connect_timeout: TCP + TLS + upgrade deadline.
        retry_count: reconnect attempts before giving up; ``None`` retries forever.
        retry_delay: base backoff delay.
        max_backoff: backoff cap (must be >= ``retry_delay``).
        backoff_jitter: ``"full"`` (uniform 0..delay), ``"equal"`` (delay/2 + uniform 0..delay/2)
            or ``"none"``.
        stable_after: uptime after which the attempt counter resets.
        attempt_limit: ``None``, or ``(count, window)``: at most ``count`` connection attempts
            (the first connect and every reconnect attempt) in any ``window`` seconds, whatever
            the backoff drew; a :class:`zenws.reconnect.AttemptLimit` may be shared by
            clients that count against one limit (Binance: 300 per 5 min per IP).
        heartbeat: ``None``, ``"ping_pong"``, ``"deribit"``, ``"binance"``, ``"text"`` or a
            heartbeat strategy object (see :mod:`zenws.heartbeat`).
        heartbeat_interval: seconds between heartbeats.
        deliver_heartbeats: also hand the server's heartbeat messages (Deribit
            ``heartbeat`` / ``test_request`` notifications, which zenws answers itself) to
            ``on_message`` / ``async for``; off by default, they are housekeeping.
        heartbeat_timeout: dead-peer timeout (no frame at all); ``None`` means
            ``2 * heartbeat_interval`` (see :attr:`effective_heartbeat_timeout`).
        idle_timeout: data-idle timeout (no data frame); ``None`` disables it.
        reconnect_on_error: reconnect after an unexpected disconnect.
        restore_subscriptions: resubscribe after reconnect.
        request_timeout: default deadline of ``request()``.
        max_message_size: largest reassembled message in bytes.
        compression: ``None``, ``"deflate"`` (RFC 7692, default offer
            ``permessage-deflate; client_max_window_bits``), or a :class:`DeflateOptions`
            / dict of its fields (stored as ``DeflateOptions``).
        queue_size: capacity of the ``async for`` message queue.
        overflow: what a full queue does: ``"drop_oldest"``, ``"drop_newest"``,
            ``"pause_reading"`` or ``"disconnect"``.
        rate_limit: ``None``, a preset name (``"deribit"``, ``"binance"``, ``"simple"``) or a
            limiter object (``zenws.ratelimit.Limiter`` / ``RateLimiter``).
        debug: extra checks and logging.
        latency_buffer_size: RTT samples kept for percentiles.
        record_to: path of a JSONL recording, a :class:`zenws.recorder.Recorder` opened
            by the caller (e.g. with ``writer_cpu=``; the client writes to it and leaves
            closing it to the caller), or ``None``.
        ssl: ``None`` (default verification for wss), an ``ssl.SSLContext`` or a bool.
        proxy: ``None`` or a proxy URL (http, https, socks4, socks5).
        decoder: JSON decoder for ``Message.json()``: ``"zenws"`` (the default,
            ``zenws.fast.jsonrpc.loads``, the fastest measured: bench/RESULTS.md),
            ``"orjson"``, ``"json"`` or ``"simdjson"`` (needs the optional pysimdjson:
            ``pip install "zenws[simdjson]"``).
        subprotocols: ``Sec-WebSocket-Protocol`` values offered.
        dialect: subscription/RPC dialect: ``"jsonrpc"``, ``"deribit"``, ``"binance"`` or an object.
        subscribe_chunk: most channels per subscribe request (Deribit: 250).
        close_timeout: wait for the peer's close frame before dropping TCP.
        logger: ``None`` (``logging.getLogger("zenws")``), a ``Logger`` or a logger name.
        idempotent_methods: RPC methods that may be retried after a reconnect (reads only).
        name: ``None``, or the name the client is registered under in :mod:`zenws.registry`
            while it is open (replacing an earlier client of that name).
        max_connection_age: ``None``, or the seconds after which the server closes a
            connection (a venue's scheduled close: Binance 24 h); the client rotates to a
            new connection (``Client.rotate()``, make-before-break) before that.
        rotate_before: seconds before ``max_connection_age`` at which the automatic rotation
            starts (up to 10 % earlier, jittered); ``None`` means 10 % of the age, at most
            300 s.  Must be below ``max_connection_age``.
        rotation_timeout: deadline of one rotation up to its switch (open, hooks,
            subscribe, in sync); past it the rotation fails and the old connection stays.
        rotation_window: messages per channel remembered to recognise a duplicate by its
            content during a rotation (channels without a sequence number).
        sequence_key: ``None`` (the dialect's: ``zenws.exchanges.sequences``) or a function
            ``parsed message -> (channel, seq, prev) | None`` that rotation deduplicates by.
    """

    url: str
    headers: tuple[tuple[str, str], ...] = ()
    connect_timeout: float = 5.0
    retry_count: int | None = None
    retry_delay: float = 0.5
    max_backoff: float = 30.0
    backoff_jitter: str = "full"
    stable_after: float = 10.0
    heartbeat: Any = None
    heartbeat_interval: float = 15.0
    heartbeat_timeout: float | None = None
    idle_timeout: float | None = None
    reconnect_on_error: bool = True
    restore_subscriptions: bool = True
    request_timeout: float = 30.0
    max_message_size: int = 16 * 1024 * 1024
    compression: str | DeflateOptions | None = None
    queue_size: int = 4096
    overflow: str = "drop_oldest"
    rate_limit: Any = None
    debug: bool = False
    latency_buffer_size: int = 1024
    record_to: str | Recorder | None = None
    ssl: _ssl.SSLContext | bool | None = None
    proxy: str | None = None
    decoder: str = "zenws"
    subprotocols: tuple[str, ...] = ()
    dialect: Any = "jsonrpc"
    subscribe_chunk: int = 250
    close_timeout: float = 5.0
    logger: logging.Logger | str | None = None
    idempotent_methods: tuple[str, ...] = ()
    name: str | None = None
    deliver_heartbeats: bool = False
    max_connection_age: float | None = None
    rotate_before: float | None = None
    rotation_timeout: float = 30.0
    rotation_window: int = 4096
    sequence_key: Any = None
    attempt_limit: Any = None

    # -- construction -------------------------------------------------------------------

    @classmethod
    def new(cls, url: str, **options: Any) -> Config:
        """Build a validated config, rejecting unknown option names.

        Args:
            url: the ``ws://``/``wss://`` URL.
            **options: any other field.

        Returns:
            The config.

        Raises:
            ConfigError: an unknown option or a bad value.
        """
        _check_names(options)
        return cls(url, **options)

    @classmethod
    def from_options(cls, url: str | Config, **options: Any) -> Config:
        """Build the config used by ``zenws.connect(url, **options)``.

        Args:
            url: a URL, or an existing :class:`Config` that ``options`` override.
            **options: option overrides.

        Returns:
            The validated config.

        Raises:
            ConfigError: an unknown option or a bad value.
        """
        if isinstance(url, Config):
            return url.replace(**options) if options else url
        return cls.new(url, **options)

    def replace(self, **changes: Any) -> Config:
        """Return a copy with ``changes`` applied and validated again.

        Raises:
            ConfigError: an unknown option or a bad value.
        """
        _check_names(changes)
        return dataclasses.replace(self, **changes)

    @property
    def effective_heartbeat_timeout(self) -> float:
        """Dead-peer timeout in seconds: ``heartbeat_timeout`` or ``2 * heartbeat_interval``."""
        if self.heartbeat_timeout is not None:
            return self.heartbeat_timeout
        return 2.0 * self.heartbeat_interval

    @property
    def deflate_options(self) -> DeflateOptions | None:
        """The permessage-deflate offer, or ``None`` when compression is off."""
        if self.compression is None:
            return None
        if isinstance(self.compression, DeflateOptions):
            return self.compression
        return DeflateOptions()

    @property
    def is_secure(self) -> bool:
        """True for ``wss://`` URLs."""
        return self.url.lower().startswith("wss:")

    # -- presentation -------------------------------------------------------------------

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "url":
                value = redact_url(value)
            elif f.name == "headers":
                value = redact_headers(value)
            elif f.name == "proxy" and value is not None:
                value = redact_url(value)
            elif value == f.default:
                continue
            parts.append(f"{f.name}={value!r}")
        return f"Config({', '.join(parts)})"

    __str__ = __repr__

    # -- validation ---------------------------------------------------------------------

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "url", _url(self.url))
        put(self, "headers", _headers(self.headers))
        put(self, "connect_timeout", _seconds("connect_timeout", self.connect_timeout, zero=False))
        if self.retry_count is not None:
            put(self, "retry_count", _integer("retry_count", self.retry_count, minimum=0))
        put(self, "retry_delay", _seconds("retry_delay", self.retry_delay, zero=True))
        put(self, "max_backoff", _seconds("max_backoff", self.max_backoff, zero=True))
        if self.max_backoff < self.retry_delay:
            raise ConfigError(
                f"max_backoff: must be >= retry_delay ({self.retry_delay}), got {self.max_backoff}",
                field="max_backoff",
            )
        _choice("backoff_jitter", self.backoff_jitter, BACKOFF_JITTERS)
        put(self, "stable_after", _seconds("stable_after", self.stable_after, zero=True))
        put(self, "attempt_limit", _attempt_limit(self.attempt_limit))
        put(self, "heartbeat", _heartbeat(self.heartbeat))
        put(self, "heartbeat_interval", _seconds("heartbeat_interval", self.heartbeat_interval))
        for name in ("heartbeat_timeout", "idle_timeout"):
            value = getattr(self, name)
            if value is not None:
                put(self, name, _seconds(name, value, zero=False))
        for name in ("deliver_heartbeats", "reconnect_on_error", "restore_subscriptions", "debug"):
            _boolean(name, getattr(self, name))
        put(self, "request_timeout", _seconds("request_timeout", self.request_timeout))
        put(self, "max_message_size", _integer("max_message_size", self.max_message_size, 1))
        put(self, "compression", _compression(self.compression))
        put(self, "queue_size", _integer("queue_size", self.queue_size, minimum=1))
        _choice("overflow", self.overflow, OVERFLOW_POLICIES)
        _rate_limit(self.rate_limit)
        put(
            self,
            "latency_buffer_size",
            _integer("latency_buffer_size", self.latency_buffer_size, 1),
        )
        if not _is_recorder(self.record_to):
            put(self, "record_to", _path("record_to", self.record_to))
        _ssl_option(self.ssl, self.url)
        put(self, "proxy", _proxy(self.proxy))
        _decoder(self.decoder)
        put(self, "subprotocols", _names("subprotocols", self.subprotocols, token=True))
        _object_or_choice("dialect", self.dialect, DIALECTS)
        put(self, "subscribe_chunk", _integer("subscribe_chunk", self.subscribe_chunk, 1))
        put(self, "close_timeout", _seconds("close_timeout", self.close_timeout))
        _logger(self.logger)
        put(self, "idempotent_methods", _names("idempotent_methods", self.idempotent_methods))
        _registry_name(self.name)
        _rotation(self, put)


_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Config))


def _rotation(cfg: Config, put: Any) -> None:
    age = cfg.max_connection_age
    if age is not None:
        age = _seconds("max_connection_age", age)
        put(cfg, "max_connection_age", age)
    lead = cfg.rotate_before
    if lead is not None:
        lead = _seconds("rotate_before", lead)
        put(cfg, "rotate_before", lead)
        if age is not None and lead >= age:
            raise ConfigError(
                f"rotate_before: must be below max_connection_age ({age:g}), got {lead:g}",
                field="rotate_before",
            )
    put(cfg, "rotation_timeout", _seconds("rotation_timeout", cfg.rotation_timeout))
    put(cfg, "rotation_window", _integer("rotation_window", cfg.rotation_window, 1))
    if cfg.sequence_key is not None and not callable(cfg.sequence_key):
        raise _fail(
            "sequence_key", "must be None or a function of a parsed message", cfg.sequence_key
        )


def _check_names(options: Mapping[str, Any]) -> None:
    unknown = sorted(set(options) - set(_FIELD_NAMES))
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, _FIELD_NAMES, n=1, cutoff=0.6)
        hints.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    noun = "option" if len(unknown) == 1 else "options"
    raise ConfigError(
        f"unknown {noun}: {', '.join(hints)}",
        field=unknown[0] if len(unknown) == 1 else None,
    )


def _fail(field: str, problem: str, value: Any = dataclasses.MISSING) -> ConfigError:
    shown = "" if value is dataclasses.MISSING else f", got {value!r}"
    return ConfigError(f"{field}: {problem}{shown}", field=field)


def _url(value: Any) -> str:
    if not isinstance(value, str):
        raise _fail("url", "must be a str", type(value).__name__)
    if not value or value != value.strip() or any(c.isspace() for c in value):
        raise _fail("url", "must be a non-empty URL without whitespace", redact_url(value))
    try:
        parts = urlsplit(value)
        host = parts.hostname
        _ = parts.port  # raises ValueError when the port is not a number in range
    except ValueError as exc:
        raise _fail("url", f"is not a valid URL ({exc})", redact_url(value)) from None
    if parts.scheme.lower() not in ("ws", "wss"):
        raise _fail("url", "scheme must be ws or wss", redact_url(value))
    if not host:
        raise _fail("url", "must include a host", redact_url(value))
    if parts.fragment or value.endswith("#"):
        # RFC 6455 §3: fragment identifiers are meaningless in WebSocket URIs.
        raise _fail("url", "must not contain a #fragment", redact_url(value))
    # Schemes are case-insensitive (RFC 3986 §3.1); store them lower-case so that
    # lower layers can test ``url.startswith("wss:")``.
    return parts.scheme.lower() + value[len(parts.scheme) :]


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(value, Mapping):
        items: Iterable[Any] = value.items()
    elif isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise _fail("headers", "must be a mapping or a sequence of (name, value) pairs")
    else:
        items = value
    out = []
    for item in items:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise _fail("headers", "each entry must be a (name, value) pair")
        name, val = item
        if not isinstance(name, str) or not name or not set(name) <= _TOKEN_CHARS:
            raise _fail("headers", "header names must be non-empty RFC 7230 tokens", name)
        if not isinstance(val, str) or any(c in val for c in "\r\n\0"):
            # never echo the value: it may be a credential
            raise _fail("headers", f"value of {name!r} must be a str without CR, LF or NUL")
        reserved = _RESERVED_HEADERS.get(name.lower())
        if reserved:
            raise _fail("headers", f"{name!r} cannot be set here: {reserved}")
        out.append((name, val))
    return tuple(out)


def _number(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(field, "must be a number of seconds", value)
    if not math.isfinite(value):
        raise _fail(field, "must be finite", value)
    return float(value)


def _seconds(field: str, value: Any, zero: bool = False) -> float:
    number = _number(field, value)
    if number < 0 or (number == 0 and not zero):
        raise _fail(field, "must be >= 0" if zero else "must be > 0", value)
    return number


def _integer(field: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(field, "must be an int", value)
    if value < minimum:
        raise _fail(field, f"must be >= {minimum}", value)
    return int(value)


def _boolean(field: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise _fail(field, "must be True or False", value)


def _choice(field: str, value: Any, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise _fail(field, f"must be one of {', '.join(map(repr, choices))}", value)


def _decoder(value: Any) -> None:
    _choice("decoder", value, DECODERS)
    if value == "simdjson":  # the optional one: fail here, with the pip command
        from .fast.listener import decoder_id

        try:
            decoder_id(value)
        except ImportError as exc:
            raise ConfigError(str(exc), field="decoder") from None


def _object_or_choice(field: str, value: Any, choices: tuple[str, ...]) -> None:
    if isinstance(value, str):
        _choice(field, value, choices)
    elif value is None or isinstance(value, (_SCALARS, Mapping, list, tuple)):
        raise _fail(field, f"must be one of {', '.join(map(repr, choices))} or an object", value)


def _compression(value: Any) -> str | DeflateOptions | None:
    if value is None or isinstance(value, DeflateOptions):
        return value
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {f.name for f in dataclasses.fields(DeflateOptions)})
        if unknown:
            raise _fail("compression", f"unknown permessage-deflate parameters {unknown}")
        return DeflateOptions(**value)
    if not isinstance(value, str) or value not in COMPRESSIONS:
        raise _fail("compression", "must be None, 'deflate', a DeflateOptions or a dict", value)
    return value


def _heartbeat(value: Any) -> Any:
    if value is None or value == "none":
        return None
    _object_or_choice("heartbeat", value, HEARTBEATS)
    return value


def _attempt_limit(value: Any) -> Any:
    if value is None or all(callable(getattr(value, m, None)) for m in ("wait", "record")):
        return value  # None, or an AttemptLimit (possibly shared)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise _fail(
            "attempt_limit", "must be None, (count, window seconds) or an AttemptLimit", value
        )
    count = _integer("attempt_limit", value[0], 1)
    return (count, _seconds("attempt_limit", value[1]))


def _rate_limit(value: Any) -> None:
    if value is None:
        return
    if isinstance(value, str):
        _choice("rate_limit", value, RATE_LIMIT_PRESETS)
        return
    if not any(callable(getattr(value, m, None)) for m in ("acquire", "try_acquire")):
        raise _fail(
            "rate_limit",
            f"must be None, one of {', '.join(map(repr, RATE_LIMIT_PRESETS))} or a limiter "
            "with acquire()/try_acquire()",
            value,
        )


def _is_recorder(value: Any) -> bool:
    if value is None or isinstance(value, (str, os.PathLike)):
        return False
    # A Recorder exists only once its module is loaded: look it up instead of importing it
    # (configuration sits below recording in the layers).
    module = sys.modules.get("zenws.recording.recorder")
    return module is not None and isinstance(value, module.Recorder)


def _path(field: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise _fail(field, "must be a path (str or os.PathLike) or a zenws Recorder", value)
    path = os.fspath(value)
    if not isinstance(path, str) or not path or "\0" in path:
        raise _fail(field, "must be a non-empty text path", value)
    return path


def _registry_name(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise _fail("name", "must be a str or None", type(value).__name__)
    if not value or value != value.strip() or not value.isprintable() or len(value) > 200:
        raise _fail("name", "must be 1-200 printable characters without surrounding spaces", value)


def _ssl_option(value: Any, url: str) -> None:
    if value is None or value is False:
        return
    if value is not True and not isinstance(value, _ssl.SSLContext):
        raise _fail("ssl", "must be None, a bool or an ssl.SSLContext", value)
    if not url.lower().startswith("wss:"):
        raise _fail("ssl", "TLS options need a wss:// url", value)


def _proxy(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail("proxy", "must be a proxy URL str", value)
    try:
        parts = urlsplit(value)
        host = parts.hostname
        _ = parts.port
    except ValueError:
        raise _fail("proxy", "is not a valid URL", redact_url(value)) from None
    if parts.scheme.lower() not in PROXY_SCHEMES or not host:
        raise _fail(
            "proxy",
            f"must be a URL with a host and scheme {', '.join(PROXY_SCHEMES)}",
            redact_url(value),
        )
    return value


def _names(field: str, value: Any, token: bool = False) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise _fail(field, "must be a sequence of str (not a single str)", value)
    out = tuple(value)
    for item in out:
        if not isinstance(item, str) or not item or (token and not set(item) <= _TOKEN_CHARS):
            raise _fail(field, "entries must be non-empty str" + (" tokens" if token else ""), item)
    return out


def _logger(value: Any) -> None:
    if value is None or isinstance(value, (logging.Logger, logging.LoggerAdapter)):
        return
    if not isinstance(value, str) or not value:
        raise _fail("logger", "must be None, a logging.Logger or a logger name", value)
