"""After a reconnect the generic client runs, in this order: the reconnect hooks (an adapter's
re-authentication), then the subscription restore, then the ``connection.reconnected`` event
carrying the gap (``down_at``, ``up_at``, ``epoch``) -- DESIGN §3.

Observed from outside on a ``MockServer``: the order in which the server receives the frames
of the new connection, and the order (and time) of the telemetry events.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from _helpers import Event, named, wait_until

import zenws.client
from zenws.testing import MockServer

CHANNELS = ["ticker.BTC-PERPETUAL.100ms", "book.ETH-PERPETUAL.100ms"]


def handler(conn: Any, msg: Any) -> None:
    doc = msg.json(None)
    if not isinstance(doc, dict) or "id" not in doc:
        return
    params = doc.get("params") or {}
    result = list(params["channels"]) if doc["method"].endswith("/subscribe") else "ok"
    conn.send({"jsonrpc": "2.0", "id": doc["id"], "result": result})


@pytest.mark.parametrize("how", ["abort", "restart"])
async def test_hooks_then_restore_then_reconnected_event(events: list[Event], how: str) -> None:
    hook_runs: list[tuple[int, int, int]] = []  # (epoch, start ns, end ns)

    async with MockServer(handler) as srv:
        client = await zenws.client.connect(
            srv.url, dialect="deribit", retry_delay=0.01, max_backoff=0.02
        )

        async def reauth(c: Any) -> None:
            start = time.monotonic_ns()
            assert await c.request("public/auth", {"grant_type": "refresh_token"}) == "ok"
            hook_runs.append((c.epoch, start, time.monotonic_ns()))

        client.add_reconnect_hook(reauth)
        try:
            assert await client.subscribe(CHANNELS) == CHANNELS
            before = time.time()
            if how == "abort":
                srv.abort()
            else:
                await srv.restart(downtime=0.1)
            await wait_until(lambda: bool(named(events, "connection.reconnected")))
            second = srv.connections[-1].id
        finally:
            await client.close()

    # 1. the server saw, on the new connection: the hook's request, then the restore
    frames = [r for r in srv.received if r.connection_id == second]
    methods = [r.json()["method"] for r in frames]
    assert methods == ["public/auth", "public/subscribe"], methods
    assert sorted(frames[1].json()["params"]["channels"]) == sorted(CHANNELS)
    assert len(hook_runs) == 1 and hook_runs[0][0] == 2
    _, _, hook_end = hook_runs[0]
    assert hook_end <= frames[1].mono_ns, "restore started before the hook finished"

    # 2. events: restore, then reconnected, after the restore request reached the server
    (restore,) = named(events, "subscription.restore")
    (reconnected,) = named(events, "connection.reconnected")
    assert restore[2]["count"] == len(CHANNELS) and restore[3]["epoch"] == 2
    order = [
        name
        for _, name, _, _ in events
        if name in ("subscription.restore", "connection.reconnected")
    ]
    assert order == ["subscription.restore", "connection.reconnected"]
    assert frames[1].mono_ns <= restore[0] <= reconnected[0]

    # 3. the gap
    _, _, m, md = reconnected
    assert md["epoch"] == 2 and md["previous_epoch"] == 1
    assert before - 1.0 <= md["down_at"] <= md["up_at"] <= time.time()
    assert m["gap_s"] == pytest.approx(md["up_at"] - md["down_at"])
