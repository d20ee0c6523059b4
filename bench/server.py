"""Loopback benchmark server shared by every client in ``bench.compare``.

One raw picows server process answers three paths:

- ``/echo``: every data frame is sent back unchanged (same opcode).
- ``/rpc``: every text message is a JSON-RPC request; the reply is
  ``{"jsonrpc":"2.0","id":<id>,"result":<params>}`` (Deribit-like shape).
- ``/stream?n=N&size=S``: after the first client message, push N notifications
  of about S bytes as fast as the transport allows, then one ``{"done":N}``.
- ``/mixed?k=K&size=S``: answer every JSON-RPC request (``public/subscribe`` with
  its channels, anything else with its params), then push K notifications.

Run: ``python -m bench.server --port 0`` prints ``PORT <n>`` on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from urllib.parse import parse_qs, urlparse

import orjson
from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    ws_create_server,
)


class _Echo(WSListener):  # type: ignore[misc]
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
            transport.send(frame.msg_type, frame.get_payload_as_bytes())
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()


class _Rpc(WSListener):  # type: ignore[misc]
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            req = orjson.loads(frame.get_payload_as_bytes())
            reply = {"jsonrpc": "2.0", "id": req["id"], "result": req.get("params")}
            transport.send(WSMsgType.TEXT, orjson.dumps(reply))
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()


class _Stream(WSListener):  # type: ignore[misc]
    def __init__(self, n: int, size: int) -> None:
        self.n = n
        pad = "x" * max(0, size - 120)
        self.msg = orjson.dumps(
            {
                "jsonrpc": "2.0",
                "method": "subscription",
                "params": {"channel": "ticker.BTC-PERPETUAL.raw", "data": {"p": 1.5, "pad": pad}},
            }
        )

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            for _ in range(self.n):
                transport.send(WSMsgType.TEXT, self.msg)
            transport.send(WSMsgType.TEXT, orjson.dumps({"done": self.n}))
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()


class _Mixed(WSListener):  # type: ignore[misc]
    """JSON-RPC answers followed by ``k`` notifications each (the soak workload)."""

    def __init__(self, k: int, size: int) -> None:
        self.k = k
        pad = "x" * max(0, size - 120)
        self.note = orjson.dumps(
            {
                "jsonrpc": "2.0",
                "method": "subscription",
                "params": {"channel": "ticker.BTC-PERPETUAL.raw", "data": {"p": 1.5, "pad": pad}},
            }
        )

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            req = orjson.loads(frame.get_payload_as_bytes())
            params = req.get("params") or {}
            # Deribit shape: public/subscribe answers with the subscribed channels.
            result = params.get("channels") if req.get("method") == "public/subscribe" else params
            reply = {"jsonrpc": "2.0", "id": req["id"], "result": result}
            transport.send(WSMsgType.TEXT, orjson.dumps(reply))
            for _ in range(self.k):
                transport.send(WSMsgType.TEXT, self.note)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()


def _factory(request: WSUpgradeRequest) -> WSListener:
    target = request.path.decode() if isinstance(request.path, bytes) else str(request.path)
    url = urlparse(target)
    if url.path == "/rpc":
        return _Rpc()
    if url.path == "/mixed":
        q = parse_qs(url.query)
        return _Mixed(int(q.get("k", ["4"])[0]), int(q.get("size", ["200"])[0]))
    if url.path == "/stream":
        q = parse_qs(url.query)
        return _Stream(int(q.get("n", ["100000"])[0]), int(q.get("size", ["200"])[0]))
    return _Echo()


async def serve(port: int) -> None:
    server = await ws_create_server(_factory, "127.0.0.1", port, max_frame_size=64 * 1024 * 1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"PORT {bound}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(serve(args.port))
    except ImportError:  # pragma: no cover - Windows
        asyncio.run(serve(args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
