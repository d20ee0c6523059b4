"""A BinanceSimulator with the documented parts the adapter tests need on top of it.

Signed requests (HMAC-SHA256 or Ed25519 over ``exchanges.binance.signature_payload``),
``recvWindow`` / -1021 against a server clock that can be skewed, ``session.logon``,
``order.place`` / ``order.status`` / ``order.cancel``, the ``depth`` snapshot and
``<symbol>@depth@100ms`` diff events with gap injection, all as the Binance WebSocket API
documentation describes them.  Everything else is the simulator's own.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from zenws.exchanges import binance as wire
from zenws.testing import BinanceSimulator
from zenws.testing.connection import Connection
from zenws.testing.handler import Received


class Venue(BinanceSimulator):
    """Knobs: ``keys`` api key -> HMAC secret (str) or Ed25519 public key; ``skew_ms``."""

    def __init__(self, keys: dict[str, Any], **kw: Any) -> None:
        super().__init__(**kw)
        self.keys = keys
        self.skew_ms = 0.0
        self.methods: list[tuple[int, str]] = []  # (connection id, method) in arrival order
        self.orders: dict[int, dict[str, Any]] = {}
        self.depth: dict[str, dict[str, Any]] = {}
        self.gap_next: set[str] = set()

    def server_ms(self) -> int:
        return int(time.time() * 1000 + self.skew_ms)

    # ---- requests -------------------------------------------------------------------------
    def on_message(self, connection: Connection, message: Received) -> None:
        req = orjson.loads(message.data)
        method, rid = req.get("method"), req.get("id")
        params = req.get("params") or {}
        self.methods.append((connection.id, str(method)))
        if method == "SUBSCRIBE" and any("@depth" in s for s in params):
            for name in params:
                st = self.state(connection)
                st.streams[name] = asyncio.get_running_loop().create_task(
                    self._depth_stream(connection, name)
                )
            connection.send_json({"result": None, "id": rid})
            return
        if method == "time":
            self._send(connection, rid, 200, result={"serverTime": self.server_ms()})
            return
        if method == "depth":
            book = self._book(params["symbol"])
            snap = {
                "lastUpdateId": book["seq"],
                "bids": [[f"{p:.2f}", f"{q:.3f}"] for p, q in sorted(book["bids"].items())[::-1]],
                "asks": [[f"{p:.2f}", f"{q:.3f}"] for p, q in sorted(book["asks"].items())],
            }
            self._send(connection, rid, 200, result=snap)
            return
        known = wire.METHODS.get(str(method))
        if known is not None and known.signed:
            err = self._check_signed(connection, params)
            if err is not None:
                self._send(connection, rid, 400, error=err)
                return
        if method == "session.logon":
            connection.state["logon"] = params["apiKey"]
            result = {"apiKey": params["apiKey"], "authorizedSince": self.server_ms()}
            self._send(connection, rid, 200, result=result)
            return
        if method == "order.place":
            oid = len(self.orders) + 1
            self.orders[oid] = {"orderId": oid, "status": "NEW", **params}
            self.orders[oid].pop("signature", None)
            self._send(connection, rid, 200, result={"orderId": oid, "status": "NEW"})
            return
        if method == "order.status":
            order = self.orders.get(params.get("orderId"))  # type: ignore[arg-type]
            if order is None:
                self._send(connection, rid, 400, error=(-2013, wire.ERRORS[-2013]))
            else:
                self._send(connection, rid, 200, result=order)
            return
        super().on_message(connection, message)

    def _check_signed(self, conn: Connection, params: dict[str, Any]) -> tuple[int, str] | None:
        ts = params.get("timestamp")
        if not isinstance(ts, int):
            return (-1102, wire.ERRORS[-1102] % ("timestamp",))
        window = params.get("recvWindow", wire.RECV_WINDOW_DEFAULT)
        now = self.server_ms()
        if not (ts < now + wire.TIMESTAMP_AHEAD_MS and now - ts <= window):
            return (-1021, wire.ERRORS[-1021])
        if "signature" not in params:
            if conn.state.get("logon") is None:
                return (-1102, wire.ERRORS[-1102] % ("signature",))
            return None
        key = self.keys.get(params.get("apiKey"))
        payload = wire.signature_payload(params).encode()
        if isinstance(key, str):
            good = hmac.new(key.encode(), payload, hashlib.sha256).hexdigest()
            if hmac.compare_digest(good, params["signature"]):
                return None
        elif isinstance(key, Ed25519PublicKey):
            try:
                key.verify(base64.b64decode(params["signature"]), payload)
                return None
            except Exception:
                pass
        return (-1022, wire.ERRORS[-1022])

    def _send(self, conn: Connection, req_id: Any, status: int, **kw: Any) -> None:
        # Binance puts retryAfter (epoch ms) in error.data; the simulator's 429 does not yet.
        if status == 429 and kw.get("data"):
            window_left = self.knobs.weight_window - (
                time.monotonic() - self.state(conn).window_start
            )
            kw["data"] = {"data": {"retryAfter": self.server_ms() + int(window_left * 1000)}}
        super()._send(conn, req_id, status, **kw)

    # ---- diff depth -----------------------------------------------------------------------
    def _book(self, symbol: str) -> dict[str, Any]:
        book = self.depth.get(symbol)
        if book is None:
            mid = self.knobs.symbols[symbol]
            book = self.depth[symbol] = {
                "seq": 100,
                "bids": {round(mid - i, 2): 1.0 for i in range(1, 6)},
                "asks": {round(mid + i, 2): 1.0 for i in range(1, 6)},
            }
        return book

    def inject_gap(self, symbol: str) -> None:
        """The next diff event of ``symbol`` skips update ids."""
        self.gap_next.add(symbol)

    def _event(self, symbol: str) -> dict[str, Any]:
        book = self._book(symbol)
        first = book["seq"] + 1
        if symbol in self.gap_next:
            self.gap_next.discard(symbol)
            first += 5  # the ids in between are never sent
        last = first + 2
        book["seq"] = last
        mid = self.knobs.symbols[symbol]
        price = round(mid - 1 - (last % 5), 2)
        qty = float(last % 7)
        if qty:
            book["bids"][price] = qty
        else:
            book["bids"].pop(price, None)
        return {
            "e": "depthUpdate",
            "E": self.server_ms(),
            "s": symbol,
            "U": first,
            "u": last,
            "b": [[f"{price:.2f}", f"{qty:.3f}"]],
            "a": [],
        }

    async def _depth_stream(self, conn: Connection, name: str) -> None:
        symbol = name.split("@", 1)[0].upper()
        while conn.open:
            conn.send_json({"stream": name, "data": self._event(symbol)})
            await asyncio.sleep(0.01)  # the stream's pace
