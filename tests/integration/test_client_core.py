"""zenws.Client against independent loopback servers: connect, request, send, close, errors."""

from __future__ import annotations

import asyncio
import contextvars
import json
import socket
import time
from typing import Any

import pytest
from _client_servers import AiohttpServer, WebsocketsServer

import zenws
from zenws import ConnectError, ConnectionLost, RequestTimeout, RpcError, State
from zenws.testing import MockServer

SERVERS = [WebsocketsServer, AiohttpServer]


def rpc_handler(conn: Any, msg: Any) -> None:
    """MockServer handler: echo-RPC (result = params)."""
    req = json.loads(msg.data)
    conn.send(json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": req.get("params")}))


@pytest.mark.parametrize("server_cls", SERVERS)
async def test_request_send_close(server_cls: Any) -> None:
    async with server_cls() as srv:
        client = await zenws.connect(srv.url)
        assert client.state is State.OPEN and client.epoch == 1
        assert await client.request("echo", {"a": [1, 2]}) == {"a": [1, 2]}
        assert await client.request("echo", [1, "x"]) == [1, "x"]
        client.send({"jsonrpc": "2.0", "id": "s1", "method": "echo", "params": {"b": 1}})
        msg = await asyncio.wait_for(client.__anext__(), 2)
        assert msg.kind is zenws.MessageKind.RESPONSE and msg.id == "s1"
        assert msg.json()["result"] == {"b": 1}
        m = client.metrics()
        assert m.responses == 2 and m.unknown_responses == 1 and m.pending == 0
        assert m.frames_out == 3 and m.bytes_in > 0
        assert client.latency_stats().count == 2
        assert client.latency.to_numpy().shape == (2,)
        await client.close()
        assert client.state is State.CLOSED
        with pytest.raises(ConnectionLost):
            await client.request("echo", [1])
        with pytest.raises(ConnectionLost):
            client.send("x")


async def test_mock_server_requests_and_context_manager() -> None:
    async with MockServer(rpc_handler) as srv:
        async with zenws.connect(srv.url) as client:
            results = await asyncio.gather(*(client.request("echo", [i]) for i in range(100)))
            assert results == [[i] for i in range(100)]
        assert client.state is State.CLOSED


@pytest.mark.parametrize("server_cls", SERVERS)
async def test_rpc_error_and_timeout_clean_the_correlator(server_cls: Any) -> None:
    async with server_cls() as srv:
        client = await zenws.connect(srv.url)
        with pytest.raises(RpcError) as ei:
            await client.request("fail", {"code": 10028, "data": {"why": "x"}})
        assert ei.value.code == 10028 and ei.value.message == "boom"
        assert ei.value.data == {"why": "x"} and ei.value.method == "fail"
        t0 = time.monotonic()
        with pytest.raises(RequestTimeout) as te:
            await client.request("never", [], timeout=0.2)
        assert time.monotonic() - t0 < 2.0
        assert te.value.method == "never" and te.value.timeout == 0.2
        assert client.metrics().pending == 0
        await client.close()


async def test_cancellation_removes_pending_entry() -> None:
    async with WebsocketsServer() as srv:
        client = await zenws.connect(srv.url)
        task = asyncio.ensure_future(client.request("never", []))
        await asyncio.sleep(0.05)
        assert client.metrics().pending == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert client.metrics().pending == 0
        with pytest.raises((asyncio.TimeoutError, TimeoutError)):
            await asyncio.wait_for(client.request("never", []), 0.1)
        assert client.metrics().pending == 0
        # the connection is still fine
        assert await client.request("echo", [7]) == [7]
        await client.close()


@pytest.mark.parametrize("reconnect", [False, True], ids=["no_reconnect", "reconnect"])
@pytest.mark.parametrize("server_cls", SERVERS)
async def test_pending_fail_at_once_on_abort(server_cls: Any, reconnect: bool) -> None:
    # With reconnect_on_error the client does not close: the disconnect itself must fail
    # every pending request (compiled and Python paths), long before the 10 s deadline.
    async with server_cls() as srv:
        client = await zenws.connect(
            srv.url, reconnect_on_error=reconnect, request_timeout=10, retry_delay=0.01
        )
        waiting = [
            asyncio.ensure_future(client.request("never", [], timeout=10 if i % 2 else None))
            for i in range(50)
        ]
        await asyncio.sleep(0.05)
        assert client.metrics().pending == 50
        t0 = time.monotonic()
        client.send(json.dumps({"jsonrpc": "2.0", "id": "a", "method": "abort"}))
        done, _ = await asyncio.wait(waiting, timeout=1.0)
        assert len(done) == 50, "every pending request must fail within 1 s of the abort"
        assert time.monotonic() - t0 < 1.0
        for t in done:
            exc = t.exception()
            assert isinstance(exc, ConnectionLost) and exc.epoch == 1 and exc.sent is True
        assert client.metrics().pending == 0
        if reconnect:
            deadline = time.monotonic() + 5
            while not (client.state is State.OPEN and client.epoch == 2):
                assert time.monotonic() < deadline, "not reconnected"
                await asyncio.sleep(0.01)
            assert await client.request("echo", [1]) == [1]
            await client.close()
        assert client.state is State.CLOSED


async def test_server_close_code_and_reason_surface() -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    handle = zenws.telemetry.attach("connection", lambda e, m, md: events.append((e, m)))
    try:
        async with WebsocketsServer() as srv:
            client = await zenws.connect(srv.url, reconnect_on_error=False)
            pending = asyncio.ensure_future(client.request("never", []))
            await asyncio.sleep(0.02)
            client.send(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": "c",
                        "method": "close",
                        "params": {"code": 4001, "reason": "maintenance"},
                    }
                )
            )
            with pytest.raises(ConnectionLost) as ei:
                await asyncio.wait_for(pending, 2)
            assert ei.value.code == 4001 and ei.value.reason == "maintenance"
            for _ in range(100):
                if client.state is State.CLOSED:
                    break
                await asyncio.sleep(0.02)
            m = client.metrics()
            assert m.close_code == 4001 and m.close_reason == "maintenance"
            assert client.state is State.CLOSED
    finally:
        zenws.telemetry.detach(handle)
    closed = [m for e, m in events if e == "connection.closed"]
    assert closed and closed[-1]["code"] == 4001 and closed[-1]["reason"] == "maintenance"


async def test_client_close_sends_explicit_code() -> None:
    async with MockServer(rpc_handler) as srv:
        client = await zenws.connect(srv.url)
        await client.request("echo", [1])
        conn = srv.connections[0]
        await client.close(4000, "bye")
        for _ in range(100):
            if not conn.open:
                break
            await asyncio.sleep(0.02)
        assert not conn.open
        assert conn.close_code == 4000 and conn.close_reason == "bye"


async def test_concurrent_10k_requests_resolve_to_their_callers() -> None:
    async with MockServer(rpc_handler) as srv:
        client = await zenws.connect(srv.url)
        n = 10_000
        results = await asyncio.wait_for(
            asyncio.gather(*(client.request("echo", [i]) for i in range(n))), 60
        )
        assert results == [[i] for i in range(n)]
        assert client.metrics().pending == 0 and client.metrics().responses == n
        await client.close()


async def test_refused_upgrade_carries_status_headers_body() -> None:
    async with MockServer(rpc_handler) as srv:
        srv.refuse_next(1, 429, headers={"Retry-After": "3"}, body="slow down")
        with pytest.raises(ConnectError) as ei:
            await zenws.connect(srv.url)
        e = ei.value
        assert e.status == 429 and e.retry_after == 3.0
        assert e.headers.get("retry-after") == "3" and b"slow down" in e.body
        srv.refuse_next(1, 401, body="no")
        with pytest.raises(ConnectError) as ei:
            await zenws.connect(srv.url)
        assert ei.value.status == 401


async def test_connection_refused_and_dns_fail_fast() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    t0 = time.monotonic()
    with pytest.raises(ConnectError) as ei:
        await zenws.connect(f"ws://127.0.0.1:{port}/", connect_timeout=5)
    assert time.monotonic() - t0 < 2.0
    assert isinstance(ei.value.__cause__, OSError)
    with pytest.raises(ConnectError) as ei:
        await zenws.connect("ws://name-that-does-not-resolve.invalid/", connect_timeout=5)
    assert isinstance(ei.value.__cause__, OSError)


async def test_extra_headers_subprotocol_and_redacted_repr() -> None:
    async with WebsocketsServer() as srv:
        client = await zenws.connect(
            srv.url + "?token=SECRET123",
            headers=(("Authorization", "Bearer SECRET123"), ("X-App", "zen")),
        )
        hdrs = srv.headers[-1]
        assert hdrs["X-App"] == "zen" and hdrs["Authorization"] == "Bearer SECRET123"
        assert "SECRET123" not in repr(client)
        assert "SECRET123" not in repr(client.config)
        await client.close()


async def test_tls_verification_on_by_default() -> None:
    async with MockServer(rpc_handler, ssl=True) as srv:
        assert srv.url.startswith("wss://")
        with pytest.raises(ConnectError) as ei:
            await zenws.connect(srv.url)
        assert "TLS" in str(ei.value) or "certificate" in str(ei.value).lower()
        client = await zenws.connect(srv.url, ssl=srv.ssl_context)
        assert await client.request("echo", [1]) == [1]
        await client.close()


async def test_reconnect_after_abort_gives_new_epoch() -> None:
    async with WebsocketsServer() as srv:
        client = await zenws.connect(srv.url, retry_delay=0.01, max_backoff=0.05)
        assert client.epoch == 1
        await client.reconnect()
        assert client.state is State.OPEN and client.epoch == 2
        assert await client.request("echo", [2]) == [2]
        srv_ws = next(iter(srv.live))
        srv_ws.transport.abort()
        for _ in range(200):
            if client.epoch == 3 and client.state is State.OPEN:
                break
            await asyncio.sleep(0.02)
        assert client.epoch == 3 and client.metrics().reconnects == 2
        assert await client.request("echo", [3]) == [3]
        await client.close()


def test_run_helper_uses_a_loop() -> None:
    async def main() -> str:
        return type(asyncio.get_running_loop()).__module__

    mod = zenws.run(main())
    assert mod.startswith("uvloop") or mod.startswith("asyncio")


async def test_debug_logging_redacts_secrets(caplog: pytest.LogCaptureFixture) -> None:
    async with WebsocketsServer() as srv:
        with caplog.at_level("DEBUG", logger="zenws"):
            client = await zenws.connect(srv.url + "?access_token=TOK123")
            await client.request("echo", {"client_secret": "S3CRET", "n": 1})
            await client.close()
    text = caplog.text
    assert "echo" in text
    assert "S3CRET" not in text and "TOK123" not in text


async def test_subprotocol_negotiated() -> None:
    async with WebsocketsServer(subprotocols=["v2.json", "v1.json"]) as srv:
        client = await zenws.connect(srv.url, subprotocols=("v1.json",))
        assert client.subprotocol == "v1.json"
        assert await client.request("echo", [1]) == [1]
        await client.close()


async def test_handshake_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)  # accept, read the upgrade, never answer
        await reader.read()  # until the client gives up and closes
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        t0 = time.monotonic()
        with pytest.raises(ConnectError) as ei:
            await zenws.connect(f"ws://127.0.0.1:{port}/", connect_timeout=0.3)
        assert time.monotonic() - t0 < 3.0
        assert "timed out" in str(ei.value) or "handshake" in str(ei.value)
    finally:
        server.close()


async def test_default_deadline_on_the_compiled_path() -> None:
    async with WebsocketsServer() as srv:
        client = await zenws.connect(srv.url, request_timeout=0.2)
        assert await client.request("echo", [1]) == [1]  # arms the deadline timer
        assert await client.request("echo", [2]) == [2]  # compiled fast path
        with pytest.raises(RpcError) as re_:
            await client.request("fail", {"code": 7})
        assert re_.value.code == 7 and re_.value.method == "fail"
        t0 = time.monotonic()
        with pytest.raises(RequestTimeout) as ei:
            await client.request("never", [])
        assert time.monotonic() - t0 < 2.0
        assert ei.value.method == "never" and ei.value.timeout == 0.2
        assert client.metrics().pending == 0
        await client.close()


async def test_idempotent_methods_are_retried_after_reconnect() -> None:
    async with WebsocketsServer() as srv:
        client = await zenws.connect(
            srv.url, retry_delay=0.01, max_backoff=0.05, idempotent_methods=("delay",)
        )
        read = asyncio.ensure_future(client.request("delay", {"s": 0.3}, timeout=5))
        order = asyncio.ensure_future(client.request("never", [], timeout=5))
        await asyncio.sleep(0.1)
        next(iter(srv.live)).transport.abort()
        assert await asyncio.wait_for(read, 5) == {"s": 0.3}  # sent again on epoch 2
        with pytest.raises(ConnectionLost):
            await order  # not idempotent: never resent
        assert client.epoch == 2
        assert [r["method"] for r in srv.requests].count("delay") == 2
        await client.close()


async def test_start_wires_callbacks_before_the_handshake() -> None:
    async with WebsocketsServer() as srv:
        client = zenws.Client(zenws.Config.new(srv.url))
        seen: list[zenws.Message] = []
        client.on_message = seen.append
        assert await client.start() is client and client.state is State.OPEN
        with pytest.raises(zenws.ZenwsError):
            await client.start()
        client.send(json.dumps({"jsonrpc": "2.0", "id": "x", "method": "echo", "params": [1]}))
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        assert seen and seen[0].id == "x"
        await client.close()


async def test_through_an_http_connect_proxy() -> None:
    tunnels: list[bytes] = []

    async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        except ConnectionError:
            pass
        finally:
            w.close()

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        tunnels.append(head.split(b"\r\n", 1)[0])
        host, port = head.split()[1].decode().rsplit(":", 1)
        up_r, up_w = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    pport = server.sockets[0].getsockname()[1]
    try:
        async with WebsocketsServer() as srv:
            client = await zenws.connect(srv.url, proxy=f"http://127.0.0.1:{pport}")
            assert await client.request("echo", [5]) == [5]
            assert client.heartbeat_health().kind == "none"
            await client.close()
        assert tunnels and tunnels[0].startswith(b"CONNECT 127.0.0.1:")
    finally:
        server.close()


async def test_default_deadline_holds_after_a_longer_custom_one() -> None:
    async with WebsocketsServer() as srv:
        client = await zenws.connect(srv.url, request_timeout=0.2)
        slow = asyncio.ensure_future(client.request("never", [], timeout=30))
        await asyncio.sleep(0.01)
        t0 = time.monotonic()
        with pytest.raises(RequestTimeout):
            await client.request("never", [])  # default 0.2 s, compiled path
        assert time.monotonic() - t0 < 2.0
        assert not slow.done()
        slow.cancel()
        await client.close()


async def test_compiled_request_follows_telemetry_and_reconnects() -> None:
    events: list[str] = []
    async with WebsocketsServer() as srv:
        client = await zenws.connect(srv.url, retry_delay=0.01, max_backoff=0.05)
        assert type(client.request.__self__).__name__ == "Requester"  # compiled
        assert await client.request("echo", [1]) == [1]
        handle = zenws.telemetry.attach("request", lambda ev, m, md: events.append(ev))
        try:
            assert await client.request("echo", [2]) == [2]  # observed: the general path
        finally:
            zenws.telemetry.detach(handle)
        assert events == ["request.sent", "request.resolved"]
        assert await client.request("echo", [3]) == [3]  # compiled again, nothing emitted
        assert events == ["request.sent", "request.resolved"]
        next(iter(srv.live)).transport.abort()
        with pytest.raises(ConnectionLost):
            while True:  # until the client has seen the drop
                await client.request("echo", [4])
                await asyncio.sleep(0.01)
        for _ in range(200):
            if client.state is State.OPEN and client.epoch == 2:
                break
            await asyncio.sleep(0.01)
        assert await client.request("echo", [5]) == [5]  # the new connection's listener
        await client.close()
        with pytest.raises(ConnectionLost):
            await client.request("echo", [6])


async def test_a_subclass_request_override_is_kept() -> None:
    class Counting(zenws.Client):
        calls = 0

        async def request(
            self, method: str, params: Any = None, *, timeout: float | None = None
        ) -> Any:
            Counting.calls += 1
            return await super().request(method, params, timeout=timeout)

    async with WebsocketsServer() as srv:
        client = Counting(zenws.Config.new(srv.url))
        await client.start()
        assert await client.request("echo", [1]) == [1]
        assert await client.request("echo", [2]) == [2]
        assert Counting.calls == 2
        await client.close()


async def test_compiled_request_keeps_the_task_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    async def one(tag: str) -> tuple[str, Any]:
        var.set(tag)
        result = await client.request("echo", [tag])  # resumed inside the frame callback
        return var.get(), result

    async with WebsocketsServer() as srv:
        client = await zenws.connect(srv.url)
        await client.request("echo", [0])  # arms the deadline timer: compiled path after
        got = await asyncio.gather(*(one(f"t{i}") for i in range(20)))
        assert got == [(f"t{i}", [f"t{i}"]) for i in range(20)]
        assert var.get() == "unset"
        await client.close()


async def test_a_response_delivered_from_inside_a_task_resumes_the_waiter() -> None:
    async with WebsocketsServer() as srv:
        client = await zenws.connect(srv.url)
        await client.request("echo", [0])
        lst = client._listener
        assert lst is not None
        rid = lst.next_id
        pending = asyncio.ensure_future(client.request("never", []))
        await asyncio.sleep(0.05)
        assert client.metrics().pending == 1 and not pending.done()
        # resolved from this (running) task: the waiter defers the wake-up to the loop
        lst.feed_message(1, json.dumps({"jsonrpc": "2.0", "id": rid, "result": 7}).encode())
        assert await asyncio.wait_for(pending, 2) == 7
        assert client.metrics().pending == 0
        await client.close()


async def test_a_read_is_processed_before_the_requests_it_completes_resume() -> None:
    # One TCP write carries the response and a notification: the notification's callback
    # runs before the awaiting task resumes (the order call_soon gives), also on the
    # compiled path where the task is resumed at the end of the read.
    from zenws.fast import frame

    def handler(conn: Any, msg: Any) -> None:
        req = json.loads(msg.data)
        note = {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": "c", "data": 1}}
        resp = {"jsonrpc": "2.0", "id": req["id"], "result": req.get("params")}
        conn.send_raw(
            frame.encode(frame.OP_TEXT, json.dumps(resp).encode())
            + frame.encode(frame.OP_TEXT, json.dumps(note).encode())
        )

    async with MockServer(handler) as srv:
        client = await zenws.connect(srv.url)
        seen: list[str] = []
        client.on_message = lambda m: seen.append("note")
        for i in range(20):  # the first arms the deadline timer; the rest are compiled
            assert await client.request("echo", [i]) == [i]
            seen.append("resumed")
        assert seen == ["note", "resumed"] * 20
        await client.close()


async def _waiter_of_a_pending_request(client: Any) -> tuple[Any, Any, int]:
    """Start a request that gets no answer; return (its task, the task's waiter, its id)."""
    await client.request("echo", [0])  # arms the deadline timer: compiled path after
    rid = client._listener.next_id
    task = asyncio.ensure_future(client.request("never", []))
    for _ in range(100):
        await asyncio.sleep(0.005)
        if getattr(task, "_fut_waiter", None) is not None:
            break
    return task, task._fut_waiter, rid


async def test_the_compiled_request_waiter_speaks_the_future_protocol() -> None:
    # A task drives the waiter through get_loop / add_done_callback /
    # _asyncio_future_blocking / result, answered by C shortcuts: they behave as a
    # Future's do, for anyone else who asks too.
    async with WebsocketsServer() as srv:
        client = await zenws.connect(srv.url)
        task, w, rid = await _waiter_of_a_pending_request(client)
        assert type(w).__name__ == "_Waiter" and not w.done()
        assert w.get_loop() is asyncio.get_running_loop()
        assert w._asyncio_future_blocking is False  # the task cleared it
        w._asyncio_future_blocking = True
        assert w._asyncio_future_blocking is True
        w._asyncio_future_blocking = False
        with pytest.raises(AttributeError):
            w.no_such_attribute = 1
        with pytest.raises(AttributeError):
            _ = w.no_such_attribute
        var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
        ctx = contextvars.copy_context()
        ctx.run(var.set, "in ctx")
        calls: list[tuple[Any, str]] = []
        w.add_done_callback(lambda f: calls.append((f, var.get())), context=ctx)
        type(w).add_done_callback(w, lambda f: calls.append((f, "plain")))
        with pytest.raises(TypeError, match="unexpected keyword argument 'ctx'"):
            w.add_done_callback(print, ctx=ctx)
        with pytest.raises(TypeError, match="exactly 1 positional argument"):
            w.add_done_callback()
        with pytest.raises(asyncio.InvalidStateError):
            w.result()
        client._listener.feed_message(
            1, json.dumps({"jsonrpc": "2.0", "id": rid, "result": 7}).encode()
        )
        assert await asyncio.wait_for(task, 2) == 7
        await asyncio.sleep(0)
        assert calls == [(w, "in ctx"), (w, "plain")]
        assert w.done() and w.result() is None and w.exception() is None
        await client.close()


def test_the_waiter_reports_the_loop_of_its_own_request() -> None:
    # get_loop() is cached for the last loop seen: a request on a later loop gets its own.
    async def one() -> bool:
        async with WebsocketsServer() as srv:
            client = await zenws.connect(srv.url)
            task, w, _ = await _waiter_of_a_pending_request(client)
            same = w.get_loop() is asyncio.get_running_loop()
            task.cancel()
            await client.close()
            return same

    assert asyncio.run(one()) and asyncio.run(one())


async def test_compiled_requests_put_encode_requests_bytes_on_the_wire() -> None:
    # The compiled path writes plain params into a frame buffer kept per connection
    # (grown for a large request, reused for small ones, released after one over
    # 256 KiB); anything else takes the bytes path (orjson).  The text on the wire
    # is encode_request's either way.
    import dataclasses

    from zenws.fast.jsonrpc import encode_request

    @dataclasses.dataclass
    class Order:
        instrument_name: str
        amount: float

    wire: list[bytes] = []

    def handler(conn: Any, msg: Any) -> None:
        wire.append(msg.data if isinstance(msg.data, bytes) else msg.data.encode())
        rpc_handler(conn, msg)

    sizes = [0, 10, 600, 70_000, 3, 200_000, 1]
    async with MockServer(handler) as srv:
        client = await zenws.connect(srv.url)
        sent: list[tuple[int, str, Any]] = []
        for i, n in enumerate(sizes):
            params = {"i": i, "data": "é\n" * n, "f": 1.5, "none": None, "list": [1, "x"]}
            rid = client._listener.next_id
            assert await client.request("public/echo", params) == json.loads(json.dumps(params))
            sent.append((rid, "public/echo", params))
        rid = client._listener.next_id
        order = Order("BTC-PERPETUAL", 10.0)
        assert await client.request("private/buy", order) == dataclasses.asdict(order)
        sent.append((rid, "private/buy", order))
        assert wire == [encode_request(*s) for s in sent]
        await client.close()
