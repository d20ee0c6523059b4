"""permessage-deflate (RFC 7692): Inflater/Deflater against python-websockets."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import tracemalloc
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.server import ServerConnection, serve
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode
from websockets.headers import parse_extension

from zenws.config import Config, DeflateOptions
from zenws.errors import ConfigError, ProtocolError
from zenws.fast import frame as fr

MESSAGES = [
    json.dumps(
        {
            "jsonrpc": "2.0",
            "method": "subscription",
            "params": {"channel": "ticker.BTC-PERPETUAL.raw", "data": {"best_bid": 6e4 + i}},
        }
    ).encode()
    for i in range(20)
] + [os.urandom(3000), b"", b"x" * 100_000]


def ws_sender(window: int, no_takeover: bool) -> PerMessageDeflate:
    # Server side of websockets: "local" = the server's compressor.
    return PerMessageDeflate(False, no_takeover, 15, window)


def ws_receiver(window: int, no_takeover: bool) -> PerMessageDeflate:
    # Server side of websockets receiving what a client compressed.
    return PerMessageDeflate(no_takeover, False, window, 15)


@pytest.mark.parametrize("window", range(9, 16))
@pytest.mark.parametrize("no_takeover", [False, True])
def test_inflate_websockets_messages(window: int, no_takeover: bool) -> None:
    ext = ws_sender(window, no_takeover)
    asm = fr.MessageAssembler(1 << 20, inflater=fr.Inflater(window, no_takeover))
    for msg in MESSAGES:
        f = ext.encode(WsFrame(Opcode.BINARY, msg))
        assert f.rsv1
        assert asm.feed(fr.OP_BINARY, bytes(f.data), True, True) == (fr.OP_BINARY, msg)


@pytest.mark.parametrize("window", [9, 12, 15])
@pytest.mark.parametrize("no_takeover", [False, True])
def test_inflate_websockets_fragmented_text(window: int, no_takeover: bool) -> None:
    ext = ws_sender(window, no_takeover)
    asm = fr.MessageAssembler(1 << 20, inflater=fr.Inflater(window, no_takeover))
    for msg in MESSAGES[:20]:
        text = msg + " ✓ €".encode()
        pieces = [text[:7], text[7:50], text[50:]]
        out = None
        for i, piece in enumerate(pieces):
            op = Opcode.TEXT if i == 0 else Opcode.CONT
            f = ext.encode(WsFrame(op, piece, fin=i == 2))
            out = asm.feed(fr.OP_TEXT if i == 0 else fr.OP_CONT, bytes(f.data), i == 2, f.rsv1)
            assert (out is None) is (i < 2)
        assert out == (fr.OP_TEXT, text)


def test_context_takeover_matters() -> None:
    # The sender keeps its window; a receiver that resets per message must fail
    # on a later back-reference (proves both settings are really applied).
    ext = ws_sender(15, False)
    wrong = fr.Inflater(15, no_context_takeover=True)
    right = fr.Inflater(15, no_context_takeover=False)
    payloads = [bytes(ext.encode(WsFrame(Opcode.BINARY, m)).data) for m in MESSAGES[:5]]
    assert [right.inflate(p, 1 << 20) for p in payloads] == MESSAGES[:5]
    with pytest.raises(ProtocolError) as ei:
        for p in payloads:
            wrong.inflate(p, 1 << 20)
    assert ei.value.close_code == 1002


@pytest.mark.parametrize("window", range(8, 16))
@pytest.mark.parametrize("no_takeover", [False, True])
def test_deflater_output_decoded_by_websockets(window: int, no_takeover: bool) -> None:
    ours = fr.Deflater(window, no_takeover)
    ext = ws_receiver(window, no_takeover)
    for msg in MESSAGES:
        data = ours.compress(msg)
        decoded = ext.decode(WsFrame(Opcode.BINARY, data, rsv1=True), max_size=1 << 20)
        assert bytes(decoded.data) == msg


def test_deflater_takeover_and_reset() -> None:
    msg = MESSAGES[0]
    keep = fr.Deflater()
    first, second = keep.compress(msg), keep.compress(msg)
    assert len(second) < len(first)  # second message refers to the first
    fresh = fr.Deflater(no_context_takeover=True)
    assert fresh.compress(msg) == fresh.compress(msg) == first
    keep.reset()
    assert keep.compress(msg) == first
    empty = fr.Deflater().compress(b"")
    assert empty == b"\x00"  # RFC 7692 §7.2.3.6: an empty block, tail removed
    assert fr.Inflater().inflate(empty, 0) == b""
    assert fr.Deflater().compress("é") == fr.Deflater().compress("é".encode())
    with pytest.raises(ValueError):
        fr.Deflater(16)
    with pytest.raises(ValueError):
        fr.Inflater(7)


def test_zip_bomb_is_bounded() -> None:
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    bomb = b"".join(comp.compress(chunk) for _ in range(256)) + comp.flush(zlib.Z_SYNC_FLUSH)
    bomb = bomb[:-4]  # 256 MiB of zeros in ~256 KB
    assert len(bomb) < 400_000
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError) as ei:
            fr.Inflater().inflate(bomb, 1 << 20)
        assert ei.value.close_code == 1009
        asm = fr.MessageAssembler(1 << 20, inflater=fr.Inflater())
        with pytest.raises(ProtocolError) as ei:
            asm.feed(fr.OP_BINARY, bomb, True, True)
        assert ei.value.close_code == 1009
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # never near the 256 MiB the bomb expands to


def test_size_limit_counts_decompressed_bytes() -> None:
    data = fr.Deflater().compress(b"a" * 1000)
    assert len(data) < 100
    assert fr.Inflater().inflate(data, 1000) == b"a" * 1000
    with pytest.raises(ProtocolError) as ei:
        fr.Inflater().inflate(data, 999)
    assert ei.value.close_code == 1009
    asm = fr.MessageAssembler(999, inflater=fr.Inflater())
    with pytest.raises(ProtocolError) as ei:
        asm.feed(fr.OP_TEXT, data, True, True)
    assert ei.value.close_code == 1009
    # Fragmented: the limit is checked against the running decompressed size.
    asm = fr.MessageAssembler(1500, inflater=fr.Inflater())
    whole = fr.Deflater().compress(b"b" * 1000 + os.urandom(1000))
    asm.feed(fr.OP_BINARY, whole[:20], False, True)
    with pytest.raises(ProtocolError) as ei:
        asm.feed(fr.OP_CONT, whole[20:], True, False)
    assert ei.value.close_code == 1009


def test_invalid_utf8_in_compressed_text() -> None:
    asm = fr.MessageAssembler(inflater=fr.Inflater())
    with pytest.raises(ProtocolError) as ei:
        asm.feed(fr.OP_TEXT, fr.Deflater().compress(b"ok\xed\xa0\x80"), True, True)
    assert ei.value.close_code == 1007


def test_corrupt_compressed_data() -> None:
    with pytest.raises(ProtocolError) as ei:
        fr.Inflater().inflate(b"\xff\xff\xff\xff\xff", 100)
    assert ei.value.close_code == 1002


# ---- negotiation (RFC 7692 §7.1)


def test_deflate_offer_strings() -> None:
    assert fr.deflate_offer() == "permessage-deflate; client_max_window_bits"
    assert fr.deflate_offer(
        client_max_window_bits=10,
        server_max_window_bits=12,
        client_no_context_takeover=True,
        server_no_context_takeover=True,
    ) == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=12; client_max_window_bits=10"
    )
    assert fr.deflate_offer(client_max_window_bits=None) == "permessage-deflate"
    for bad in ({"client_max_window_bits": 8}, {"server_max_window_bits": 16}):
        with pytest.raises(ValueError):
            fr.deflate_offer(**bad)  # type: ignore[arg-type]


OFFERS = [
    {},
    {"client_max_window_bits": 11},
    {"server_max_window_bits": 10, "server_no_context_takeover": True},
    {"client_no_context_takeover": True, "client_max_window_bits": None},
]
SERVERS = [
    {},
    {"server_no_context_takeover": True, "client_no_context_takeover": True},
    {"server_max_window_bits": 9, "client_max_window_bits": 8},
    {"server_max_window_bits": 12, "client_max_window_bits": 13},
]


@pytest.mark.parametrize("offer", OFFERS)
@pytest.mark.parametrize("server", SERVERS)
def test_negotiation_against_websockets(
    offer: dict[str, object], server: dict[str, object]
) -> None:
    header = fr.deflate_offer(**offer)  # type: ignore[arg-type]
    [(name, params)] = parse_extension(header)
    factory = ServerPerMessageDeflateFactory(**server)  # type: ignore[arg-type]
    resp_params, ext = factory.process_request_params(params, [])
    response = "; ".join([name] + [k if v is None else f"{k}={v}" for k, v in resp_params])
    ours = fr.parse_deflate_response(response, **offer)  # type: ignore[arg-type]
    # websockets' server view: remote = client, local = server.
    assert ours.server_no_context_takeover == ext.local_no_context_takeover
    assert ours.client_no_context_takeover == ext.remote_no_context_takeover
    assert ours.server_max_window_bits == ext.local_max_window_bits
    assert ours.client_max_window_bits == ext.remote_max_window_bits
    # websockets' own client agrees with our reading of the response.
    cfactory = ClientPerMessageDeflateFactory(
        **{k: v for k, v in offer.items()}  # type: ignore[arg-type]
    )
    if ours.client_max_window_bits >= 9:
        cext = cfactory.process_response_params(parse_extension(response)[0][1], [])
        assert cext.local_max_window_bits == ours.client_max_window_bits
        assert cext.remote_max_window_bits == ours.server_max_window_bits


BAD_RESPONSES = [
    "permessage-deflate; foo",
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    "permessage-deflate; server_no_context_takeover=1",
    "permessage-deflate; server_max_window_bits=7",
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; server_max_window_bits=abc",
    "permessage-deflate; server_max_window_bits",
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; client_max_window_bits=15; client_max_window_bits=15",
    "x-webkit-deflate-frame",
    "permessage-deflate, permessage-deflate",
    "",
]


@pytest.mark.parametrize("header", BAD_RESPONSES)
def test_bad_responses(header: str) -> None:
    with pytest.raises(ProtocolError) as ei:
        fr.parse_deflate_response(header)
    assert ei.value.close_code == 1002


def test_response_against_offer() -> None:
    p = fr.parse_deflate_response('permessage-deflate; server_max_window_bits="10"')
    assert p == fr.DeflateParams(server_max_window_bits=10)
    with pytest.raises(ProtocolError):  # asked for server_no_context_takeover
        fr.parse_deflate_response("permessage-deflate", server_no_context_takeover=True)
    with pytest.raises(ProtocolError):  # server window above what we asked
        fr.parse_deflate_response(
            "permessage-deflate; server_max_window_bits=12", server_max_window_bits=10
        )
    with pytest.raises(ProtocolError):  # client window not offered at all
        fr.parse_deflate_response(
            "permessage-deflate; client_max_window_bits=10", client_max_window_bits=None
        )
    p = fr.parse_deflate_response("permessage-deflate", client_max_window_bits=11)
    assert p.client_max_window_bits == 11
    assert isinstance(p.make_inflater(), fr.Inflater)
    assert p.make_deflater().max_window_bits == 11


# ---- a real websockets server with compression on loopback


async def _read_http(reader: asyncio.StreamReader) -> dict[str, str]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0].startswith("HTTP/1.1 101"), lines[0]
    return {
        k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
    }


async def _read_message(
    reader: asyncio.StreamReader, buf: bytearray, asm: fr.MessageAssembler
) -> tuple[int, bytes]:
    while True:
        res = fr.decode(buf, allow_rsv1=True, expect_masked=False)
        if res is None:
            buf += await reader.read(65536)
            continue
        f, used = res
        del buf[:used]
        msg = asm.feed(f.opcode, f.payload, f.fin, f.rsv1)
        if msg is not None:
            return msg


@pytest.mark.parametrize("window", [9, 15])
@pytest.mark.parametrize("no_takeover", [False, True])
async def test_real_websockets_server(window: int, no_takeover: bool) -> None:
    async def handler(ws: ServerConnection) -> None:
        for msg in MESSAGES[:20]:
            await ws.send(msg.decode())
        echo = await ws.recv()
        await ws.send(echo)

    factory = ServerPerMessageDeflateFactory(
        server_max_window_bits=window, server_no_context_takeover=no_takeover
    )
    async with serve(handler, "127.0.0.1", 0, extensions=[factory], compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        offer = fr.deflate_offer()
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: {offer}\r\n\r\n"
            ).encode()
        )
        headers = await asyncio.wait_for(_read_http(reader), 5)
        params = fr.parse_deflate_response(headers["sec-websocket-extensions"])
        assert params.server_max_window_bits == window
        assert params.server_no_context_takeover is no_takeover
        asm = fr.MessageAssembler(1 << 20, inflater=params.make_inflater())
        buf = bytearray()
        for msg in MESSAGES[:20]:
            got = await asyncio.wait_for(_read_message(reader, buf, asm), 5)
            assert got == (fr.OP_TEXT, msg)
        deflater = params.make_deflater()
        text = "echo ✓ " * 50
        writer.write(fr.encode(fr.OP_TEXT, deflater.compress(text), rsv1=True, mask=True))
        got = await asyncio.wait_for(_read_message(reader, buf, asm), 5)
        assert got == (fr.OP_TEXT, text.encode())
        writer.write(fr.encode(fr.OP_CLOSE, fr.encode_close_payload(1000), mask=True))
        writer.close()


@settings(max_examples=80, deadline=None)
@given(
    text=st.text(max_size=400),
    cuts=st.lists(st.integers(min_value=0, max_value=1000), max_size=5),
    no_takeover=st.booleans(),
)
def test_compressed_any_fragmentation(text: str, cuts: list[int], no_takeover: bool) -> None:
    deflater = fr.Deflater(no_context_takeover=no_takeover)
    asm = fr.MessageAssembler(1 << 16, inflater=fr.Inflater(no_context_takeover=no_takeover))
    for msg in (text.encode(), (text * 2).encode()):
        data = deflater.compress(msg)
        points = sorted({c % (len(data) + 1) for c in cuts})
        pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
        res = None
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            res = asm.feed(fr.OP_TEXT if i == 0 else fr.OP_CONT, piece, last, i == 0)
            assert (res is None) is not last
        assert res == (fr.OP_TEXT, msg)


def test_unbounded_sizes_do_not_overflow() -> None:
    data = fr.Deflater().compress(b"z" * 5000)
    assert fr.Inflater().inflate(data, (1 << 63) - 1) == b"z" * 5000
    asm = fr.MessageAssembler((1 << 63) - 1, inflater=fr.Inflater())
    assert asm.feed(fr.OP_BINARY, data, True, True) == (fr.OP_BINARY, b"z" * 5000)


# -- Config.compression: the offer the client sends ------------------------------------


@pytest.mark.parametrize(
    ("compression", "offer"),
    [
        ("deflate", "permessage-deflate; client_max_window_bits"),
        (
            {"client_no_context_takeover": True},
            "permessage-deflate; client_no_context_takeover; client_max_window_bits",
        ),
        (
            DeflateOptions(server_no_context_takeover=True, server_max_window_bits=8),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=8; "
            "client_max_window_bits",
        ),
        ({"client_max_window_bits": None}, "permessage-deflate"),
        ({"client_max_window_bits": 9}, "permessage-deflate; client_max_window_bits=9"),
        ({"level": 1}, "permessage-deflate; client_max_window_bits"),  # local only
    ],
)
def test_config_compression_offer(compression: object, offer: str) -> None:
    cfg = Config.new("ws://127.0.0.1:1/", compression=compression)
    opts = cfg.deflate_options
    assert isinstance(opts, DeflateOptions)
    assert fr.deflate_offer(**opts.kwargs()) == offer
    # a dict is stored as DeflateOptions: the config stays hashable and comparable
    assert hash(cfg) == hash(Config.new("ws://127.0.0.1:1/", compression=compression))
    assert Config.new("ws://127.0.0.1:1/").deflate_options is None


@pytest.mark.parametrize(
    ("compression", "message"),
    [
        ("gzip", "must be None, 'deflate'"),
        (1, "must be None, 'deflate'"),
        ({"client_window": 10}, "unknown permessage-deflate parameters"),
        ({"client_max_window_bits": 8}, "client_max_window_bits must be an int 9..15"),
        ({"client_max_window_bits": 16}, "client_max_window_bits must be an int 9..15"),
        ({"client_max_window_bits": False}, "client_max_window_bits must be"),
        ({"server_max_window_bits": 7}, "server_max_window_bits must be an int 8..15"),
        ({"server_max_window_bits": True}, "server_max_window_bits must be"),
        ({"server_max_window_bits": "10"}, "server_max_window_bits must be"),
        ({"client_no_context_takeover": 1}, "client_no_context_takeover must be True or False"),
        ({"server_no_context_takeover": None}, "server_no_context_takeover must be True"),
        ({"level": 10}, "level must be an int 0..9"),
        ({"level": -1}, "level must be an int 0..9"),
        ({"level": True}, "level must be an int 0..9"),
    ],
)
def test_config_compression_rejects(compression: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as ei:
        Config.new("ws://127.0.0.1:1/", compression=compression)
    assert ei.value.field == "compression"


def test_negotiated_parameters_from_config() -> None:
    # What the client does with each Autobahn 13.x answer to the conformance offer.
    opts = DeflateOptions(client_no_context_takeover=True).kwargs()
    answers = {
        "permessage-deflate": (True, 15),  # 13.1: the hint is kept
        "permessage-deflate; client_no_context_takeover": (True, 15),  # 13.2
        "permessage-deflate; client_max_window_bits=9": (True, 9),  # 13.3
        "permessage-deflate; client_no_context_takeover; client_max_window_bits=15": (True, 15),
    }
    for answer, (reset, bits) in answers.items():
        params = fr.parse_deflate_response(answer, **opts)
        deflater = params.make_deflater()
        assert (deflater.no_context_takeover, deflater.max_window_bits) == (reset, bits)
        inflater = params.make_inflater()
        assert (inflater.no_context_takeover, inflater.max_window_bits) == (False, 15)
    plain = fr.parse_deflate_response("permessage-deflate", **DeflateOptions().kwargs())
    assert not plain.make_deflater().no_context_takeover


@pytest.mark.parametrize("window", [8, 9, 10, 11, 12, 15])
def test_small_window_deflater_round_trips(window: int) -> None:
    # The hash table is sized to the window (mem_level capped); output must still be
    # decodable by a peer with exactly that window, across messages (context kept).
    data = base64.b64encode(os.urandom(1500)) * 60
    ours = fr.Deflater(window)
    peer = zlib.decompressobj(-max(window, 9) if window == 8 else -window)
    for i in range(3):
        msg = data[i * 7 :]
        out = ours.compress(msg)
        assert peer.decompress(out + b"\x00\x00\xff\xff") == msg
        if window >= 12:
            assert len(out) < len(msg) // 4  # the 2000-byte period fits in the window
