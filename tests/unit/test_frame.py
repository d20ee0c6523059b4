"""zenws.fast.frame: RFC 6455 encode/decode, strict validation, close payloads."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto.frame_protocol import FrameProtocol, Opcode

from zenws.errors import ProtocolError
from zenws.fast import frame as fr

KEY = bytes([0x37, 0xFA, 0x21, 0x3D])


def naive_mask(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def xor_big(data: bytes, key: bytes) -> bytes:
    # Naive XOR through int arithmetic: fast enough for 1 MiB, independent of zenws.
    n = len(data)
    k = int.from_bytes(key * (n // 4 + 1), "big") >> (8 * (4 - n % 4) if n % 4 else 0)
    if n % 4 == 0:
        k >>= 32
    return (int.from_bytes(data, "big") ^ k).to_bytes(n, "big")


def test_compiled_extension_loaded() -> None:
    # Guard: the compiled module is what is tested, never a Python twin.
    assert fr.__file__ is not None
    assert fr.__file__.endswith((".so", ".pyd"))


# ---- RFC 6455 §5.7 examples, byte for byte


def test_rfc_unmasked_hello() -> None:
    raw = bytes([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
    assert fr.encode(fr.OP_TEXT, b"Hello") == raw
    res = fr.decode(raw)
    assert res is not None
    f, n = res
    assert (f.opcode, f.fin, f.masked, f.payload, n) == (1, True, False, b"Hello", 7)


def test_rfc_masked_hello() -> None:
    raw = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    assert fr.encode(fr.OP_TEXT, "Hello", mask=KEY) == raw
    res = fr.decode(raw)
    assert res is not None
    f, n = res
    assert (f.opcode, f.masked, f.payload, n) == (1, True, b"Hello", 11)


def test_rfc_fragmented_hello() -> None:
    first = bytes([0x01, 0x03, 0x48, 0x65, 0x6C])
    last = bytes([0x80, 0x02, 0x6C, 0x6F])
    assert fr.encode(fr.OP_TEXT, b"Hel", fin=False) == first
    assert fr.encode(fr.OP_CONT, b"lo") == last
    res = fr.decode(first + last)
    assert res is not None
    f, n = res
    assert (f.opcode, f.fin, f.payload, n) == (1, False, b"Hel", 5)
    res = fr.decode((first + last)[n:])
    assert res is not None
    assert (res[0].opcode, res[0].fin, res[0].payload) == (0, True, b"lo")


def test_rfc_ping_pong() -> None:
    ping = bytes([0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
    pong = bytes([0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    assert fr.encode(fr.OP_PING, b"Hello") == ping
    assert fr.encode(fr.OP_PONG, b"Hello", mask=KEY) == pong
    assert fr.decode(pong) == (fr.Frame(fr.OP_PONG, b"Hello", masked=True), 11)


def test_rfc_256_bytes_and_64k() -> None:
    assert fr.encode(fr.OP_BINARY, bytes(256))[:4] == bytes([0x82, 0x7E, 0x01, 0x00])
    assert fr.encode(fr.OP_BINARY, bytes(65536))[:10] == bytes(
        [0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]
    )


# ---- edge sizes


SIZES = [*range(9), 125, 126, 127, 65535, 65536, 1 << 20]


def header_len(n: int, masked: bool) -> int:
    return (2 if n <= 125 else 4 if n <= 65535 else 10) + (4 if masked else 0)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("masked", [False, True])
def test_edge_sizes_roundtrip(n: int, masked: bool) -> None:
    payload = os.urandom(n)
    raw = fr.encode(fr.OP_BINARY, payload, mask=KEY if masked else None)
    assert len(raw) == header_len(n, masked) + n
    body = raw[header_len(n, masked) :]
    if masked:
        assert raw[header_len(n, masked) - 4 : header_len(n, masked)] == KEY
        assert body == (naive_mask(payload, KEY) if n <= 65536 else xor_big(payload, KEY))
    else:
        assert body == payload
    res = fr.decode(raw)
    assert res is not None
    f, used = res
    assert (f.payload == payload, used, f.masked) == (True, len(raw), masked)
    # Every strict prefix is "incomplete", never an error or a short frame.
    for cut in {0, 1, 2, 3, header_len(n, masked) - 1, len(raw) - 1}:
        if 0 <= cut < len(raw):
            assert fr.decode(raw[:cut]) is None


def test_decode_accepts_any_buffer_and_trailing_bytes() -> None:
    raw = fr.encode(fr.OP_TEXT, b"abc") + b"\x81"
    for buf in (raw, bytearray(raw), memoryview(raw)):
        res = fr.decode(buf)
        assert res is not None
        assert res[0].payload == b"abc" and res[1] == 5


def test_random_mask_key_differs() -> None:
    a = fr.encode(fr.OP_TEXT, b"x" * 8, mask=True)
    b = fr.encode(fr.OP_TEXT, b"x" * 8, mask=True)
    assert a[1] & 0x80 and b[1] & 0x80
    ra, rb = fr.decode(a), fr.decode(b)
    assert ra is not None and rb is not None
    assert ra[0].payload == rb[0].payload == b"x" * 8
    assert a[2:6] != b[2:6]  # keys come from os.urandom


def test_non_minimal_length_is_rejected() -> None:
    # RFC 6455 §5.2: "the minimal number of bytes MUST be used" -- the read guard
    # and picows fail such frames with 1002, and so does the codec.
    for raw in (
        bytes([0x82, 0x7E, 0x00, 0x03]) + b"abc",
        bytes([0x82, 0x7E, 0x00, 0x7D]) + b"x" * 125,
        bytes([0x82, 0x7F]) + struct.pack("!Q", 2) + b"hi",
        bytes([0x82, 0x7F]) + struct.pack("!Q", 65535) + b"x" * 65535,
    ):
        with pytest.raises(ProtocolError) as ei:
            fr.decode(raw)
        assert ei.value.close_code == 1002
        assert "non-minimal" in str(ei.value)
    # the smallest lengths of each form are minimal
    raw = bytes([0x82, 0x7E, 0x00, 0x7E]) + b"x" * 126
    assert fr.decode(raw) == (fr.Frame(fr.OP_BINARY, b"x" * 126), 130)
    raw = bytes([0x82, 0x7F]) + struct.pack("!Q", 65536) + b"x" * 65536
    assert fr.decode(raw) == (fr.Frame(fr.OP_BINARY, b"x" * 65536), 65546)


# ---- strict validation


def code_of(raw: bytes, **kw: object) -> int:
    with pytest.raises(ProtocolError) as ei:
        fr.decode(raw, **kw)  # type: ignore[arg-type]
    return ei.value.close_code


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
def test_unknown_opcodes(opcode: int) -> None:
    assert code_of(fr.encode(opcode, b"x", strict=False)) == 1002
    with pytest.raises(ValueError):
        fr.encode(opcode, b"x")


@pytest.mark.parametrize(
    ("flags", "allowed"),
    [({"rsv1": True}, True), ({"rsv2": True}, False), ({"rsv3": True}, False)],
)
def test_reserved_bits(flags: dict[str, bool], allowed: bool) -> None:
    raw = fr.encode(fr.OP_TEXT, b"x", strict=False, **flags)
    assert code_of(raw) == 1002
    if allowed:
        res = fr.decode(raw, allow_rsv1=True)
        assert res is not None and res[0].rsv1
    else:
        assert code_of(raw, allow_rsv1=True) == 1002


def test_control_frame_rules() -> None:
    assert code_of(fr.encode(fr.OP_PING, bytes(126), strict=False)) == 1002
    assert code_of(fr.encode(fr.OP_PONG, b"", fin=False, strict=False)) == 1002
    assert fr.decode(fr.encode(fr.OP_PING, bytes(125))) is not None
    with pytest.raises(ValueError):
        fr.encode(fr.OP_PING, bytes(126))
    with pytest.raises(ValueError):
        fr.encode(fr.OP_CLOSE, b"", fin=False)
    with pytest.raises(ValueError):
        fr.encode(fr.OP_PING, b"", rsv1=True)
    with pytest.raises(ValueError):
        fr.encode(fr.OP_CONT, b"", rsv1=True)
    # A control frame with a 126 length byte is rejected from the first 2 bytes.
    assert code_of(bytes([0x89, 0x7E])) == 1002


def test_64bit_length_top_bit() -> None:
    raw = bytes([0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1])
    assert code_of(raw) == 1002


def test_max_size() -> None:
    raw = fr.encode(fr.OP_BINARY, bytes(1000))
    assert fr.decode(raw, max_size=1000) is not None
    assert code_of(raw, max_size=999) == 1009
    # Rejected from the header alone, before the payload arrived.
    assert code_of(raw[:4], max_size=10) == 1009
    with pytest.raises(ValueError):
        fr.decode(raw, max_size=-1)


def test_mask_direction() -> None:
    masked = fr.encode(fr.OP_TEXT, b"a", mask=KEY)
    plain = fr.encode(fr.OP_TEXT, b"a")
    assert code_of(masked, expect_masked=False) == 1002
    assert code_of(plain, expect_masked=True) == 1002
    assert fr.decode(masked, expect_masked=True) is not None
    assert fr.decode(plain, expect_masked=False) is not None


def test_encode_bad_args() -> None:
    with pytest.raises(ValueError):
        fr.encode(16, b"")
    with pytest.raises(ValueError):
        fr.encode(fr.OP_TEXT, b"", mask=b"abc")
    with pytest.raises(TypeError):
        fr.encode(fr.OP_TEXT, 12345)
    with pytest.raises(TypeError):
        fr.decode("not bytes")  # type: ignore[arg-type]


# ---- close payloads (RFC 6455 §5.5.1, §7.4)

VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]
INVALID_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("code", VALID_CODES)
def test_close_codes_valid(code: int) -> None:
    payload = fr.encode_close_payload(code, "ok ✓")
    assert payload == struct.pack("!H", code) + "ok ✓".encode()
    assert fr.parse_close_payload(payload) == (code, "ok ✓")
    res = fr.decode(fr.encode(fr.OP_CLOSE, payload, mask=KEY))
    assert res is not None and res[0].payload == payload


@pytest.mark.parametrize("code", INVALID_CODES)
def test_close_codes_invalid(code: int) -> None:
    payload = struct.pack("!H", code)
    with pytest.raises(ProtocolError) as ei:
        fr.parse_close_payload(payload)
    assert ei.value.close_code == 1002
    assert code_of(fr.encode(fr.OP_CLOSE, payload)) == 1002
    with pytest.raises(ValueError):
        fr.encode_close_payload(code)


def test_close_payload_shapes() -> None:
    assert fr.parse_close_payload(b"") == (None, "")
    with pytest.raises(ProtocolError) as ei:
        fr.parse_close_payload(b"\x03")
    assert ei.value.close_code == 1002
    assert code_of(fr.encode(fr.OP_CLOSE, b"\x03")) == 1002
    bad_reason = (
        struct.pack("!H", 1000) + b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
    )
    with pytest.raises(ProtocolError) as ei:
        fr.parse_close_payload(bad_reason)
    assert ei.value.close_code == 1007
    assert code_of(fr.encode(fr.OP_CLOSE, bad_reason, mask=KEY)) == 1007
    with pytest.raises(ValueError):
        fr.encode_close_payload(1000, "x" * 124)
    assert len(fr.encode_close_payload(1000, "x" * 123)) == 125


# ---- cross-decoding against wsproto (reference implementation)


def wsproto_frames(data: bytes, *, client: bool) -> list[tuple[Opcode, bytes, bool]]:
    proto = FrameProtocol(client=client, extensions=[])
    proto.receive_bytes(data)
    out = []
    for f in proto.received_frames():
        out.append((f.opcode, f.payload, f.frame_finished))
    return out


data_st = st.binary(max_size=70000)


@settings(max_examples=60, deadline=None)
@given(payload=data_st, masked=st.booleans(), binary=st.booleans())
def test_zenws_encode_wsproto_decode(payload: bytes, masked: bool, binary: bool) -> None:
    opcode = fr.OP_BINARY if binary else fr.OP_TEXT
    text = payload.decode("latin-1").encode() if not binary else payload
    raw = fr.encode(opcode, text, mask=True if masked else None)
    # A client receives unmasked frames, a server masked ones.
    frames = wsproto_frames(raw, client=not masked)
    joined = b"".join(p if isinstance(p, bytes) else p.encode() for _, p, _ in frames)
    assert joined == text
    assert frames[0][0] == (Opcode.BINARY if binary else Opcode.TEXT)


@settings(max_examples=60, deadline=None)
@given(payload=st.binary(max_size=70000), client=st.booleans())
def test_wsproto_encode_zenws_decode(payload: bytes, client: bool) -> None:
    proto = FrameProtocol(client=client, extensions=[])
    raw = bytes(proto.send_data(payload, fin=True))
    res = fr.decode(raw, expect_masked=client)
    assert res is not None
    f, used = res
    assert (f.opcode, f.payload, f.masked, used) == (fr.OP_BINARY, payload, client, len(raw))
    ping = bytes(proto.ping(payload[:125]))
    res = fr.decode(ping)
    assert res is not None and res[0] == fr.Frame(fr.OP_PING, payload[:125], masked=client)
    close = bytes(proto.close(1001, "bye"))
    res = fr.decode(close)
    assert res is not None and fr.parse_close_payload(res[0].payload) == (1001, "bye")


@settings(max_examples=100, deadline=None)
@given(
    opcode=st.sampled_from([0, 1, 2]),
    payload=st.binary(max_size=300),
    fin=st.booleans(),
    rsv1=st.booleans(),
    key=st.none() | st.binary(min_size=4, max_size=4),
)
def test_roundtrip_property(
    opcode: int, payload: bytes, fin: bool, rsv1: bool, key: bytes | None
) -> None:
    raw = fr.encode(opcode, payload, fin=fin, rsv1=rsv1, mask=key, strict=False)
    res = fr.decode(raw + b"\x00\x01", allow_rsv1=True)
    assert res is not None
    expected = fr.Frame(opcode, payload, fin=fin, rsv1=rsv1, masked=key is not None)
    assert res == (expected, len(raw))


def test_frame_repr_and_eq() -> None:
    f = fr.Frame(fr.OP_TEXT, b"hi")
    assert "TEXT" in repr(f) and "len=2" in repr(f)
    assert f == fr.Frame(fr.OP_TEXT, b"hi")
    assert f != fr.Frame(fr.OP_TEXT, b"hi", fin=False)
    assert (f == 3) is False


@pytest.mark.parametrize("value", [0x00, 0x1C, 0x41, 0xFF])
def test_masked_one_byte_payload_does_not_corrupt_shared_bytes(value: int) -> None:
    # CPython shares 1-byte bytes objects; unmasking must never write into one.
    single = bytes([value])
    raw = fr.encode(fr.OP_BINARY, single, mask=KEY)
    for _ in range(3):
        res = fr.decode(raw)
        assert res is not None and res[0].payload == single
    assert bytes([value]) == single and single[0] == value


# ---- UTF-8 validation (ext/zenws_utf8.c) against CPython's strict decoder


def ref_first_invalid(data: bytes) -> int:
    """First byte index that no valid UTF-8 continuation can rescue (reference)."""
    try:
        data.decode("utf-8")
        return -1
    except UnicodeDecodeError:
        pass
    for i in range(len(data)):
        try:
            data[: i + 1].decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.reason != "unexpected end of data":
                return i
    return len(data)  # only truncated at the end


UTF8_CASES = [
    (b"", -1),
    (b"plain ascii " * 5, -1),
    ("κόσμε €𝄞 ✓".encode(), -1),
    (b"\xc0\xaf", 0),  # overlong '/', C0 can never start a sequence
    (b"\xc1\xbf", 0),
    (b"abc\xf5\x80\x80\x80", 3),  # > U+10FFFF lead byte
    (b"\xff", 0),
    (b"\xe0\x80\xaf", 1),  # overlong 3-byte: fails at the second byte
    (b"\xed\xa0\x80", 1),  # UTF-16 surrogate D800
    (b"\xf0\x8f\xbf\xbf", 1),  # overlong 4-byte
    (b"\xf4\x90\x80\x80", 1),  # U+110000
    (b"\x80", 0),  # lone continuation
    (b"\xe2\x82", 2),  # truncated euro sign: valid so far
    (b"\xe2\x82x", 2),
    (b"a" * 40 + b"\xce", 41),
    (b"a" * 33 + b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80" + b"z" * 20, 45),
]


@pytest.mark.parametrize(("data", "expected"), UTF8_CASES)
def test_utf8_fail_fast_positions(data: bytes, expected: int) -> None:
    assert ref_first_invalid(data) == expected  # the table itself is right
    assert fr.utf8_first_invalid(data) == expected
    assert fr.utf8_valid(data) is (expected == -1)


utf8ish = st.lists(
    st.one_of(
        st.text(max_size=20).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.binary(max_size=4),
        st.sampled_from([b"\xed\xa0\x80", b"\xf4\x8f\xbf\xbf", b"\xe0\xa0\x80", b"\xc2\x80"]),
    ),
    max_size=12,
).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(data=utf8ish)
def test_utf8_matches_cpython(data: bytes) -> None:
    assert fr.utf8_first_invalid(data) == ref_first_invalid(data)
    try:
        data.decode("utf-8")
        ok = True
    except UnicodeDecodeError:
        ok = False
    assert fr.utf8_valid(data) is ok


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=64), max_size=st.none() | st.integers(0, 100))
def test_decode_garbage_never_crashes(data: bytes, max_size: int | None) -> None:
    # Any input gives a frame, "incomplete", or a ProtocolError with a valid code.
    try:
        res = fr.decode(data, max_size=max_size, allow_rsv1=True)
    except ProtocolError as exc:
        assert exc.close_code in (1002, 1007, 1009)
        return
    if res is not None:
        f, used = res
        assert 2 <= used <= len(data)
        assert len(f.payload) <= used - 2
        assert fr.decode(data[: used - 1], max_size=max_size, allow_rsv1=True) is None
