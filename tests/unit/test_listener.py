"""FastListener / MessageQueue without a network: the C message path fed directly."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import zenws
from zenws.fast.jsonrpc import Correlator
from zenws.fast.latency import LatencyBuffer
from zenws.fast.listener import FastListener, MessageKind, MessageQueue, _make_message


def test_compiled_module_loaded() -> None:
    import zenws.fast.listener as mod

    assert mod.__file__ is not None and not mod.__file__.endswith(".py")


def notification(channel: str, i: int = 0) -> bytes:
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "method": "subscription",
            "params": {"channel": channel, "data": {"i": i}},
        }
    ).encode()


async def test_response_resolves_in_c_without_a_message() -> None:
    corr, lat = Correlator(), LatencyBuffer(16)
    lst = FastListener(correlator=corr, latency=lat)
    seen: list[Any] = []
    lst.on_message = seen.append
    fut = asyncio.get_running_loop().create_future()
    corr.track(5, fut, 2**62, 1)
    lst.feed_message(1, b'{"jsonrpc":"2.0","id":5,"result":{"x":1}}', 1001)
    assert fut.result() == b'{"jsonrpc":"2.0","id":5,"result":{"x":1}}'
    assert seen == [] and lst.responses == 1 and lat.count == 1 and lat.last == 1000
    lst.feed_message(1, b'{"jsonrpc":"2.0","id":6,"result":1}')
    assert len(seen) == 1 and seen[0].kind is MessageKind.RESPONSE and seen[0].id == 6
    assert lst.unknown_responses == 1
    lst.feed_message(1, b'{"jsonrpc":"2.0","id":"s-1","result":1}')
    assert seen[-1].id == "s-1"


def test_notification_routing_by_channel() -> None:
    lst = FastListener()
    a: list[Any] = []
    other: list[Any] = []
    lst.handlers = {"ticker.A": a.append}
    lst.on_message = other.append
    lst.feed_message(1, notification("ticker.A", 1), 7)
    lst.feed_message(1, notification("ticker.B", 2), 8)
    lst.feed_message(1, b'{"method":"subscription","params":{"channel":"t\\u0041"}}')
    assert [m.channel for m in a] == ["ticker.A"]
    assert a[0].recv_ns == 7 and a[0].kind is MessageKind.NOTIFICATION
    assert [m.channel for m in other] == ["ticker.B", "tA"]
    assert lst.notifications == 3


def test_callback_exception_counted_not_raised() -> None:
    lst = FastListener()

    def bad(msg: Any) -> None:
        raise ValueError("x")

    lst.on_message = bad
    lst.feed_message(1, b'{"a":1}')
    lst.feed_message(2, b"\x00")
    assert lst.callback_errors == 2


def test_invalid_json_and_error_without_id_counted() -> None:
    lst = FastListener()
    got: list[Any] = []
    lst.on_message = got.append
    lst.feed_message(1, b"{nope")
    lst.feed_message(1, b'{"jsonrpc":"2.0","error":{"code":-32600,"message":"too large"}}')
    assert lst.invalid_json == 1 and lst.errors == 1
    assert [m.kind for m in got] == [MessageKind.OTHER, MessageKind.OTHER]


def test_server_heartbeat_reaches_strategy() -> None:
    class HB:
        kind = "deribit"

        def __init__(self) -> None:
            self.events: list[str] = []

        def on_server_heartbeat(self, kind: str, recv_ns: int) -> None:
            self.events.append(kind)

    lst = FastListener()
    lst.answer_test_request = False  # no transport in this unit test
    hb = HB()
    lst.set_heartbeat(hb)
    got: list[Any] = []
    lst.on_message = got.append
    lst.feed_message(1, b'{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"heartbeat"}}')
    lst.feed_message(1, b'{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}')
    assert hb.events == ["heartbeat", "test_request"]
    assert [m.kind for m in got] == [MessageKind.HEARTBEAT, MessageKind.HEARTBEAT]


def test_send_without_transport_raises_connection_lost() -> None:
    lst = FastListener()
    with pytest.raises(zenws.ConnectionLost):
        lst.send_text("x")
    with pytest.raises(zenws.ConnectionLost):
        lst.send_request("m", None, lambda p: None, 10**9)
    assert lst.correlator.pending == 0


def test_queue_policies_and_counters() -> None:
    events: list[str] = []
    q = MessageQueue(2, "drop_oldest")
    q.on_overflow = events.append
    msgs = [_make_message(0, str(i).encode()) for i in range(4)]
    for m in msgs:
        q.put_nowait(m)
    assert [q.get_nowait().raw, q.get_nowait().raw] == [b"2", b"3"]  # type: ignore[union-attr]
    assert q.dropped == 2 and events == ["drop_oldest", "drop_oldest"]
    assert q.max_depth == 2  # the high-water mark stays after the queue drained
    q = MessageQueue(2, "drop_newest")
    for m in msgs:
        q.put_nowait(m)
    assert [q.get_nowait().raw, q.get_nowait().raw] == [b"0", b"1"]  # type: ignore[union-attr]
    q = MessageQueue(2, "pause_reading")
    q.on_overflow = events.append
    for m in msgs:
        q.put_nowait(m)
    assert len(q) == 4 and q.paused and events[-1] == "pause" and q.dropped == 0
    assert q.max_depth == 4  # pause_reading queues beyond capacity until reading stops
    q.get_nowait()
    q.get_nowait()
    q.get_nowait()
    assert not q.paused and events[-1] == "resume"
    with pytest.raises(ValueError):
        MessageQueue(2, "nope")
    with pytest.raises(ValueError):
        MessageQueue(0)


async def test_queue_get_waits_and_close_ends_iteration() -> None:
    q = MessageQueue(4)
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(q.get(loop))
    await asyncio.sleep(0)
    q.put_nowait(_make_message(0, b"x"))
    assert (await task).raw == b"x"
    task = asyncio.ensure_future(q.get(loop))
    await asyncio.sleep(0)
    q.close()
    with pytest.raises(StopAsyncIteration):
        await task


def _build_user_module(tmp: Path) -> None:
    import picows

    # The installed package (site-packages under `make test`), never the checkout: this is
    # what a user's build sees.
    include_path = [str(Path(m.__file__).resolve().parent.parent) for m in (zenws, picows)]
    src = tmp / "strategy.pyx"
    src.write_text((Path(__file__).parent / "cython_user" / "strategy.pyx").read_text())
    setup = tmp / "setup.py"
    setup.write_text(
        textwrap.dedent(f"""
        from setuptools import Extension, setup
        from Cython.Build import cythonize
        ext = Extension("strategy", ["strategy.pyx"], include_dirs={[zenws.get_include()]!r})
        setup(ext_modules=cythonize([ext], language_level=3, include_path={include_path!r}))
    """)
    )
    subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace", "-q"],
        cwd=tmp,
        check=True,
        capture_output=True,
        env={**os.environ, "CFLAGS": "-O0"},
    )


@pytest.fixture(scope="module")
def user_module(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("cython_user")
    _build_user_module(tmp)
    sys.path.insert(0, str(tmp))
    try:
        import strategy

        yield strategy
    finally:
        sys.path.remove(str(tmp))


async def test_user_cython_subclass_cimports_the_pxd(user_module: Any) -> None:
    from zenws.testing import MockServer

    def rpc(conn: Any, msg: Any) -> None:
        req = json.loads(msg.data)
        conn.send(json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": req["params"]}))
        conn.send(notification("c", 1).decode())

    async with MockServer(rpc) as srv:
        client = await zenws.connect(srv.url, listener_class=user_module.CountingStrategy)
        assert await client.request("echo", [42]) == [42]
        msg = await asyncio.wait_for(client.__anext__(), 2)
        assert msg.channel == "c"
        lst = client._listener
        assert isinstance(lst, user_module.CountingStrategy)
        assert [op for op, _ in lst.seen] == [1, 1] and lst.last_ns > 0
        await client.close()


def test_text_heartbeat_pong_is_consumed() -> None:
    from zenws.heartbeat import Text

    hb = Text(ping="ping", pong="pong", interval=10)
    lst = FastListener()
    lst.set_heartbeat(hb)
    got: list[Any] = []
    lst.on_message = got.append
    lst.feed_message(1, b"pong")
    lst.feed_message(1, b'{"not":"pong"}')
    assert len(got) == 1 and got[0].raw == b'{"not":"pong"}'
    assert lst.invalid_json == 0


RESPONSES = [
    b'{"jsonrpc":"2.0","id":5,"result":{"x":[1,2.5,"y"]}}',
    b'{"jsonrpc":"2.0","id":5,"error":{"code":-32602,"message":"bad"}}',
    b'{"jsonrpc":"2.0","id":5,"result":1,"id":6}',  # duplicate key: the last one counts
    b'{"jsonrpc":"2.0","id":7,"result":1}',  # nobody waits for 7
    b'{"jsonrpc":"2.0","id":5,"result":NaN}',  # not JSON
    b'{"jsonrpc":"2.0","id":5,"result":1',  # truncated
    b'{"jsonrpc":"2.0","id":5.0,"result":1}',  # not an int id
    b'{"jsonrpc":"2.0","id":5}',  # neither result nor error
    b'{"jsonrpc":"2.0","id":99999999999999999999,"result":1}',  # beyond int64
    b'{"id":6,"result":"\\u00e9"}',
    b'{"jsonrpc":"2.0","id":5,"method":"m","result":1}',
]


@pytest.mark.parametrize("raw", RESPONSES)
async def test_decoded_response_path_agrees_with_the_scan_path(raw: bytes) -> None:
    # Responses beginning like '{"jsonrpc":"2.0","id":' are decoded once in the listener;
    # a leading space sends the same document through the scan instead: same outcome.
    loop = asyncio.get_running_loop()

    def run(doc: bytes) -> tuple[Any, ...]:
        corr, lat = Correlator(), LatencyBuffer(16)
        lst = FastListener(correlator=corr, latency=lat)
        seen: list[Any] = []
        lst.on_message = seen.append
        futs = {i: loop.create_future() for i in (5, 6)}
        for i, f in futs.items():
            corr.track(i, f, 2**62, 1)
        lst.feed_message(1, doc, 1001)
        done = {}
        for i, f in futs.items():
            if f.done():
                payload = f.result()
                assert payload == doc  # futures get the raw bytes
                try:
                    done[i] = ("result", zenws.fast.listener.result_of(payload, "m"))
                except Exception as exc:  # a JSON error's position moves with the space
                    done[i] = ("error", type(exc).__name__, str(exc).split(" (")[0])
        counters = {k: v for k, v in lst.counters().items() if k != "bytes_in"}
        return done, counters, [(m.kind, m.id) for m in seen], lat.count

    assert run(raw) == run(b" " + raw)


async def test_compiled_request_gets_the_decoded_response() -> None:
    corr, lat = Correlator(), LatencyBuffer(16)
    lst = FastListener(correlator=corr, latency=lat)
    seen: list[Any] = []
    lst.on_message = seen.append
    from zenws.fast.listener import _Waiter  # the compiled request's waiter

    w = _Waiter.__new__(_Waiter)
    corr.track(5, w, 2**62, 1)
    lst.feed_message(1, b'{"jsonrpc":"2.0","id":5,"result":{"x":1},"usIn":1}', 1001)
    assert w.done() and w.result() is None and w.exception() is None
    assert w.value == {"jsonrpc": "2.0", "id": 5, "result": {"x": 1}, "usIn": 1}
    assert seen == [] and lst.responses == 1 and lat.last == 1000
