"""Load: 64 concurrent clients and 10,000 requests in flight at once on one loop.

A raw picows JSON-RPC server (same loop, loopback) holds every answer back until
all answerable requests have arrived, so all 10,000 are in flight together, then
answers them at once.  Requests are mixed: ``echo`` (result = params), ``fail``
(JSON-RPC error), ``never`` (no answer: short timeout) and one client whose
connection the server drops instead of answering.  Nothing may be lost: every
request ends with its own result or a typed zenws error (RpcError, RequestTimeout,
ConnectionLost), and no client keeps a pending entry.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

import zenws

# serial: 10,000 requests in flight with 1 s timeouts among them (CPU-bound, timing)
pytestmark = pytest.mark.serial

CLIENTS = 64
REQUESTS = 10_000
DOOMED = 7  # this client's connection is dropped by the server instead of answered


class _Hub:
    def __init__(self, answerable: int) -> None:
        self.answerable = answerable
        self.held: list[tuple[WSTransport, bytes | None]] = []
        self.doomed: set[WSTransport] = set()
        self.received = 0
        self.released = asyncio.get_running_loop().create_future()

    def on_request(self, transport: WSTransport, req: dict[str, Any]) -> None:
        self.received += 1
        method = req["method"]
        if method == "never":
            return
        if method == "doom":
            self.doomed.add(transport)
            reply = None
        elif method == "fail":
            err = {"code": -32000 - req["params"]["i"] % 7, "message": "nope"}
            reply = orjson.dumps({"jsonrpc": "2.0", "id": req["id"], "error": err})
        else:
            reply = orjson.dumps({"jsonrpc": "2.0", "id": req["id"], "result": req["params"]})
        self.held.append((transport, reply))
        if len(self.held) == self.answerable:
            self.release()

    def release(self) -> None:
        for transport in self.doomed:
            transport.disconnect(False)
        for transport, reply in self.held:
            if reply is not None and transport not in self.doomed:
                transport.send(WSMsgType.TEXT, reply)
        self.released.set_result(len(self.held))


def _plan(client: int, n: int) -> list[tuple[str, dict[str, Any]]]:
    """Requests of one client: mostly echo, some fail, a few never answered."""
    out = []
    for k in range(n):
        i = client * 1000 + k
        method = "fail" if k % 10 == 3 else "never" if k % 50 == 7 else "echo"
        out.append((method, {"i": i, "pad": "x" * (i % 97)}))
    if client == DOOMED:
        out[0] = ("doom", {"i": client * 1000})
    return out


async def test_64_clients_10k_in_flight() -> None:
    per = [REQUESTS // CLIENTS + (1 if c < REQUESTS % CLIENTS else 0) for c in range(CLIENTS)]
    plans = [_plan(c, n) for c, n in enumerate(per)]
    assert sum(len(p) for p in plans) == REQUESTS
    answerable = sum(1 for p in plans for m, _ in p if m != "never")
    hub = _Hub(answerable)

    class Rpc(WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.TEXT:
                hub.on_request(transport, orjson.loads(frame.get_payload_as_bytes()))
            elif frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(WSCloseCode.OK)  # explicit code: the default puts 0
                transport.disconnect()

    server = await ws_create_server(lambda _r: Rpc(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    clients = await asyncio.gather(
        *(
            zenws.connect(
                f"ws://127.0.0.1:{port}/",
                reconnect_on_error=False,
                request_timeout=60.0,
                rate_limit=None,
            )
            for _ in range(CLIENTS)
        )
    )
    try:
        calls = [
            clients[c].request(m, p, timeout=1.0 if m == "never" else 60.0)
            for c, plan in enumerate(plans)
            for m, p in plan
        ]
        outcomes = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 90)
        assert await hub.released == answerable
    finally:
        await asyncio.gather(*(c.close() for c in clients))
        server.close()
    assert hub.received == REQUESTS, "the server did not receive every request"
    assert len(outcomes) == REQUESTS
    k = 0
    counts: dict[str, int] = {}
    for c, plan in enumerate(plans):
        for method, params in plan:
            got = outcomes[k]
            k += 1
            if c == DOOMED and method != "never":
                kind = "lost"
                assert isinstance(got, zenws.ConnectionLost), (c, method, got)
            elif method == "echo":
                kind = "ok"
                assert got == params, (c, params, got)
            elif method == "fail":
                kind = "rpc_error"
                assert isinstance(got, zenws.RpcError), (c, got)
                assert got.code == -32000 - params["i"] % 7
            else:
                kind = "timeout"
                assert isinstance(got, (zenws.RequestTimeout, zenws.ConnectionLost)), (c, got)
            counts[kind] = counts.get(kind, 0) + 1
    assert sum(counts.values()) == REQUESTS and counts["ok"] > 8000, counts
    assert counts["lost"] == per[DOOMED] - sum(1 for m, _ in plans[DOOMED] if m == "never")
    for c in clients:
        assert c.metrics().pending == 0
