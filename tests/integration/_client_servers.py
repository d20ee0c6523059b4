"""Independent loopback JSON-RPC servers for the client tests (websockets and aiohttp).

Both speak the same tiny protocol so one test can run against either:

- ``echo``: result = params; ``delay``: sleeps ``params.s`` first; ``never``: no answer;
- ``fail``: error ``{code, message, data}``; ``push``: ``params.n`` notifications on
  ``params.channel`` then the answer; ``close``: server CLOSE with ``params.code``;
  ``abort``: drop TCP; ``raw``: send ``params.data`` verbatim (text) then answer;
- ``public/subscribe`` / ``public/unsubscribe`` (Deribit shape), ``public/test``,
  ``public/set_heartbeat``; ``heartbeat``: send a Deribit test_request.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import websockets
from aiohttp import web


class Behaviour:
    """Shared request log and handling logic."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.subscribed: list[str] = []
        self.connections = 0
        self.test_answers: list[dict[str, Any]] = []
        self.headers: list[Any] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Any) -> None:
        """Run one request handler in its own task (slow methods do not block others)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def handle(self, text: str, send: Any, close: Any, abort: Any) -> None:
        msg = json.loads(text)
        if "method" not in msg:
            self.test_answers.append(msg)
            return
        self.requests.append(msg)
        m, p, rid = msg["method"], msg.get("params"), msg.get("id")

        async def answer(result: Any) -> None:
            await send(json.dumps({"jsonrpc": "2.0", "id": rid, "result": result}))

        if m == "echo":
            await answer(p)
        elif m == "delay":
            await asyncio.sleep(p["s"])
            await answer(p)
        elif m == "never":
            pass
        elif m == "fail":
            err = {"code": p.get("code", -32000), "message": "boom", "data": p.get("data")}
            await send(json.dumps({"jsonrpc": "2.0", "id": rid, "error": err}))
        elif m == "push":
            for i in range(p["n"]):
                await send(
                    json.dumps(
                        {
                            "jsonrpc": "2.0",
                            "method": "subscription",
                            "params": {"channel": p["channel"], "data": {"i": i}},
                        }
                    )
                )
            await answer("ok")
        elif m == "close":
            await close(p.get("code", 1000), p.get("reason", ""))
        elif m == "abort":
            abort()
        elif m == "raw":
            await send(p["data"])
            await answer("ok")
        elif m in ("public/subscribe", "private/subscribe", "subscribe"):
            chs = [c for c in p["channels"] if not c.startswith("bad.")]
            self.subscribed += chs
            await answer(chs)
        elif m in ("public/unsubscribe", "private/unsubscribe", "unsubscribe"):
            for c in p["channels"]:
                if c in self.subscribed:
                    self.subscribed.remove(c)
            await answer(p["channels"])
        elif m == "public/test":
            await answer({"version": "1.0.0"})
        elif m == "public/set_heartbeat":
            await answer("ok")
        elif m == "heartbeat":
            await send(
                json.dumps(
                    {"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}}
                )
            )
            await answer("ok")
        else:
            err = {"code": -32601, "message": "Method not found"}
            await send(json.dumps({"jsonrpc": "2.0", "id": rid, "error": err}))


class WebsocketsServer(Behaviour):
    """``websockets`` (python-websockets) server on 127.0.0.1."""

    def __init__(
        self, *, compression: str | None = None, subprotocols: list[str] | None = None
    ) -> None:
        super().__init__()
        self._compression = compression
        self._subprotocols = subprotocols
        self._server: Any = None
        self.live: set[Any] = set()

    async def __aenter__(self) -> WebsocketsServer:
        self._server = await websockets.serve(
            self._handler,
            "127.0.0.1",
            0,
            compression=self._compression,
            max_size=None,
            ping_interval=None,
            subprotocols=self._subprotocols,
        )
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/"

    async def _handler(self, ws: Any) -> None:
        self.connections += 1
        self.live.add(ws)
        self.headers.append(ws.request.headers)  # case-insensitive Headers

        def abort() -> None:
            ws.transport.abort()

        try:
            async for text in ws:
                # Each request is handled in its own task so slow methods do not block.
                self.spawn(self.handle(text, ws.send, ws.close, abort))
        except websockets.ConnectionClosed:
            pass
        finally:
            self.live.discard(ws)


class AiohttpServer(Behaviour):
    """aiohttp server on 127.0.0.1."""

    def __init__(self) -> None:
        super().__init__()
        self._runner: Any = None
        self.port = 0

    async def __aenter__(self) -> AiohttpServer:
        app = web.Application()
        app.router.add_get("/", self._handler)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def _handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections += 1

        async def close(code: int, reason: str) -> None:
            await ws.close(code=code, message=reason.encode())

        def abort() -> None:
            assert request.transport is not None
            request.transport.abort()

        async for m in ws:
            if m.type == aiohttp.WSMsgType.TEXT:
                self.spawn(self.handle(m.data, ws.send_str, close, abort))
        return ws
