"""Market-stream connections: ``/ws``, ``/ws/<stream>``, ``/stream?streams=a/b``.

Control messages ``SUBSCRIBE`` / ``UNSUBSCRIBE`` / ``LIST_SUBSCRIPTIONS`` answered with
``{"result": ..., "id": ...}`` or ``{"error": {"code", "msg"}, "id": ...}``; at most
``max_streams`` streams per connection; more than ``max_incoming_per_second`` incoming
messages (control messages, PINGs, PONGs) in a second closes the connection
(https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import orjson

from ..connection import Connection
from ..handler import Received

if TYPE_CHECKING:
    from .simulator import BinanceSimulator, _State

__all__ = ["StreamEndpoint"]


class StreamEndpoint:
    """The market-stream side of a :class:`~zenws.testing.BinanceSimulator`."""

    def __init__(self, sim: BinanceSimulator) -> None:
        self.sim = sim

    @staticmethod
    def serves(path: str) -> bool:
        """True for ``/ws``, ``/ws/<stream>`` and ``/stream``."""
        return path in ("/ws", "/stream") or path.startswith("/ws/")

    def open(self, conn: Connection, st: _State) -> None:
        """Subscribe the streams named in the URL (``/ws/<stream>``, ``?streams=a/b``)."""
        path = conn.request.path
        if path.startswith("/ws/"):
            names = [path[len("/ws/") :]]
        elif path == "/stream":
            names = [n for n in conn.request.query.get("streams", "").split("/") if n]
        else:
            names = []
        for name in names[: self.sim.knobs.max_streams]:
            if self.sim.market.subscribe(conn, name):
                st.streams[name] = None

    def count_incoming(self, conn: Connection, st: _State) -> bool:
        """Count one incoming message; close the connection past the per-second limit.

        Returns:
            False when the connection is being closed.
        """
        now = time.monotonic()
        st.incoming.append(now)
        while st.incoming and now - st.incoming[0] >= 1.0:
            st.incoming.popleft()
        if len(st.incoming) <= self.sim.knobs.max_incoming_per_second:
            return True
        code = self.sim.knobs.incoming_close_code
        asyncio.get_running_loop().create_task(conn.close(code, "Too many requests"))
        return False

    def on_message(self, conn: Connection, st: _State, message: Received) -> None:
        """Answer one control message."""
        if not self.count_incoming(conn, st):
            return
        try:
            request = orjson.loads(message.data)
        except orjson.JSONDecodeError:
            self._error(conn, None, 3, "Invalid JSON: expected value")
            return
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            self._error(conn, None, 2, "Invalid request: missing field `method`")
            return
        req_id, method, params = request.get("id"), request["method"], request.get("params")
        if req_id is not None and (isinstance(req_id, bool) or not isinstance(req_id, (int, str))):
            self._error(conn, None, 2, "Invalid request: request ID must be an unsigned integer")
            return
        if method == "LIST_SUBSCRIPTIONS":
            conn.send_json({"result": list(st.streams), "id": req_id})
        elif method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            self._change(conn, st, req_id, method, params)
        else:
            self._error(conn, req_id, 2, f"Invalid request: unknown method `{method}`")

    def _change(self, conn: Connection, st: _State, req_id: Any, method: str, params: Any) -> None:
        if not isinstance(params, list) or not all(isinstance(n, str) for n in params):
            self._error(conn, req_id, 2, "Invalid request: invalid params")
            return
        market = self.sim.market
        if method == "UNSUBSCRIBE":
            for name in params:
                if name in st.streams:
                    del st.streams[name]
                    market.unsubscribe(conn, name)
        else:
            new = [n for n in dict.fromkeys(params) if n not in st.streams]
            if len(st.streams) + len(new) > self.sim.knobs.max_streams:
                limit = self.sim.knobs.max_streams
                self._error(conn, req_id, 2, f"Invalid request: too many streams (max {limit})")
                return
            for name in new:
                if market.subscribe(conn, name):
                    st.streams[name] = None
        conn.send_json({"result": None, "id": req_id})

    @staticmethod
    def _error(conn: Connection, req_id: Any, code: int, msg: str) -> None:
        conn.send_json({"error": {"code": code, "msg": msg}, "id": req_id})
