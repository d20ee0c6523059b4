"""One WS API call over a plain ``websockets`` connection, as the simulator tests make it.

The Binance simulator tests talk to ``BinanceSimulator`` with an independent client
(``websockets``), not with zenws, so that the simulator is checked against Binance's wire
format rather than against zenws' own reading of it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection


async def call(
    ws: ClientConnection, req_id: Any, method: str, params: Any = None, sink: Any = None
) -> Any:
    """Send ``{id, method[, params]}`` and return the response with that id.

    Messages that arrive before it (events, other responses) are appended to ``sink`` when one
    is given, else dropped.
    """
    msg: dict[str, Any] = {"id": req_id, "method": method}
    if params is not None:
        msg["params"] = params
    await ws.send(json.dumps(msg))
    while True:
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if isinstance(reply, dict) and reply.get("id") == req_id:
            return reply
        if sink is not None:
            sink.append(reply)
