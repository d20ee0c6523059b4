"""The rate limiter sits in front of request(): bounded FIFO wait, RateLimited when full."""

from __future__ import annotations

import asyncio
import time

from _client_servers import WebsocketsServer

import zenws
from waits import wait_until
from zenws import RateLimited
from zenws.ratelimit import RateLimiter, preset


async def test_requests_wait_then_reject_when_queue_full() -> None:
    async with WebsocketsServer() as srv:
        # 5/s: the queue stays at 3 for 200 ms, room for a slow loop to observe it
        limiter = RateLimiter(preset("simple", rate=5, burst=2), max_queue=3)
        client = await zenws.connect(srv.url, rate_limit=limiter)
        t0 = time.monotonic()
        tasks = [asyncio.ensure_future(client.request("echo", [i])) for i in range(10)]
        # the tasks run on the next loop iterations: wait for the queue, with a deadline
        await wait_until(lambda: client.metrics().rate_limit_queue >= 3, interval=0.001)
        m = client.metrics()
        assert m.rate_limit_queue == 3 and m.rate_limit_pressure == "high"
        results = await asyncio.gather(*tasks, return_exceptions=True)
        ok = [r for r in results if not isinstance(r, BaseException)]
        rejected = [r for r in results if isinstance(r, RateLimited)]
        assert ok == [[0], [1], [2], [3], [4]]  # FIFO: burst 2 + 3 queued, in order
        assert len(rejected) == 5
        # nothing rejected reached the server; the queued ones were paced (3 tokens at 5/s)
        assert [r["params"] for r in srv.requests] == [[0], [1], [2], [3], [4]]
        assert time.monotonic() - t0 >= 0.5
        assert client.metrics().rate_limit_pressure == "none"
        await client.close()


async def test_preset_name_accepted() -> None:
    async with WebsocketsServer() as srv:
        client = await zenws.connect(srv.url, rate_limit="deribit")
        assert await client.request("echo", [1]) == [1]
        assert client.metrics().rate_limit_pressure == "none"
        await client.close()
