"""Rotation when the new connection is ahead of the old one.

A venue can serve two connections of one account at different points of a stream (a slow
gateway, a connection whose socket buffer filled), and may start streaming a channel before
it acknowledges the subscription.  The new connection then holds, when it is ready to
switch, changes the old one has not delivered yet: those must reach the application at the
switch, in order, once, and the old connection's later copies must be dropped.

The server is an independent ``websockets`` one: a book channel whose change ids tick up
every millisecond.  The first connection sees it ``LAG`` changes late.  A later one gets,
on subscribing, the last ``REPLAY`` changes *before* the subscription's result (so they are
held when the rotation becomes ready), then the live stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

import zenws
from waits import wait_until

CHANNEL = "book.BTC-PERPETUAL.raw"
LAG = 40  # changes the first connection is behind the live edge
REPLAY = LAG + 10  # changes a later connection is sent before its subscription's result


class LaggingVenue:
    """A Deribit-shaped book stream; the first connection gets it ``LAG`` changes late."""

    def __init__(self) -> None:
        self.top = 0
        self.connections = 0

    def change(self, change_id: int) -> str:
        data = {"change_id": change_id, "prev_change_id": change_id - 1, "bids": [], "asks": []}
        params = {"channel": CHANNEL, "data": data}
        return json.dumps({"jsonrpc": "2.0", "method": "subscription", "params": params})

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(0.001)  # the stream's pace
            self.top += 1

    async def stream(self, ws: ServerConnection, nxt: int, lag: int) -> None:
        while True:
            while nxt <= self.top - lag:
                await ws.send(self.change(nxt))
                nxt += 1
            await asyncio.sleep(0.001)  # until the next change

    async def handler(self, ws: ServerConnection) -> None:
        lag = LAG if self.connections == 0 else 0
        self.connections += 1
        sender: asyncio.Task[None] | None = None
        try:
            async for raw in ws:
                req = json.loads(raw)
                result: Any = "ok"
                if req.get("method") == "public/subscribe" and sender is None:
                    result = req["params"]["channels"]
                    nxt = max(1, self.top - lag)
                    if not lag:  # ahead of the old connection, and before the result
                        top = self.top
                        for change_id in range(max(1, top - REPLAY), top + 1):
                            await ws.send(self.change(change_id))
                        nxt = top + 1
                    sender = asyncio.create_task(self.stream(ws, nxt, lag))
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": result}))
        finally:
            if sender is not None:
                sender.cancel()

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        ticker = asyncio.create_task(self.tick())
        try:
            async with serve(self.handler, "127.0.0.1", 0) as server:
                port = server.sockets[0].getsockname()[1]
                yield f"ws://127.0.0.1:{port}"
        finally:
            ticker.cancel()


async def test_held_changes_the_old_connection_never_delivered_pass_at_the_switch() -> None:
    venue = LaggingVenue()
    async with venue.serve() as url:
        ids: list[int] = []
        epochs: list[int] = []

        def on_change(msg: zenws.Message) -> None:
            ids.append(msg.json()["params"]["data"]["change_id"])
            epochs.append(msg.epoch)

        client = await zenws.connect(url, dialect="deribit")
        try:
            await client.subscribe([CHANNEL], handler=on_change)
            await wait_until(lambda: len(ids) >= 20, what="the first connection streams")
            report = await client.rotate()
            n = len(ids)
            await wait_until(lambda: len(ids) >= n + 100, what="the new connection streams")
        finally:
            await client.close()
    assert report.in_sync and report.gaps == 0 and report.epoch == 2, report
    # The old connection was ~LAG changes behind: the new one held those, and they reached
    # the application at the switch (the replayed ones the old one had delivered, dropped).
    assert report.passed >= LAG // 2 and report.dropped >= 1, report
    switch = epochs.index(2)
    assert epochs[switch:] == [2] * (len(ids) - switch)
    # every change once, in order: nothing lost, nothing twice, across the switch
    assert ids == list(range(ids[0], ids[0] + len(ids)))
