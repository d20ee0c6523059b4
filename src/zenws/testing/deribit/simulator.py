"""``DeribitSimulator``: a :class:`~zenws.testing.Handler` speaking Deribit JSON-RPC v2.

Deribit facts it reproduces (the wire facts live in :mod:`zenws.exchanges.deribit`): the
response envelope with ``usIn``/``usOut``/``usDiff``/``testnet``, heartbeats with
test_requests, auth grants, private methods, subscriptions with a 250-channel limit, book
snapshots and changes, cancel on disconnect and the credit rate limiter that answers
``10028`` and then ends the session.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Iterator
from typing import Any

import orjson

from .._simulator import Simulator, apply_overrides
from ..connection import Connection
from ..handler import Received
from ..server import MockServer
from .auth import Session, Tokens
from .knobs import DeribitKnobs, RpcFault
from .market import Market
from .methods import MATCHING, METHODS, SUBSCRIBE, Method
from .orders import Order, OrderBook

__all__ = ["DeribitSimulator"]

_NO_ID = object()


class _Bucket:
    """Credit bucket with continuous refill (Deribit credits)."""

    __slots__ = ("capacity", "refill", "stamp", "tokens")

    def __init__(self, capacity: float, refill: float) -> None:
        self.capacity, self.refill = capacity, refill
        self.tokens, self.stamp = capacity, time.monotonic()

    def take(self, cost: float) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.refill)
        self.stamp = now
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True


class DeribitSimulator(Simulator):
    """Deribit on loopback: ``async with DeribitSimulator().serve() as sim: sim.url``.

    Args:
        knobs: settings; keyword arguments override single fields
            (``DeribitSimulator(min_heartbeat_interval=0.1, seed=7)``).
        **overrides: fields of :class:`~zenws.testing.deribit.DeribitKnobs`.

    Attributes:
        knobs: the live settings (change them at any time).
        server: the :class:`~zenws.testing.MockServer` it runs on (after start).
        market: instruments and channel streams.
        orders: the order book of every account.
        tokens: issued access/refresh tokens.
    """

    def __init__(self, knobs: DeribitKnobs | None = None, **overrides: Any) -> None:
        self.knobs = knobs or DeribitKnobs()
        apply_overrides(self.knobs, overrides, "DeribitSimulator")
        self.server: MockServer | None = None
        self.market = Market(self.knobs)
        self.tokens = Tokens(self.knobs)
        self.orders = OrderBook(self.market, self._order_update)
        self.methods: dict[str, Method] = dict(METHODS)
        self.extra_channels: set[str] = set()
        self._faults: dict[str, list[Any]] = {}
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ lifecycle
    def _server_defaults(self) -> dict[str, Any]:
        return {"path": self.knobs.path, "max_connections": self.knobs.max_connections}

    async def on_start(self, server: MockServer) -> None:
        """Bind to ``server`` and start the idle-connection sweeper."""
        await super().on_start(server)
        if self.knobs.idle_timeout:
            self.spawn(self._sweep_idle())

    async def on_stop(self, server: MockServer) -> None:
        """Stop streams, heartbeats and background tasks."""
        self.market.stop()
        for task in list(self._tasks):
            task.cancel()
        for conn in server.connections:
            self.stop_heartbeat(self.session(conn))

    def terminate(self, conn: Connection, code: int, reason: str) -> None:
        """End a session: later requests are ignored, then the connection closes (once)."""
        session = self.session(conn)
        if not session.closing:
            session.closing = True
            self.spawn(conn.close(code, reason))

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` as a task owned (and cancelled on stop) by the simulator."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------ handler hooks
    @staticmethod
    def session(conn: Connection) -> Session:
        """The Deribit session of a connection."""
        session = conn.state.get("deribit")
        if session is None:
            session = conn.state["deribit"] = Session()
        assert isinstance(session, Session)
        return session

    def on_connect(self, connection: Connection) -> None:
        """Create the session; end it when ``knobs.connection_lifetime`` is over."""
        self.session(connection)
        lifetime = self.knobs.connection_lifetime
        if lifetime is not None:
            self.spawn(self._end_of_life(connection, lifetime))

    async def _end_of_life(self, conn: Connection, lifetime: float) -> None:
        await asyncio.sleep(lifetime)
        if conn.open:
            self.terminate(conn, self.knobs.lifetime_close_code, "connection lifetime reached")

    def on_message(self, connection: Connection, message: Received) -> None:
        """Parse one JSON-RPC request and answer it."""
        us_in = time.time_ns() // 1000
        session = self.session(connection)
        if session.closing:
            return  # the session was terminated; its connection is closing
        session.last_activity = time.monotonic()
        try:
            request = orjson.loads(message.data)
        except orjson.JSONDecodeError:
            self._error(connection, _NO_ID, RpcFault(-32700, "Parse error"), us_in)
            return
        if not isinstance(request, dict):
            self._error(connection, _NO_ID, RpcFault(-32600, "Invalid Request"), us_in)
            return
        req_id = request.get("id", _NO_ID)
        method, params = request.get("method"), request.get("params") or {}
        if method == "public/test" and req_id is not _NO_ID:
            session.test_request_pending = False  # only a request *with an id* answers it
        try:
            result = self._call(connection, session, method, params)
        except RpcFault as fault:
            self._error(connection, req_id, fault, us_in)
            if fault.code == 10028:
                self.terminate(connection, self.knobs.rate_limit_close_code, "too_many_requests")
            return
        self._reply(connection, req_id, result, us_in)

    def on_disconnect(self, connection: Connection) -> None:
        """Stop streams and heartbeats; fire cancel-on-disconnect unless logged out."""
        session = self.session(connection)
        self.stop_heartbeat(session)
        self.market.drop(connection)
        if session.cod_enabled and session.client_id and not session.logged_out:
            if session.cod_scope == "account":
                self.orders.cancel_where(session.client_id, "cancel_on_disconnect")
            else:
                self.orders.cancel_where(
                    session.client_id, "cancel_on_disconnect", conn_id=connection.id
                )

    # ------------------------------------------------------------------ dispatch
    def _call(self, conn: Connection, session: Session, method: Any, params: Any) -> Any:
        if not isinstance(method, str) or not isinstance(params, dict):
            raise RpcFault(-32600, "Invalid Request")
        self._injected_fault(method)
        fn = self.methods.get(method)
        if fn is None:
            raise RpcFault(-32601, "Method not found", {"method": method})
        if method in SUBSCRIBE:
            channels = params.get("channels")
            if isinstance(channels, list) and len(channels) > self.knobs.max_channels_per_subscribe:
                raise _TooLarge()
        if method.startswith("private/"):
            account = self._authorize(session, params)
            if account != session.client_id:
                # params.access_token authorizes this call only, not the connection.
                saved = session.client_id
                session.client_id = account
                try:
                    self._charge(conn, session, method)
                    return fn(self, conn, session, params)
                finally:
                    session.client_id = saved
        self._charge(conn, session, method)
        return fn(self, conn, session, params)

    def _authorize(self, session: Session, params: dict[str, Any]) -> str:
        token = params.get("access_token", session.access_token)
        return self.tokens.check_access(token if isinstance(token, str) else None)

    def _charge(self, conn: Connection, session: Session, method: str) -> None:
        if not self.knobs.rate_limits:
            return
        k = self.knobs
        if method in MATCHING:
            kind, pool, cost, refill = (
                "matching",
                k.matching_pool,
                k.matching_cost,
                k.matching_refill,
            )
        elif method in SUBSCRIBE:
            kind, pool, cost, refill = (
                "subscribe",
                k.subscribe_pool,
                k.subscribe_cost,
                k.subscribe_refill,
            )
        else:
            kind, pool, cost, refill = "credits", k.credits_pool, k.credits_cost, k.credits_refill
        owner = session.client_id or f"conn:{conn.id}"  # per account once authenticated
        bucket = self._buckets.get((owner, kind))
        if bucket is None:
            bucket = self._buckets[(owner, kind)] = _Bucket(pool, refill)
        if not bucket.take(cost):
            raise RpcFault(10028, "too_many_requests")

    def _injected_fault(self, method: str) -> None:
        for key in (method, "*"):
            queue = self._faults.get(key)
            if queue:
                fault = queue[0]
                if fault[1] is not None:
                    fault[1] -= 1
                    if fault[1] <= 0:
                        queue.pop(0)
                raise fault[0]

    def _envelope(self, us_in: int) -> dict[str, Any]:
        us_out = time.time_ns() // 1000
        return {
            "usIn": us_in,
            "usOut": us_out,
            "usDiff": us_out - us_in,
            "testnet": self.knobs.testnet,
        }

    def _reply(self, conn: Connection, req_id: Any, result: Any, us_in: int) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0"}
        if req_id is not _NO_ID:
            msg["id"] = req_id
        msg["result"] = result
        msg.update(self._envelope(us_in))
        conn.send_json(msg)

    def _error(self, conn: Connection, req_id: Any, fault: RpcFault, us_in: int) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0"}
        if req_id is not _NO_ID and not isinstance(fault, _TooLarge):
            msg["id"] = req_id  # Deribit drops the id of an oversized request
        msg["error"] = fault.to_dict()
        msg.update(self._envelope(us_in))
        conn.send_json(msg)

    # ------------------------------------------------------------------ heartbeats
    def start_heartbeat(self, conn: Connection, session: Session, interval: float) -> None:
        """(Re)start server heartbeats on ``conn`` every ``interval`` seconds."""
        self.stop_heartbeat(session)
        session.heartbeat_interval = interval
        session.heartbeat_task = self.spawn(self._heartbeat(conn, session, interval))

    @staticmethod
    def stop_heartbeat(session: Session) -> None:
        """Stop heartbeats (``public/disable_heartbeat``, disconnect)."""
        if session.heartbeat_task is not None:
            session.heartbeat_task.cancel()
            session.heartbeat_task = None
        session.heartbeat_interval = None
        session.test_request_pending = False

    async def _heartbeat(self, conn: Connection, session: Session, interval: float) -> None:
        for kind in _cycle(self.knobs.heartbeat_cycle):
            await asyncio.sleep(interval)
            if session.test_request_pending:
                # No public/test within the interval: Deribit closes the connection.
                session.heartbeat_task = None
                await conn.close(self.knobs.heartbeat_close_code, "heartbeat timeout")
                return
            conn.send_json({"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": kind}})
            session.test_request_pending = kind == "test_request"

    async def _sweep_idle(self) -> None:
        while True:
            limit = self.knobs.idle_timeout
            await asyncio.sleep(min(1.0, (limit or 1.0) / 4))
            if not limit or self.server is None:
                continue
            now = time.monotonic()
            for conn in self.server.connections:
                if now - self.session(conn).last_activity > limit:
                    self.terminate(conn, 1000, "idle timeout")

    # ------------------------------------------------------------------ user hooks
    def accepts_channel(self, channel: str) -> bool:
        """True for extra (non-market) channels a subscribe accepts (see :meth:`publish`)."""
        return channel in self.extra_channels

    def register(self, method: str, fn: Method) -> None:
        """Add or replace a method: ``fn(sim, connection, session, params) -> result``."""
        self.methods[method] = fn

    def connections(self) -> list[Connection]:
        """Open connections."""
        return self.server.connections if self.server is not None else []

    def _order_update(self, account: str, order: Order) -> None:
        channels = (f"user.orders.{order['instrument_name']}.raw", "user.orders.any.any.raw")
        for conn in self.connections():
            s = self.session(conn)
            if s.client_id == account:
                for channel in channels:
                    if channel in s.subscriptions:
                        conn.send_json(_notification(channel, order))

    def publish(self, channel: str, data: Any) -> int:
        """Send a notification on any channel to its subscribers; returns how many got it."""
        count = 0
        for conn in self.connections():
            if channel in self.session(conn).subscriptions:
                count += bool(conn.send_json(_notification(channel, data)))
        return count

    # ------------------------------------------------------------------ chaos hooks
    def inject_gap(self, channel: str) -> None:
        """Make the next book change on ``channel`` skip exactly one ``change_id``."""
        stream = self.market.streams.get(channel)
        if stream is None or stream.kind != "book":
            raise LookupError(f"no active book stream {channel!r}")
        stream.gap_pending = True

    def fail_next(
        self,
        method: str = "*",
        code: int = 10040,
        message: str = "retry",
        *,
        data: Any = None,
        count: int | None = 1,
    ) -> None:
        """Answer the next ``count`` calls of ``method`` (``"*"`` = any) with an error.

        ``count=None`` keeps failing until :meth:`clear_faults` (e.g. 11051 maintenance).
        """
        self._faults.setdefault(method, []).append([RpcFault(code, message, data), count])

    def clear_faults(self) -> None:
        """Forget every :meth:`fail_next`."""
        self._faults.clear()

    def expire_tokens(self, client_id: str | None = None) -> int:
        """Expire access tokens now (private calls then get 13009 until re-auth)."""
        return self.tokens.expire(client_id)

    def _targets(self, connection: Connection | int | None) -> list[Connection]:
        if self.server is None:
            return []
        return (
            self.server.connections if connection is None else [self.server.connection(connection)]
        )

    async def drop_connection(
        self,
        connection: Connection | int | None = None,
        *,
        abort: bool = True,
        code: int = 1001,
        reason: str = "",
    ) -> None:
        """Reset (default) or close connections: all, or one."""
        for conn in self._targets(connection):
            if abort:
                conn.abort()
            else:
                await conn.close(code, reason)

    def stall(self, connection: Connection | int | None = None) -> None:
        """Turn connections into silent half-open peers (heartbeats stop too)."""
        for conn in self._targets(connection):
            conn.stall()

    def set_price(self, instrument: str, price: float) -> None:
        """Jump an instrument's mid price (a flash move for demos)."""
        self.market.instruments[instrument].jump(price)


class _TooLarge(RpcFault):
    def __init__(self) -> None:
        super().__init__(-32600, "request entity too large")


def _notification(channel: str, data: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "method": "subscription",
        "params": {"channel": channel, "data": data},
    }


def _cycle(kinds: tuple[str, ...]) -> Iterator[str]:
    while True:
        yield from kinds or ("test_request",)
