"""The frames a compiled request() writes, read byte for byte by a bare TCP server."""

from __future__ import annotations

import asyncio
import json
import struct

import zenws
from rawws import accept_upgrade
from zenws.fast.frame import decode, encode
from zenws.fast.jsonrpc import encode_request


class RpcWireServer:
    """Completes the upgrade, answers every request (result = params), keeps each raw frame."""

    def __init__(self) -> None:
        self.raw_frames: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        buf = b""
        try:
            while data := await reader.read(1 << 20):
                buf += data
                while (res := decode(buf, expect_masked=True)) is not None:
                    frame, used = res
                    self.raw_frames.append(buf[:used])
                    buf = buf[used:]
                    if frame.opcode == 8:
                        return
                    req = json.loads(frame.payload)
                    reply = {"jsonrpc": "2.0", "id": req["id"], "result": req["params"]}
                    writer.write(encode(1, json.dumps(reply).encode()))
        except ConnectionError:
            pass
        finally:
            writer.close()


def _header(raw: bytes) -> tuple[int, int, int, bytes]:
    """(first byte, length field form: 7/16/64, payload length, masking key)."""
    b1 = raw[1]
    assert b1 & 0x80, "a client frame must be masked (RFC 6455 section 5.3)"
    n = b1 & 0x7F
    if n == 126:
        return raw[0], 16, struct.unpack("!H", raw[2:4])[0], raw[4:8]
    if n == 127:
        return raw[0], 64, struct.unpack("!Q", raw[2:10])[0], raw[10:14]
    return raw[0], 7, n, raw[2:6]


async def test_compiled_requests_are_single_masked_text_frames_with_fresh_keys() -> None:
    srv = RpcWireServer()
    server = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    # Texts of 125 / 126 and 65535 / 65536 bytes straddle the 7/16/64-bit length
    # forms (RFC 6455 section 5.2): the text is 74 bytes + pad for one-digit ids.
    pads = [0, 51, 52, 100, 65_461, 65_462, 300_000] + [5] * 20
    sent: list[bytes] = []
    try:
        client = await zenws.connect(f"ws://127.0.0.1:{port}/", max_message_size=1 << 22)
        for i, pad in enumerate(pads):
            params = {"i": i, "data": "x" * pad}
            rid = client._listener.next_id
            assert await client.request("public/echo", params) == params
            sent.append(encode_request(rid, "public/echo", params))
        await client.close()
    finally:
        server.close()
    frames = [f for f in srv.raw_frames if f[0] & 0x0F == 1]
    assert len(frames) == len(pads)
    keys = []
    for raw, text in zip(frames, sent, strict=True):
        first, form, n, key = _header(raw)
        assert first == 0x81  # FIN, text, no reserved bits
        assert n == len(text) == len(raw) - {7: 6, 16: 8, 64: 14}[form]
        assert form == (7 if n <= 125 else 16 if n <= 65535 else 64)  # the shortest form
        res = decode(raw, expect_masked=True)
        assert res is not None and res[1] == len(raw) and res[0].payload == text
        assert raw[-n:] != text  # masked on the wire
        keys.append(key)
    assert len(set(keys)) == len(keys)  # a fresh key per frame
    assert [len(t) for t in sent[1:3]] == [125, 126]
    assert [len(t) for t in sent[4:6]] == [65535, 65536]
