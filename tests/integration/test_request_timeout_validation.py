"""``request(timeout=...)`` is validated like ``Config.request_timeout``, before anything is sent.

A negative, zero, non-finite or non-numeric per-request timeout raises the same
``ConfigError`` (a ``ValueError``) with the same message style as the option, and the server
receives nothing; the client keeps working.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

import zenws
from zenws.errors import ConfigError
from zenws.testing import MockServer


def rpc_handler(conn: Any, msg: Any) -> None:
    req = json.loads(msg.data)
    conn.send(json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": req.get("params")}))


BAD = [-1, -0.5, 0, "1", math.nan, math.inf, True, [1]]


@pytest.mark.parametrize("bad", BAD, ids=repr)
@pytest.mark.parametrize("method", ["public/get_time", "public/get_index"])
async def test_bad_request_timeout_is_a_config_error_and_nothing_is_sent(
    bad: Any, method: str
) -> None:
    with pytest.raises(ConfigError) as as_option:
        zenws.Config.new("ws://127.0.0.1:1/", request_timeout=bad)
    async with MockServer(rpc_handler) as srv:
        # public/get_index is an opted-in idempotent read: its own request path
        client = await zenws.connect(srv.url, idempotent_methods=["public/get_index"])
        try:
            with pytest.raises(ConfigError) as ei:
                await client.request(method, {"a": 1}, timeout=bad)
            exc = ei.value
            assert isinstance(exc, ValueError) and exc.field == "timeout"
            assert str(exc) == str(as_option.value).replace("request_timeout", "timeout", 1)
            assert client.metrics().pending == 0 and client.metrics().frames_out == 0
            # the next (valid) request is the first message the server ever receives
            assert await client.request(method, [2], timeout=5) == [2]
            assert [json.loads(r.data)["params"] for r in srv.received] == [[2]]
        finally:
            await client.close()


async def test_good_timeouts_are_accepted() -> None:
    async with MockServer(rpc_handler) as srv, zenws.connect(srv.url) as client:
        for ok in (1, 0.25, 2.5, 10**6):
            assert await client.request("echo", [ok], timeout=ok) == [ok]
