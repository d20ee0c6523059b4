"""Binance adapter: WebSocket API (signed requests, session logon), market streams, books.

Two :class:`zenws.Client` connections share one adapter: the WebSocket API
(``wss://ws-api.binance.com:443/ws-api/v3``, requests ``{id, method, params}`` answered
with ``{id, status, result | error, rateLimits}``) and, on first use, the market streams
(``wss://stream.binance.com:9443/stream``, ``SUBSCRIBE`` / ``UNSUBSCRIBE`` /
``LIST_SUBSCRIPTIONS``, combined ``{"stream", "data"}`` events).

Example::

    from zenws.adapters.binance import BinanceClient

    async with await BinanceClient.connect(api_key=..., private_key=pem) as bc:
        print(await bc.time())
        book = await bc.on_book("BTCUSDT", lambda b: print(b.best_bid(), b.best_ask()))
        await bc.order_place("BTCUSDT", "BUY", "LIMIT", price="30000", quantity="0.001",
                             timeInForce="GTC")

Wire facts: :mod:`zenws.exchanges.binance`; the procedures are cited where they are used.
"""

from __future__ import annotations

import asyncio
import logging
import time as _time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, NoReturn

import orjson

from ..errors import ConfigError, ConnectionLost, RateLimited, RpcError
from ..exchanges import binance as wire
from ..exchanges.sequences import binance_sequence
from ..heartbeat import Binance as BinanceHeartbeat
from ..reconnect import AttemptLimit
from ._binance_auth import Credentials, ServerClock, signature_payload
from ._binance_book import BookGap, BookSync, DepthBook
from ._binance_limits import OrderWindows
from ._binance_methods import METHODS, SIGNED, security_of
from ._venue import VenueClient

__all__ = [
    "API_URL",
    "CONNECTION_LIFETIME",
    "MAX_INCOMING_PER_SECOND",
    "STREAM_URL",
    "BinanceClient",
    "BinanceMetrics",
    "BookGap",
    "Credentials",
    "ServerClock",
    "dedupe_key",
    "signature_payload",
    "stream_of",
]

API_URL: Final = "wss://ws-api.binance.com:443/ws-api/v3"
STREAM_URL: Final = "wss://stream.binance.com:9443/stream"

#: How long a connection lives before Binance closes it (a rotation policy reads this).
CONNECTION_LIFETIME: Final = wire.CONNECTION_LIFETIME
#: Incoming messages per second a stream connection accepts (PING, PONG, control).
MAX_INCOMING_PER_SECOND: Final = wire.MAX_INCOMING_PER_SECOND
#: ``wire.ERRORS[-1021]``: the timestamp was outside ``recvWindow``.
TIMESTAMP_OUTSIDE_RECV_WINDOW: Final = -1021
#: ``wire.ERRORS[-1015]``: too many new orders (status 429).
TOO_MANY_ORDERS: Final = -1015
#: HTTP-like statuses meaning "rate limited" (429) and "IP banned" (418).
RATE_LIMIT_STATUSES: Final = frozenset({429, wire.BANNED})
#: Least seconds between connection attempts: CONNECTION_ATTEMPTS per window per IP.
MIN_RETRY_DELAY: Final = wire.CONNECTION_ATTEMPTS_WINDOW / wire.CONNECTION_ATTEMPTS

_log = logging.getLogger("zenws.binance")


def dedupe_key(stream: str, event: Any) -> tuple[str, int] | None:
    """The identity of one market-stream event, for dropping duplicates across connections.

    Make-before-break rotation receives the same events on two connections for a while;
    this key (the stream name plus the venue's sequence) identifies them: diff depth ``u``,
    trades ``t``, aggregate trades ``a``, book ticker ``u``.  The rules are
    :func:`zenws.exchanges.sequences.binance_sequence`, the ones rotation itself uses.

    Args:
        stream: the stream name (``"btcusdt@depth@100ms"``).
        event: the decoded event (the ``data`` member of a combined-stream message).

    Returns:
        ``(stream, sequence)``, or ``None`` when the event carries no sequence.
    """
    found = binance_sequence(stream, event)
    return (stream, found[0]) if found is not None else None


#: Event type (``"e"``) -> stream kind, for events of the raw endpoint.
_EVENT_KINDS: Final = {
    "trade": "trade",
    "aggTrade": "aggTrade",
    "depthUpdate": "depth",
    "24hrTicker": "ticker",
    "24hrMiniTicker": "miniTicker",
    "avgPrice": "avgPrice",
    "kline": "kline",
}


def stream_of(event: Any, subscribed: Iterable[str]) -> str | None:
    """The subscribed stream a raw-endpoint event belongs to (``None`` when unknown).

    The raw endpoint (``/ws``) sends bare events: the stream is found from the event's
    symbol ``s`` and type ``e`` (book-ticker events have no ``e``: ``u`` + ``b`` + ``a``).
    """
    if not isinstance(event, dict) or not isinstance(event.get("s"), str):
        return None
    kind = _EVENT_KINDS.get(str(event["e"])) if "e" in event else "bookTicker"
    symbol = event["s"].upper()
    for name in subscribed:
        parsed = wire.parse_stream(name)
        if parsed is not None and parsed.symbol == symbol and parsed.kind == kind:
            return name
    return None


@dataclass(frozen=True)
class BinanceMetrics:
    """Adapter counters plus the WebSocket API client's metrics.

    Attributes:
        logons: successful ``session.logon`` calls (one per connection with an Ed25519 key).
        time_syncs: ``time`` round trips used for the clock estimate.
        clock_offset_ms: server minus local clock estimate.
        resent_1021: signed requests sent again after a -1021 rejection.
        rate_limited: 429/418 answers.
        gaps: diff-depth sequence gaps; resyncs: books resynced after a gap.
        used_weight: the last ``REQUEST_WEIGHT`` count the server reported.
        client: the WebSocket API client's metrics.
    """

    logons: int
    time_syncs: int
    clock_offset_ms: float
    resent_1021: int
    rate_limited: int
    gaps: int
    resyncs: int
    used_weight: int | None
    client: Any


class BinanceClient(VenueClient):
    """A Binance session: WebSocket API client plus a market-stream client (use :meth:`connect`).

    Typed helpers (``ping``, ``time``, ``exchange_info``, ``depth``, ``ticker_price``,
    ``ticker_book``, ``order_place``, ``order_test``, ``order_cancel``, ``order_status``,
    ``open_orders_status``, ``account_status``, ``user_data_stream_subscribe``) come from the
    table in :mod:`zenws.adapters._binance_methods`; anything else goes through
    :meth:`request`, which signs the methods whose security type needs it.

    Attributes:
        client: the WebSocket API :class:`zenws.Client`.
        streams: the market-stream :class:`zenws.Client` (``None`` until first used).
        clock: the :class:`ServerClock` estimate signed requests are stamped with.
        attempt_limit: the :class:`zenws.reconnect.AttemptLimit` both connections share
            (``CONNECTION_ATTEMPTS`` per ``CONNECTION_ATTEMPTS_WINDOW`` s).
        lifetime: seconds a connection may live (default
            :data:`zenws.exchanges.binance.CONNECTION_LIFETIME`, 24 h): both connections are
            rotated (make-before-break) before that (``Config.max_connection_age``).
    """

    ping = METHODS["ping"]
    time = METHODS["time"]
    exchange_info = METHODS["exchangeInfo"]
    depth = METHODS["depth"]
    ticker_price = METHODS["ticker.price"]
    ticker_book = METHODS["ticker.book"]
    order_place = METHODS["order.place"]
    order_test = METHODS["order.test"]
    order_cancel = METHODS["order.cancel"]
    order_status = METHODS["order.status"]
    open_orders_status = METHODS["openOrders.status"]
    account_status = METHODS["account.status"]
    user_data_stream_subscribe = METHODS["userDataStream.subscribe"]

    def __init__(
        self,
        client: Any,
        credentials: Credentials | None = None,
        *,
        recv_window: float | None = None,
        logon: bool | None = None,
        clock: ServerClock | None = None,
        time_sync_interval: float = 60.0,
        stream_url: str | None = None,
        stream_options: dict[str, Any] | None = None,
        limiter: Any = None,
        book_limit: int = 1000,
    ) -> None:
        if logon and (credentials is None or credentials.key_type != "ed25519"):
            raise ConfigError("logon: session.logon needs an Ed25519 private_key", field="logon")
        super().__init__()
        self.client = client
        self.streams: Any = None
        self._creds = credentials
        self._recv_window = recv_window
        self._logon = (
            credentials is not None and credentials.key_type == "ed25519"
            if logon is None
            else bool(logon)
        )
        self._logged_on_epoch = -1
        self.clock = clock or ServerClock()
        self._sync_interval = time_sync_interval
        self._stream_url = stream_url
        self._stream_options = dict(stream_options or {})
        self._stream_lock = asyncio.Lock()
        self._limiter = limiter
        self._books = BookSync(self._snapshot, self._spawn, limit=book_limit)
        self._user_handler: Callable[[Any], Any] | None = None
        self._user_stream = False
        self.used_weight: int | None = None
        self._retry_at = 0.0  # monotonic time before which nothing is sent (retryAfter)
        self._orders_retry_at = 0.0  # the same for order placement (-1015)
        self._order_windows = OrderWindows()  # the server's ORDERS counts per window
        #: Connection attempts of both connections: ``CONNECTION_ATTEMPTS`` per
        #: ``CONNECTION_ATTEMPTS_WINDOW`` s (per IP), whatever the backoff drew.
        self.attempt_limit = AttemptLimit(wire.CONNECTION_ATTEMPTS, wire.CONNECTION_ATTEMPTS_WINDOW)
        self._stream_handlers: dict[str, Callable[[Any], Any] | None] = {}
        self.logons = self.time_syncs = self.resent_1021 = self.rate_limited = 0

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def connect(
        cls,
        url: str = API_URL,
        *,
        api_key: str | None = None,
        secret_key: str | None = None,
        private_key: Any = None,
        private_key_password: bytes | None = None,
        stream_url: str | None = STREAM_URL,
        recv_window: float | None = None,
        logon: bool | None = None,
        time_sync: bool = True,
        time_sync_interval: float = 60.0,
        rate_limit: Any = "binance",
        heartbeat: bool = True,
        ping_interval: float = wire.PING_INTERVAL,
        heartbeat_timeout: float = wire.PONG_TIMEOUT - wire.PING_INTERVAL,
        lifetime: float = CONNECTION_LIFETIME,
        book_limit: int = 1000,
        stream_options: dict[str, Any] | None = None,
        **client_options: Any,
    ) -> BinanceClient:
        """Connect to the WebSocket API, estimate the server clock and log on.

        Args:
            url: the WebSocket API endpoint.
            api_key: the API key (with ``secret_key`` for HMAC or ``private_key`` for Ed25519).
            secret_key: HMAC-SHA256 secret.
            private_key: Ed25519 private key (PEM text/bytes or a ``cryptography`` key).
            private_key_password: password of an encrypted PEM.
            stream_url: market-stream endpoint (``.../stream`` = combined events), opened on
                the first subscription.
            recv_window: ``recvWindow`` (ms) of signed requests; ``None`` = server default.
            logon: ``session.logon`` on every connection (default: with an Ed25519 key).
            time_sync: estimate the server clock with ``time`` round trips.
            time_sync_interval: seconds between two estimates.
            rate_limit: ``"binance"`` (weight and order buckets corrected by the server's
                ``rateLimits``), another preset, a limiter, or ``None``.
            heartbeat: watch the server's PINGs (answered with their payload by the
                transport); none within ``ping_interval + heartbeat_timeout`` s (Binance:
                20 + 40, the 60 s after which the server itself gives up) is a dead peer.
            ping_interval: seconds between the server's PINGs (Binance: 20).
            heartbeat_timeout: grace after a PING was due.
            lifetime: seconds a connection may live (Binance closes it after 24 h): both
                connections rotate before (``max_connection_age``, see docs/rotation.md).
            book_limit: depth of book snapshots.
            stream_options: :class:`zenws.Config` options of the stream connection.
            **client_options: any :class:`zenws.Config` option of the API connection.

        Returns:
            The connected adapter.

        Raises:
            ConfigError: bad options or keys.
            ConnectError: the connection could not be opened.
            RpcError: ``session.logon`` was refused.
        """
        from ..client import connect as zconnect

        creds = None
        if api_key is not None or secret_key is not None or private_key is not None:
            if api_key is None:
                raise ConfigError("api_key: required with a secret or private key", field="api_key")
            creds = Credentials(
                api_key, secret_key, private_key, private_key_password=private_key_password
            )
        limiter = rate_limit
        if rate_limit == "binance":
            limiter = binance_limiter()

        def hb_opts() -> dict[str, Any]:  # one heartbeat object per connection
            if not heartbeat:
                return {}
            return {
                "heartbeat": BinanceHeartbeat(ping_interval, heartbeat_timeout),
                "heartbeat_interval": ping_interval,
            }

        self_ = cls(
            None,
            creds,
            recv_window=recv_window,
            logon=logon,
            time_sync_interval=time_sync_interval,
            stream_url=stream_url,
            stream_options={**hb_opts(), "max_connection_age": lifetime, **(stream_options or {})},
            limiter=limiter if not isinstance(limiter, str) else None,
            book_limit=book_limit,
        )
        self_.lifetime = lifetime
        self_._time_sync = time_sync
        options: dict[str, Any] = {
            "dialect": "binance",
            "rate_limit": limiter,
            # attempts are limited per IP: both connections count against one limit
            "attempt_limit": self_.attempt_limit,
            **hb_opts(),
        }
        options["max_connection_age"] = lifetime  # rotated (make-before-break) before it ends
        options.setdefault("retry_delay", MIN_RETRY_DELAY)
        options.update(client_options)
        client = await zconnect(url, **options)
        self_.client = client
        self_._install(client)
        client.add_reconnect_hook(self_._on_reconnect)
        try:
            await self_._setup_session(client)
        except BaseException:
            await self_.close()
            raise
        return self_

    lifetime: float = CONNECTION_LIFETIME
    _time_sync: bool = True

    def _install(self, client: Any) -> None:
        """Read each response's envelope (``status``, ``rateLimits``) on ``client``.

        :attr:`zenws.Client.on_response` is the one place the envelope is seen; the client
        keeps it on every connection, present and future (reconnects, rotation).
        """
        client.on_response = self._on_response
        client.on_message = self._on_api_message

    async def _setup_session(self, client: Any) -> None:
        """Logon, clock estimate, user-data subscription: through ``client`` only.

        With a clock estimate already made (every reconnect), ``session.logon`` is the first
        request on the new connection; the first connection estimates the clock first.
        """
        if self._time_sync and not len(self.clock):
            await self.sync_time(client)
        if self._logon:
            await self._session_logon(client)
        if self._time_sync:
            await self.sync_time(client)
        if self._user_stream:
            await self._subscribe_user_stream(client)
        if self._time_sync and self._sync_interval > 0:
            self._spawn(self._time_refresher(client, int(client.epoch)))

    async def _on_reconnect(self, client: Any) -> None:
        """Client hook: after each reconnect, before anything else is sent on it."""
        self._logged_on_epoch = -1
        try:
            await self._setup_session(client)
        except ConnectionLost:
            raise
        except Exception as exc:
            _log.warning("session setup after reconnect failed (%s); reconnecting", exc)
            client.force_reconnect(f"binance session setup failed: {type(exc).__name__}")
            raise ConnectionLost("session setup failed", epoch=client.epoch) from exc

    async def close(self) -> None:
        """Stop background tasks and close both connections."""
        await super().close()
        if self.streams is not None:
            await self.streams.close()
        if self.client is not None:
            await self.client.close()

    # ------------------------------------------------------------------ clock and logon

    async def sync_time(self, client: Any = None, samples: int = 3) -> float:
        """Estimate the server clock with ``samples`` ``time`` round trips.

        Returns:
            The offset (server minus local, ms) of the minimum-RTT sample.
        """
        client = client or self.client
        for _ in range(samples):
            t0 = self.clock.local_ms()
            result = await client.request("time")
            t1 = self.clock.local_ms()
            self.clock.add(t0, float(result["serverTime"]), t1)
            self.time_syncs += 1
        self._emit("binance.time", {"offset_ms": self.clock.offset_ms}, {"epoch": client.epoch})
        return self.clock.offset_ms

    async def _time_refresher(self, client: Any, epoch: int) -> None:
        while int(client.epoch) == epoch:
            await asyncio.sleep(self._sync_interval)
            if int(client.epoch) != epoch:
                return
            try:
                await self.sync_time(client, samples=1)
            except ConnectionLost:
                return
            except Exception as exc:
                _log.warning("time refresh failed: %s", exc)

    async def _session_logon(self, client: Any) -> None:
        assert self._creds is not None
        params = self._creds.signed(None, self.clock.now_ms(), self._recv_window)
        try:
            await client.request("session.logon", params)
        except RpcError as exc:
            if exc.code != TIMESTAMP_OUTSIDE_RECV_WINDOW:
                raise
            # Rejected before execution (see request()): re-estimate, log on once more.
            self.resent_1021 += 1
            self.clock.clear()
            await self.sync_time(client)
            params = self._creds.signed(None, self.clock.now_ms(), self._recv_window)
            await client.request("session.logon", params)
        self._logged_on_epoch = int(client.epoch)
        self.logons += 1
        self._emit("binance.logon", {}, {"epoch": client.epoch})

    @property
    def logged_on(self) -> bool:
        """The current API connection is authenticated with ``session.logon``."""
        return self.client is not None and self._logged_on_epoch == int(self.client.epoch)

    # ------------------------------------------------------------------ requests

    async def request(
        self, method: str, params: Any = None, *, timeout: float | None = None
    ) -> Any:
        """Send a WebSocket API request; signed when the method's security type needs it.

        A -1021 rejection (timestamp outside ``recvWindow``) re-estimates the server clock
        and sends the request once more, signed with a new timestamp: Binance checks the
        timestamp before the request reaches the matching engine, so a -1021 request was
        never executed (the rejection happens while the request is validated, like a bad
        signature) and sending it again cannot duplicate an order.

        Args:
            method: e.g. ``"order.place"``.
            params: the method's parameters (a dict).
            timeout: request deadline in seconds.

        Returns:
            The ``result`` member.

        Raises:
            RpcError: an error answer (``status``, ``code``, ``message``).
            RateLimited: status 429 or 418; ``retry_after`` in seconds.
            ConfigError: a signed method without credentials.
            RequestTimeout, ConnectionLost: see :meth:`zenws.Client.request`.
        """
        self._check_retry_after(method)
        signed = security_of(method) in SIGNED
        if signed and self._creds is None:
            raise ConfigError(f"{method} is a signed request: give api_key and a key")
        try:
            return await self._send(method, params, signed, timeout)
        except RpcError as exc:
            if not signed or exc.code != TIMESTAMP_OUTSIDE_RECV_WINDOW:
                self._raise_mapped(exc)
        # -1021: provably not executed (see the docstring); re-estimate, then retry once.
        self.resent_1021 += 1
        _log.warning("%s: -1021 (timestamp outside recvWindow); re-estimating the clock", method)
        self.clock.clear()
        await self.sync_time()
        try:
            return await self._send(method, params, signed, timeout)
        except RpcError as exc:
            self._raise_mapped(exc)

    async def _send(self, method: str, params: Any, signed: bool, timeout: float | None) -> Any:
        if signed:
            assert self._creds is not None
            params = self._creds.signed(
                params, self.clock.now_ms(), self._recv_window, with_key=not self.logged_on
            )
        return await self.client.request(method, params, timeout=timeout)

    def _check_retry_after(self, method: str) -> None:
        """Honour the server's last ``retryAfter`` and its ``ORDERS`` counts.

        Raises RateLimited instead of sending: any request before a ``retryAfter``; an order
        placement before a ``-1015``'s ``retryAfter``, or while an ``ORDERS`` window the
        server reported full (count >= limit) may still be running.
        """
        now = _time.monotonic()
        wait = self._retry_at - now
        if wait > 0:
            raise RateLimited(
                f"{method} not sent: Binance asked to retry after {wait:.3f} s",
                bucket="server",
                retry_after=wait,
            )
        known = wire.METHODS.get(method)
        if known is None or not known.orders:
            return
        wait = self._orders_retry_at - now
        if wait > 0:
            raise RateLimited(
                f"{method} not sent: Binance asked to retry after {wait:.3f} s",
                bucket="server",
                retry_after=wait,
            )
        wait = self._order_windows.wait()
        if wait > 0:
            raise RateLimited(
                f"{method} not sent: the ORDERS limit is used up for up to {wait:.3f} s",
                bucket="ORDERS",
                retry_after=wait,
            )

    def _raise_mapped(self, exc: RpcError) -> NoReturn:
        """Raise ``exc``, or RateLimited (caused by it) for a 429/418.

        An order-count rejection (``-1015``) holds back order placement only; a weight
        rejection (``-1003``) or a ban (418) holds back every request until ``retryAfter``.
        """
        if exc.status not in RATE_LIMIT_STATUSES:
            raise exc
        self.rate_limited += 1
        orders_only = exc.code == TOO_MANY_ORDERS and exc.status != wire.BANNED
        retry_at = exc.data.get("retryAfter") if isinstance(exc.data, dict) else None
        retry_after = 0.0
        if isinstance(retry_at, (int, float)):
            retry_after = max(0.0, (retry_at - self.clock.now_ms()) / 1000.0)
            until = _time.monotonic() + retry_after
            if orders_only:
                self._orders_retry_at = max(self._orders_retry_at, until)
            else:
                self._retry_at = max(self._retry_at, until)
        if self._limiter is not None:
            names = ("orders",) if orders_only else tuple(self._limiter.buckets)
            for name in names:
                bucket = self._limiter.buckets.get(name)
                if bucket is not None:
                    bucket.drain()  # the server said stop: nothing more until it refills
        self._emit(
            "ratelimit.rejected",
            {"retry_after": retry_after},
            {"bucket": "server", "reason": f"status {exc.status}", "code": exc.code},
        )
        raise RateLimited(
            f"Binance answered {exc.status} ({exc.code}: {exc.message}); "
            f"retry after {retry_after:.3f} s",
            bucket="IP_BAN"
            if exc.status == wire.BANNED
            else ("ORDERS" if orders_only else "REQUEST_WEIGHT"),
            retry_after=retry_after,
        ) from exc

    def _on_response(self, doc: Any) -> None:
        """Client.on_response hook: every response's envelope, before its request resumes."""
        if not isinstance(doc, dict):
            try:
                doc = orjson.loads(doc)
            except orjson.JSONDecodeError:
                return
            if not isinstance(doc, dict):
                return
        limits = doc.get("rateLimits")
        if isinstance(limits, list):
            self._correct(limits)
            self._order_windows.observe(limits)

    def _correct(self, limits: list[Any]) -> None:
        """Set the local buckets to what the server says is left (never above it)."""
        buckets = self._limiter.buckets if self._limiter is not None else {}
        for item in limits:
            if not isinstance(item, dict):
                continue
            kind, count, limit = item.get("rateLimitType"), item.get("count"), item.get("limit")
            if not isinstance(count, int) or not isinstance(limit, int):
                continue
            if kind == "REQUEST_WEIGHT":
                self.used_weight = count
                bucket = buckets.get("weight")
            elif kind == "ORDERS":
                bucket = buckets.get("orders")
            else:
                continue
            if bucket is None:
                continue
            left = max(0.0, float(limit - count))  # in the bucket's units: weight, orders
            if left < bucket.tokens:
                bucket.drain()
                bucket.refund(left)

    def _on_api_message(self, msg: Any) -> None:
        """Unsolicited messages of the API connection: user-data events."""
        handler = self._user_handler
        if handler is None:
            return
        try:
            doc = msg.json()
        except Exception:
            return
        if isinstance(doc, dict) and "event" in doc:
            handler(doc["event"])

    async def subscribe_user_data(self, handler: Callable[[Any], Any]) -> Any:
        """Receive this account's user-data events on the API connection.

        ``userDataStream.subscribe`` on a logged-on session (Ed25519 keys), else the signed
        ``userDataStream.subscribe.signature`` (HMAC keys).  Events go to ``handler(event)``;
        the subscription is made again after every reconnect, right after the logon.

        Raises:
            ConfigError: no credentials.
        """
        if self._creds is None:
            raise ConfigError("subscribe_user_data: give api_key and a key", field="api_key")
        self._user_handler = handler
        self._check_retry_after("userDataStream.subscribe")
        try:
            result = await self._subscribe_user_stream(self.client)
        except RpcError as exc:
            self._raise_mapped(exc)
        self._user_stream = True
        return result

    async def _subscribe_user_stream(self, client: Any) -> Any:
        assert self._creds is not None
        if self._logged_on_epoch == int(client.epoch):
            return await client.request("userDataStream.subscribe")
        params = self._creds.signed(None, self.clock.now_ms(), self._recv_window)
        return await client.request("userDataStream.subscribe.signature", params)

    # ------------------------------------------------------------------ market streams

    async def _stream_client(self) -> Any:
        async with self._stream_lock:
            if self.streams is None:
                if self._stream_url is None:
                    raise ConfigError("stream_url: no market-stream endpoint", field="stream_url")
                from ..client import connect as zconnect
                from ..ratelimit import preset

                options: dict[str, Any] = {
                    "dialect": "binance",
                    # incoming control messages per second, with room for a PONG
                    "rate_limit": preset("simple", rate=MAX_INCOMING_PER_SECOND - 1, burst=1.0),
                    "retry_delay": MIN_RETRY_DELAY,
                    "attempt_limit": self.attempt_limit,
                }
                options.update(self._stream_options)
                self.streams = await zconnect(self._stream_url, **options)
                self.streams.add_reconnect_hook(self._on_stream_reconnect)
                if self.streams.on_message is None:
                    self.streams.on_message = self._on_raw_event
        return self.streams

    async def _on_stream_reconnect(self, client: Any) -> None:
        # The client restores the streams; the books start over from new snapshots (not
        # after a rotation: its stream stays continuous, deduplicated by update id).
        if not getattr(client, "rotating", False):
            self._books.invalidate_all("stream connection replaced")

    async def subscribe(
        self, streams: str | Iterable[str], handler: Callable[[Any], Any] | None = None
    ) -> list[str]:
        """Subscribe to market streams (``SUBSCRIBE``, paced; restored after reconnects).

        Args:
            streams: stream names (``"btcusdt@trade"``).
            handler: called with each :class:`zenws.Message` of these streams
                (``msg.json()`` is ``{"stream", "data"}`` on the combined endpoint).

        Returns:
            The confirmed streams.

        Raises:
            ConfigError: more than 1024 streams on the connection.
        """
        names = [streams] if isinstance(streams, str) else list(streams)
        client = await self._stream_client()
        total = len(set(client.subscriptions) | set(names))
        if total > wire.MAX_STREAMS_PER_CONNECTION:
            raise ConfigError(
                f"streams: {total} exceeds {wire.MAX_STREAMS_PER_CONNECTION} per connection",
                field="streams",
            )
        for name in names:
            self._stream_handlers[name] = handler
        result: list[str] = await client.subscribe(names, handler)
        return result

    def _on_raw_event(self, msg: Any) -> None:
        """An event of the raw endpoint (no ``stream`` key): find its stream by content."""
        try:
            event = msg.json()
        except Exception:
            return
        name = stream_of(event, self._stream_handlers)
        handler = self._stream_handlers.get(name) if name is not None else None
        if handler is not None:
            handler(msg)

    async def unsubscribe(self, streams: str | Iterable[str]) -> None:
        """``UNSUBSCRIBE`` and forget the streams (and their books)."""
        names = [streams] if isinstance(streams, str) else list(streams)
        client = await self._stream_client()
        await client.unsubscribe(names)
        for name in names:
            self._books.forget(name)
            self._stream_handlers.pop(name, None)

    async def list_subscriptions(self) -> list[str]:
        """``LIST_SUBSCRIPTIONS``: the streams the server has for the stream connection."""
        client = await self._stream_client()
        result = await client.request("LIST_SUBSCRIPTIONS")
        return list(result or [])

    # ------------------------------------------------------------------ books

    async def _snapshot(self, symbol: str, limit: int) -> Any:
        return await self.request("depth", {"symbol": symbol, "limit": limit})

    async def on_book(
        self,
        symbol: str,
        handler: Callable[[Any], Any] | None = None,
        *,
        speed: str = "100ms",
    ) -> Any:
        """Maintain a local book of ``symbol`` from its diff-depth stream.

        Events are buffered until a ``depth`` snapshot (WebSocket API) is applied; events
        with ``u <= lastUpdateId`` are dropped, the first applied one must have
        ``U <= lastUpdateId + 1 <= u``, then each ``U`` must follow the previous ``u``.  A
        gap clears that book, counts in ``metrics().gaps``, calls :attr:`on_gap` and
        resyncs that book only.

        Args:
            symbol: e.g. ``"BTCUSDT"``.
            handler: ``handler(book)`` after each applied update.
            speed: ``"100ms"`` or ``"1000ms"`` (the stream's update speed).

        Returns:
            The live :class:`zenws.fast.book.L2Book` (stale until synced).
        """
        stream = f"{symbol.lower()}@depth" + ("" if speed == "1000ms" else f"@{speed}")
        entry = self._books.add(symbol.upper(), stream, handler)
        books = self._books

        def on_message(msg: Any) -> None:
            doc = msg.json()
            if isinstance(doc, dict) and "stream" in doc:  # the combined endpoint
                doc = doc.get("data")
            books.on_event(stream, doc)

        await self.subscribe([stream], on_message)
        return entry.book

    @property
    def books(self) -> dict[str, Any]:
        """Local books by symbol."""
        return {e.symbol: e.book for e in self._books.books.values()}

    def book_entry(self, symbol: str) -> DepthBook | None:
        """The sync state of ``symbol``'s book (snapshots taken, buffered events)."""
        for entry in self._books.books.values():
            if entry.symbol == symbol.upper():
                return entry
        return None

    @property
    def on_gap(self) -> Callable[[BookGap], Any] | None:
        """Optional callback receiving each :class:`BookGap`."""
        return self._books.on_gap

    @on_gap.setter
    def on_gap(self, callback: Callable[[BookGap], Any] | None) -> None:
        self._books.on_gap = callback

    # ------------------------------------------------------------------ observability

    def metrics(self) -> BinanceMetrics:
        """Adapter counters plus the API client's metrics."""
        return BinanceMetrics(
            logons=self.logons,
            time_syncs=self.time_syncs,
            clock_offset_ms=self.clock.offset_ms,
            resent_1021=self.resent_1021,
            rate_limited=self.rate_limited,
            gaps=self._books.gaps,
            resyncs=self._books.resyncs,
            used_weight=self.used_weight,
            client=self.client.metrics(),
        )

    def __repr__(self) -> str:
        who = self._creds.key_type if self._creds else "anonymous"
        return f"<BinanceClient {who} {self.client!r} logged_on={self.logged_on}>"


def binance_limiter(**overrides: Any) -> Any:
    """The ``binance`` rate-limit preset: ``weight`` and ``orders`` buckets.

    The server's ``rateLimits`` in each response correct both (see
    :meth:`BinanceClient._correct`); ``overrides`` go to :func:`zenws.ratelimit.preset`.
    """
    from ..ratelimit import preset

    return preset("binance", **overrides)
