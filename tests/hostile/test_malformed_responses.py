"""A malformed response to a pending request ends that request at once (docs/errors.md).

A raw server answers each request with a malformed response *for the same id*: neither
``result`` nor ``error``, both, an ``error`` that is not an object or has no integer code,
invalid JSON, nesting deeper than the decoder's limit, a lone surrogate. ``request()`` must
fail well before its 10 s deadline with a ``ProtocolError`` that names the request and the
reason (never a third-party exception), and the connection must serve the next request.

Both request paths are covered: the compiled one (``request()`` with the default deadline)
and the Python one (an explicit ``timeout=``), and the listener's read paths: whole frames,
a recording client (``record_to``) and permessage-deflate (rsv1 frames, the assembler).
``Message.json()`` fails with a ``ValueError`` for every decoder on the same payloads.
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

import zenws
from rawws import accept_upgrade, accept_value, frame, raw_server, read_upgrade
from waits import wait_until
from zenws.errors import Category, ProtocolError, categorize, explain
from zenws.fast.frame import decode
from zenws.fast.listener import _make_message
from zenws.testing import MockServer

DEEP = "[" * 2000 + "]" * 2000

#: method -> (response text for id %d, words the ProtocolError's reason must contain)
MALFORMED: dict[str, tuple[str, str]] = {
    "neither": ('{"jsonrpc":"2.0","id":%d}', "neither result nor error"),
    "error_null": ('{"jsonrpc":"2.0","id":%d,"error":null}', "neither result nor error"),
    "neither_id_last": ('{"jsonrpc":"2.0","usIn":1,"id":%d}', "neither result nor error"),
    "both": (
        '{"jsonrpc":"2.0","id":%d,"result":1,"error":{"code":1,"message":"x"}}',
        "both result and error",
    ),
    "error_string": ('{"jsonrpc":"2.0","id":%d,"error":"boom"}', "error is not an object"),
    "error_list": ('{"jsonrpc":"2.0","id":%d,"error":[1]}', "error is not an object"),
    "error_no_code": (
        '{"jsonrpc":"2.0","id":%d,"error":{"message":"x"}}',
        "error has no integer code",
    ),
    "error_str_code": (
        '{"jsonrpc":"2.0","id":%d,"error":{"code":"1","message":"x"}}',
        "error has no integer code",
    ),
    "deep": ('{"jsonrpc":"2.0","id":%d,"result":' + DEEP + "}", "not valid JSON"),
    "deep_id_last": ('{"jsonrpc":"2.0","result":' + DEEP + ',"id":%d}', "not valid JSON"),
    "surrogate": ('{"jsonrpc":"2.0","id":%d,"result":"\\ud800"}', "not valid JSON"),
    "invalid": ('{"jsonrpc":"2.0","id":%d,"result":[1,}', "not valid JSON"),
    "invalid_long": (
        '{"jsonrpc":"2.0","id":%d,"result":{"pad":"' + "x" * 200 + '","v":[1,}}',
        "not valid JSON",
    ),
}

MODES = ["compiled", "python", "record_to", "deflate"]


def _inflate(payload: bytes) -> bytes:
    return zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]  # RFC 7692 §7.2.1: drop the trailing 00 00 ff ff


def make_handler(deflate: bool, seen: list[dict[str, Any]]) -> Any:
    """A server that answers "ok" properly and every MALFORMED method malformed."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, headers = await read_upgrade(reader)
        ext = (
            b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
            b"client_no_context_takeover\r\n"
            if deflate
            else b""
        )
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: "
            + accept_value(headers[b"sec-websocket-key"])
            + b"\r\n"
            + ext
            + b"\r\n"
        )
        buf = b""
        while data := await reader.read(65536):
            buf += data
            while (res := decode(buf, allow_rsv1=True)) is not None:
                fr, used = res
                buf = buf[used:]
                if fr.opcode == 8:
                    return
                if fr.opcode != 1:
                    continue
                req = json.loads(_inflate(fr.payload) if fr.rsv1 else fr.payload)
                seen.append(req)
                if req["method"] == "ok":
                    text = json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": "fine"})
                else:
                    text = MALFORMED[req["method"]][0] % req["id"]
                raw = text.encode()
                writer.write(frame(1, _deflate(raw), rsv1=True) if deflate else frame(1, raw))
            await writer.drain()

    return handler


async def _client(url: str, mode: str, tmp_path: Path) -> Any:
    options: dict[str, Any] = {"request_timeout": 10, "reconnect_on_error": False}
    if mode == "record_to":
        options["record_to"] = str(tmp_path / "session.jsonl")
    if mode == "deflate":
        options["compression"] = "deflate"
    return await zenws.connect(url, **options)


@pytest.mark.parametrize("case", sorted(MALFORMED))
@pytest.mark.parametrize("mode", MODES)
async def test_a_malformed_response_ends_its_request_at_once(
    mode: str, case: str, tmp_path: Path
) -> None:
    seen: list[dict[str, Any]] = []
    async with raw_server(make_handler(mode == "deflate", seen)) as url:
        client = await _client(url, mode, tmp_path)
        try:
            if mode == "deflate":
                assert client._listener is not None and client._listener.deflate
            assert await client.request("ok") == "fine"
            timeout = 10 if mode == "python" else None
            t0 = time.monotonic()
            with pytest.raises(ProtocolError) as ei:
                await client.request(case, {"n": 1}, timeout=timeout)
            assert time.monotonic() - t0 < 2.0, "ended by the response, not by the deadline"
            exc = ei.value
            rid = seen[-1]["id"]
            assert exc.close_code is None and exc.method == case and exc.request_id == rid
            assert MALFORMED[case][1] in exc.reason and MALFORMED[case][1] in str(exc)
            assert categorize(exc) is Category.FATAL
            why = explain(exc)
            assert why.docs == "zenws docs errors#malformed-response"
            assert case in why.message and "connection stays open" in why.message
            assert type(exc) is ProtocolError and exc.__cause__ is None
            # the connection is still usable, nothing is left pending
            assert await client.request("ok") == "fine"
            assert client.state is zenws.State.OPEN and client.metrics().pending == 0
        finally:
            await client.close()


async def test_each_malformed_response_fails_only_its_own_request(tmp_path: Path) -> None:
    # Many requests in flight at once, every other one answered malformed: each ends with
    # its own outcome, none waits for the deadline.
    seen: list[dict[str, Any]] = []
    async with raw_server(make_handler(False, seen)) as url:
        client = await _client(url, "compiled", tmp_path)
        try:
            names = sorted(MALFORMED)
            calls = [client.request("ok" if i % 2 else names[i % len(names)]) for i in range(60)]
            t0 = time.monotonic()
            out = await asyncio.gather(*calls, return_exceptions=True)
            assert time.monotonic() - t0 < 2.0
            for i, res in enumerate(out):
                if i % 2:
                    assert res == "fine"
                else:
                    assert isinstance(res, ProtocolError) and res.method == names[i % len(names)]
            assert client.metrics().pending == 0
        finally:
            await client.close()


PAYLOADS = {
    "invalid": b'{"a":[1,}',
    "deep": b'{"a":' + DEEP.encode() + b"}",
    "very_deep": b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "big_int": b'{"a":' + b"9" * 5000 + b"}",
    "surrogate": b'{"a":"\\ud800"}',
    "invalid_utf8": b'{"a":"\xff"}',
    "empty": b"",
}


@pytest.mark.parametrize("decoder", ["orjson", "json", "zenws", "simdjson"])
@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_message_json_raises_value_error_for_every_decoder(decoder: str, name: str) -> None:
    # Each decoder accepts or rejects on its own terms (json.loads takes lone surrogates);
    # a rejection is always a ValueError, never RecursionError or simdjson's RuntimeError.
    for kind in (1, 4):  # text and binary messages
        msg = _make_message(kind, PAYLOADS[name], decoder=decoder)
        try:
            msg.json()
        except ValueError:
            pass
        except Exception as exc:  # pragma: no cover - the failure being tested
            pytest.fail(f"{decoder} raised {type(exc).__name__}: {exc}")
    # Invalid, or nested beyond the decoder's limit: 2,000 levels exceed orjson's, simdjson's
    # and zenws' limits, while json.loads's is the interpreter's (Python 3.13 parses them).
    invalid = name in ("invalid", "very_deep", "empty") or (name == "deep" and decoder != "json")
    if invalid:
        with pytest.raises(ValueError):
            _make_message(1, PAYLOADS[name], decoder=decoder).json()


@pytest.mark.parametrize("decoder", ["orjson", "json", "zenws", "simdjson"])
async def test_a_client_message_json_raises_value_error_with_each_decoder(decoder: str) -> None:
    # A message nested far deeper than any decoder's limit reaches the client (delivered as
    # OTHER, counted as invalid JSON); its json() fails with a ValueError whatever the decoder.
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer, after=frame(1, PAYLOADS["very_deep"]))
        await reader.read(65536)  # until the client closes

    got: list[Any] = []
    async with raw_server(handler) as url:
        client = zenws.Client(zenws.Config.new(url, decoder=decoder))
        client.on_message = got.append
        await client.start()
        try:
            await wait_until(lambda: got, what="message delivered")
            assert client.metrics().invalid_json == 1
            with pytest.raises(ValueError):
                got[0].json()
        finally:
            await client.close()


async def test_a_malformed_answer_to_a_restore_does_not_stop_the_reconnect() -> None:
    # After a reconnect the server answers the restore's subscribe malformed: those channels
    # are dropped (a fatal answer, like a refusal), the reconnect still completes.
    answers = {"malformed": False}

    def handler(conn: Any, msg: Any) -> None:
        doc = json.loads(msg.data)
        if answers["malformed"] and doc["method"] == "public/subscribe":
            conn.send('{"jsonrpc":"2.0","id":' + str(doc["id"]) + "}")
        else:
            conn.send({"jsonrpc": "2.0", "id": doc["id"], "result": doc["params"]["channels"]})

    events: list[str] = []
    handle = zenws.telemetry.attach("connection", lambda e, m, md: events.append(e))
    try:
        async with MockServer(handler) as srv:
            client = await zenws.connect(
                srv.url, dialect="deribit", retry_delay=0.01, max_backoff=0.02
            )
            try:
                assert await client.subscribe(["ticker.A.100ms"]) == ["ticker.A.100ms"]
                answers["malformed"] = True
                srv.abort()
                await wait_until(
                    lambda: "connection.reconnected" in events, what="the reconnect completes"
                )
                assert client.state is zenws.State.OPEN and client.epoch == 2
                assert client.subscriptions == []
            finally:
                await client.close()
    finally:
        zenws.telemetry.detach(handle)
