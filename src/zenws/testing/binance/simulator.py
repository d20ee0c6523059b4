"""``BinanceSimulator``: Binance's Spot WebSocket API and market streams on a MockServer.

One server, routed by path like Binance's hosts: the WebSocket API on ``knobs.path``
(``/ws-api/v3``), market streams on ``/ws``, ``/ws/<stream>`` and ``/stream?streams=a/b``.
What it reproduces (https://developers.binance.com/docs/binance-spot-api-docs/web-socket-api,
.../web-socket-streams), every number in :class:`~zenws.testing.binance.BinanceKnobs`:

- requests ``{"id", "method", "params"}`` answered with ``{"id", "status", "result",
  "rateLimits"}`` or ``{"id", "status", "error": {"code", "msg"[, "data"]}, "rateLimits"}``;
- REQUEST_WEIGHT per IP (the whole simulator) with 429 / -1003 and ``error.data.retryAfter``,
  a 418 ban after repeated violations; ORDERS limits (429 / -1015) on order methods;
- SIGNED requests (HMAC hex, Ed25519 base64), ``timestamp`` / ``recvWindow`` against a server
  clock that may drift (``clock_offset_ms``), ``session.logon`` / ``status`` / ``logout``;
- ``depth`` snapshots consistent with the ``@depth`` diff streams, trades, orders and
  user-data events after ``userDataStream.subscribe``;
- server PINGs, closing without a PONG, the 5 incoming messages/s limit of stream
  connections, the 1024-stream limit, the connection lifetime and the connection-attempt
  limit (HTTP 429 on upgrade).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson

from ...exchanges import binance
from .._simulator import Simulator, apply_overrides
from ..connection import Connection
from ..handler import Received, Refusal, UpgradeRequest
from ..server import MockServer
from .api import HANDLERS
from .auth import Keys, Session, check_timestamp, now_ms
from .knobs import ApiError, BinanceKnobs
from .market import Market
from .orders import Account
from .streams import StreamEndpoint

__all__ = ["BinanceSimulator"]

_INTERVALS = sorted(((s, unit) for unit, s in binance.INTERVAL_SECONDS.items()), reverse=True)


@dataclass
class _State:
    api: bool = True
    outstanding: dict[bytes, float] = field(default_factory=dict)  # ping payload -> sent at
    seq: int = 0
    last_pong: float | None = None
    streams: dict[str, None] = field(default_factory=dict)  # subscribed, in order
    incoming: deque[float] = field(default_factory=deque)
    pinger: asyncio.Task[None] | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    session: Session = field(default_factory=lambda: Session(now_ms(0)))
    return_rate_limits: bool = True


class _Window:
    """A fixed-interval counter (Binance resets counts at each interval's start)."""

    __slots__ = ("count", "length", "start")

    def __init__(self, length: float) -> None:
        self.length, self.start, self.count = length, time.monotonic(), 0

    def roll(self, length: float) -> None:
        now = time.monotonic()
        self.length = length
        if now - self.start >= length:
            self.start, self.count = now, 0

    def ends_in(self) -> float:
        return max(0.0, self.start + self.length - time.monotonic())


class BinanceSimulator(Simulator):
    """Binance on loopback: ``async with BinanceSimulator().serve() as sim: sim.url``.

    Args:
        knobs: settings; keyword arguments override single fields.
        **overrides: fields of :class:`~zenws.testing.binance.BinanceKnobs`.

    Attributes:
        knobs: the live settings.
        keys: accepted API keys (:meth:`add_hmac_key`, :meth:`add_ed25519_key`).
        market: books and stream subscriptions.
        account: balances and orders.
        user_streams: user-data subscription id -> its connection.
    """

    def __init__(self, knobs: BinanceKnobs | None = None, **overrides: Any) -> None:
        self.knobs = knobs or BinanceKnobs()
        apply_overrides(self.knobs, overrides, "BinanceSimulator")
        self.server: MockServer | None = None
        self.keys = Keys()
        self.market: Market = Market(self.knobs, self.now)
        self.account: Account = Account(self.knobs, self.market, self.now, self._user_event)
        self.user_streams: dict[int, Connection] = {}
        self.subscription_ids = itertools.count()
        self.streams = StreamEndpoint(self)
        self._weight = _Window(self.knobs.weight_window)
        self._orders = _Window(self.knobs.orders_window)
        self._orders_day = _Window(86_400.0)
        self._violations = 0
        self._banned_until = 0.0  # monotonic
        self._attempts: deque[float] = deque()

    # ------------------------------------------------------------------ public helpers
    def now(self) -> int:
        """The server clock in epoch ms (local clock + ``clock_offset_ms``)."""
        return now_ms(self.knobs.clock_offset_ms)

    def add_hmac_key(self, api_key: str, secret: str | bytes) -> None:
        """Accept ``api_key`` with HMAC-SHA-256 signatures made with ``secret``."""
        self.keys.add_hmac(api_key, secret)

    def add_ed25519_key(self, api_key: str, public_key: Any) -> None:
        """Accept ``api_key`` with Ed25519 signatures (PEM, 32 raw bytes or key object)."""
        self.keys.add_ed25519(api_key, public_key)

    def inject_gap(self, symbol: str, updates: int = 5) -> None:
        """Advance ``symbol``'s book ``updates`` times without sending the diff events."""
        self.market.inject_gap(symbol, updates)

    def stream_url(self, *streams: str) -> str:
        """``ws://.../stream?streams=a/b`` (combined), or ``.../ws`` without streams."""
        base = self.url.split("/", 3)
        root = "/".join(base[:3])
        return f"{root}/stream?streams={'/'.join(streams)}" if streams else f"{root}/ws"

    def raw_url(self, stream: str | None = None) -> str:
        """``ws://.../ws/<stream>`` (one raw stream), or ``.../ws``."""
        root = "/".join(self.url.split("/", 3)[:3])
        return f"{root}/ws/{stream}" if stream else f"{root}/ws"

    # ------------------------------------------------------------------ lifecycle
    def _server_defaults(self) -> dict[str, Any]:
        return {"path": None}

    @property
    def url(self) -> str:
        """The WebSocket API URL (``ws://127.0.0.1:port/ws-api/v3``)."""
        if self.server is None:
            raise RuntimeError("the simulator is not running")
        root = self.server.url.rstrip("/")
        return root + self.knobs.path

    async def on_stop(self, server: MockServer) -> None:
        """Stop pingers, timers and generators."""
        for conn in server.connections:
            self._stop(conn)
        self.market.stop()

    @staticmethod
    def state(conn: Connection) -> _State:
        """The simulator state of a connection."""
        st = conn.state.get("binance")
        if st is None:
            st = conn.state["binance"] = _State()
        assert isinstance(st, _State)
        return st

    def on_upgrade(self, request: UpgradeRequest) -> Refusal | None:
        """Route by path (others: 404) and apply the connection-attempt limit (429)."""
        now = time.monotonic()
        window = self.knobs.connection_attempts_window
        while self._attempts and now - self._attempts[0] >= window:
            self._attempts.popleft()
        self._attempts.append(now)
        if len(self._attempts) > self.knobs.connection_attempts:
            retry = max(1, int(self._attempts[0] + window - now + 1))
            return Refusal(429, {"Retry-After": str(retry)}, b"Too many connection attempts")
        if request.path != self.knobs.path and not StreamEndpoint.serves(request.path):
            return Refusal(404, {}, b"Not Found")
        return None

    def on_connect(self, connection: Connection) -> None:
        """Start the PING loop and the lifetime timer; open raw/combined URL streams."""
        st = self.state(connection)
        path = connection.request.path
        st.api = path == self.knobs.path and not StreamEndpoint.serves(path)
        st.session = Session(self.now())
        st.return_rate_limits = connection.request.query.get("returnRateLimits") != "false"
        loop = asyncio.get_running_loop()
        st.pinger = loop.create_task(self._ping_loop(connection, st))
        st.tasks.append(st.pinger)
        st.tasks.append(loop.create_task(self._lifetime(connection)))
        if st.api:
            self._weight.roll(self.knobs.weight_window)
            self._weight.count += self.knobs.connect_weight
        else:
            self.streams.open(connection, st)

    def on_pong(self, connection: Connection, payload: bytes) -> None:
        """A PONG echoing an outstanding PING's payload answers it (and every older one).

        Unsolicited PONGs are accepted but do not prevent the disconnect (Binance docs); on a
        stream connection they count toward the incoming-message limit.  Echoes of the
        server's own PINGs do not (at Binance's 20 s they never matter; with a test's short
        ``ping_interval`` they would close every connection).
        """
        st = self.state(connection)
        st.last_pong = time.monotonic()
        if payload in st.outstanding:
            sent_at = st.outstanding[payload]
            st.outstanding = {p: t for p, t in st.outstanding.items() if t > sent_at}
        elif not st.api:
            self.streams.count_incoming(connection, st)

    def on_disconnect(self, connection: Connection) -> None:
        """Stop this connection's tasks and subscriptions."""
        self._stop(connection)

    def _stop(self, conn: Connection) -> None:
        st = self.state(conn)
        for task in st.tasks:
            task.cancel()
        st.tasks.clear()
        self.market.drop(conn)
        st.streams.clear()
        for sub in st.session.subscriptions or ():
            self.user_streams.pop(sub, None)

    async def _lifetime(self, conn: Connection) -> None:
        # Binance: "expect to be disconnected at the 24 hour mark" -- a plain close.
        await asyncio.sleep(self.knobs.connection_lifetime)
        await conn.close(self.knobs.lifetime_close_code)

    async def _ping_loop(self, conn: Connection, st: _State) -> None:
        next_ping = time.monotonic() + self.knobs.ping_interval
        while conn.open:
            deadline = next_ping
            if st.outstanding:
                deadline = min(deadline, min(st.outstanding.values()) + self.knobs.pong_timeout)
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            now = time.monotonic()
            if st.outstanding and now - min(st.outstanding.values()) >= self.knobs.pong_timeout:
                await conn.close(self.knobs.pong_timeout_close_code, "pong timeout")
                return
            if now >= next_ping:
                st.seq += 1
                payload = f"{int(time.time() * 1000)}-{st.seq}".encode()
                st.outstanding[payload] = now
                conn.send_ping(payload)
                next_ping = now + self.knobs.ping_interval

    # ------------------------------------------------------------------ requests
    def on_message(self, connection: Connection, message: Received) -> None:
        """Answer one WebSocket API request, or one stream control message."""
        st = self.state(connection)
        if not st.api:
            self.streams.on_message(connection, st, message)
            return
        try:
            request = orjson.loads(message.data)
        except orjson.JSONDecodeError:
            request = None
        if not isinstance(request, dict):
            self._answer(connection, st, None, None, ApiError(-1100, msg="Malformed request."))
            return
        req_id, method = request.get("id"), request.get("method")
        params = request.get("params")
        params = params if isinstance(params, dict) else {}
        try:
            result = self._call(connection, st, str(method), params)
        except ApiError as exc:
            self._answer(connection, st, req_id, str(method), exc, params=params)
            return
        except (TypeError, ValueError, KeyError, AttributeError) as exc:  # odd param types
            error = ApiError(-1000, msg=f"An unknown error occurred: {type(exc).__name__}.")
            self._answer(connection, st, req_id, str(method), error, params=params)
            return
        self._answer(connection, st, req_id, str(method), result=result, params=params)

    def _call(self, conn: Connection, st: _State, method: str, params: dict[str, Any]) -> Any:
        self._charge(method, params)
        handler = HANDLERS.get(method)
        if handler is None:
            raise ApiError(-1100, msg=f"Unknown method '{method}'.")
        table = binance.METHODS[method]
        if table.signed:
            self._authorize(st, method, params)
        elif table.security == "USER_STREAM" and st.session.api_key is None:
            raise ApiError(-2015, status=401)
        if table.orders:
            self._count_order()
        return handler(self, conn, st, params)

    def _authorize(self, st: _State, method: str, params: dict[str, Any]) -> None:
        if method == "session.logon" or "signature" in params or st.session.api_key is None:
            self.keys.verify(params)
        check_timestamp(params, self.now())

    def _charge(self, method: str, params: dict[str, Any]) -> None:
        k = self.knobs
        now = time.monotonic()
        if now < self._banned_until:
            until = self.now() + int((self._banned_until - now) * 1000)
            raise self._too_many(binance.BANNED, until, banned=True)
        self._weight.roll(k.weight_window)
        if self._weight.count == 0:
            self._violations = 0
        flat = k.weights.get(method, 1)
        cost = binance.weight(method, params) if flat == binance.WEIGHTS.get(method, 1) else flat
        self._weight.count += cost
        if self._weight.count <= k.weight_limit:
            return
        self._violations += 1
        if self._violations > k.ban_after:
            self._banned_until = now + k.ban_duration
            raise self._too_many(binance.BANNED, self.now() + int(k.ban_duration * 1000), True)
        raise self._too_many(429, self.now() + int(self._weight.ends_in() * 1000) + 1, False)

    def _too_many(self, status: int, retry_after: int, banned: bool) -> ApiError:
        k = self.knobs
        if banned:
            msg = (
                f"Way too much request weight used; IP banned until {retry_after}. "
                "Please use WebSocket Streams for live updates to avoid bans."
            )
        else:
            msg = binance.ERRORS[-1003] % (k.weight_limit, _interval(k.weight_window))
        data = {"serverTime": self.now(), "retryAfter": retry_after}
        return ApiError(binance.TOO_MANY_REQUESTS, msg=msg, status=status, data=data)

    def _count_order(self) -> None:
        k = self.knobs
        self._orders.roll(k.orders_window)
        self._orders_day.roll(86_400.0)
        for window, limit in (
            (self._orders, k.orders_per_10s),
            (self._orders_day, k.orders_per_day),
        ):
            if window.count >= limit:
                msg = binance.ERRORS[-1015] % (limit, _interval(window.length))
                retry = self.now() + int(window.ends_in() * 1000) + 1
                data = {"serverTime": self.now(), "retryAfter": retry}
                raise ApiError(-1015, msg=msg, status=429, data=data)
        self._orders.count += 1
        self._orders_day.count += 1

    def limit_view(
        self, kind: str, seconds: float, limit: int, count: int | None
    ) -> dict[str, Any]:
        """One ``rateLimits`` entry (``count`` omitted when ``None``, as in exchangeInfo)."""
        unit, num = _interval_parts(seconds)
        out: dict[str, Any] = {
            "rateLimitType": kind,
            "interval": unit,
            "intervalNum": num,
            "limit": limit,
        }
        if count is not None:
            out["count"] = count
        return out

    def _answer(
        self,
        conn: Connection,
        st: _State,
        req_id: Any,
        method: str | None,
        error: ApiError | None = None,
        *,
        result: Any = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        k = self.knobs
        msg: dict[str, Any] = {"id": req_id, "status": 200 if error is None else error.status}
        if error is None:
            msg["result"] = result
        else:
            msg["error"] = {"code": error.code, "msg": error.msg}
            if error.data is not None:
                msg["error"]["data"] = error.data
        show = (params or {}).get("returnRateLimits", st.return_rate_limits)
        if show is not False:
            limits = [
                self.limit_view(
                    "REQUEST_WEIGHT", k.weight_window, k.weight_limit, self._weight.count
                )
            ]
            table = binance.METHODS.get(method or "")
            if table is not None and table.orders:
                limits[:0] = [
                    self.limit_view(
                        "ORDERS", k.orders_window, k.orders_per_10s, self._orders.count
                    ),
                    self.limit_view("ORDERS", 86_400.0, k.orders_per_day, self._orders_day.count),
                ]
            msg["rateLimits"] = limits
        conn.send_json(msg)

    def _user_event(self, event: dict[str, Any]) -> None:
        for sub, conn in list(self.user_streams.items()):
            conn.send_json({"subscriptionId": sub, "event": event})


def _interval_parts(seconds: float) -> tuple[str, int]:
    for length, unit in _INTERVALS:
        if seconds >= length and seconds % length == 0:
            return unit, int(seconds // length)
    return "SECOND", max(1, round(seconds))


def _interval(seconds: float) -> str:
    unit, num = _interval_parts(seconds)
    return f"{num} {unit}"
