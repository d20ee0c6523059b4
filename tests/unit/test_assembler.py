"""MessageAssembler: fragmentation (RFC 6455 §5.4), UTF-8 (§8.1), size limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zenws.errors import ProtocolError
from zenws.fast import frame as fr
from zenws.fast.frame import OP_BINARY, OP_CONT, OP_TEXT


def fails(asm: fr.MessageAssembler, *args: object) -> int:
    with pytest.raises(ProtocolError) as ei:
        asm.feed(*args)  # type: ignore[arg-type]
    return ei.value.close_code


def test_single_frame_is_not_copied() -> None:
    asm = fr.MessageAssembler()
    payload = b'{"jsonrpc":"2.0","id":1,"result":true}'
    res = asm.feed(OP_TEXT, payload)
    assert res is not None
    assert res[0] == OP_TEXT and res[1] is payload
    assert (asm.msg_opcode, asm.msg_payload) == (OP_TEXT, payload)
    blob = bytes(range(256))
    res = asm.feed(OP_BINARY, blob)
    assert res is not None and res[1] is blob


def test_other_buffers_are_copied() -> None:
    asm = fr.MessageAssembler()
    buf = bytearray(b"abc")
    res = asm.feed(OP_BINARY, memoryview(buf))
    buf[0] = 0x7A
    assert res == (OP_BINARY, b"abc")


@pytest.mark.parametrize("cut", range(1, 12))
def test_multibyte_char_split_across_fragments(cut: int) -> None:
    text = "a€𝄞b".encode()  # 1 + 3 + 4 + 1 bytes
    asm = fr.MessageAssembler()
    parts = [text[:cut], text[cut:]] if cut < len(text) else [text, b""]
    assert asm.feed(OP_TEXT, parts[0], fin=False) is None
    assert asm.in_message
    assert asm.feed(OP_CONT, parts[1], fin=True) == (OP_TEXT, text)
    assert not asm.in_message


def test_char_split_in_three_one_byte_fragments() -> None:
    asm = fr.MessageAssembler()
    assert asm.feed(OP_TEXT, b"\xf0", fin=False) is None
    assert asm.feed(OP_CONT, b"\x9d", fin=False) is None
    assert asm.feed(OP_CONT, b"\x84", fin=False) is None
    assert asm.feed(OP_CONT, b"\x9e", fin=True) == (OP_TEXT, "𝄞".encode())


def test_invalid_utf8_fails_in_early_fragment() -> None:
    # Autobahn 6.4.x: the error is reported on the fragment holding the bad
    # byte, long before the final fragment arrives.
    asm = fr.MessageAssembler()
    assert asm.feed(OP_TEXT, "κόσμε".encode(), fin=False) is None
    assert fails(asm, OP_CONT, b"\xf4\x90\x80\x80", False) == 1007
    asm = fr.MessageAssembler()
    assert asm.feed(OP_TEXT, b"ok \xe0", fin=False) is None  # valid prefix so far
    assert fails(asm, OP_CONT, b"\x80", False) == 1007  # E0 80 is overlong


def test_truncated_utf8_at_message_end() -> None:
    asm = fr.MessageAssembler()
    assert fails(asm, OP_TEXT, b"abc\xe2\x82", True) == 1007
    asm.feed(OP_TEXT, b"abc\xe2\x82", fin=False)
    assert fails(asm, OP_CONT, b"", True) == 1007


def test_binary_is_not_utf8_checked() -> None:
    asm = fr.MessageAssembler()
    assert asm.feed(OP_BINARY, b"\xff\xfe", fin=False) is None
    assert asm.feed(OP_CONT, b"\xc0", fin=True) == (OP_BINARY, b"\xff\xfe\xc0")


def test_control_frames_interleaved_on_the_wire() -> None:
    key = b"\x01\x02\x03\x04"
    stream = b"".join(
        [
            fr.encode(OP_TEXT, "frag-1 ✓ ".encode(), fin=False, mask=key),
            fr.encode(fr.OP_PING, b"p1", mask=key),
            fr.encode(OP_CONT, b"frag-2 ", fin=False, mask=key),
            fr.encode(fr.OP_PONG, b"", mask=key),
            fr.encode(fr.OP_PING, b"p2", mask=key),
            fr.encode(OP_CONT, b"end", fin=True, mask=key),
            fr.encode(OP_BINARY, b"\x00", mask=key),
        ]
    )
    asm = fr.MessageAssembler()
    messages, controls = [], []
    pos = 0
    while pos < len(stream):
        res = fr.decode(memoryview(stream)[pos:], expect_masked=True)
        assert res is not None
        f, used = res
        pos += used
        if f.opcode >= 8:
            controls.append((f.opcode, f.payload))
            continue
        msg = asm.feed(f.opcode, f.payload, f.fin, f.rsv1)
        if msg is not None:
            messages.append(msg)
    assert messages == [(OP_TEXT, "frag-1 ✓ frag-2 end".encode()), (OP_BINARY, b"\x00")]
    assert controls == [(fr.OP_PING, b"p1"), (fr.OP_PONG, b""), (fr.OP_PING, b"p2")]


def test_size_limit() -> None:
    asm = fr.MessageAssembler(10)
    assert asm.feed(OP_BINARY, bytes(10)) == (OP_BINARY, bytes(10))
    assert fails(asm, OP_BINARY, bytes(11), True) == 1009
    assert asm.feed(OP_TEXT, b"12345", fin=False) is None
    assert asm.feed(OP_CONT, b"678", fin=False) is None
    assert fails(asm, OP_CONT, b"901", False) == 1009  # fails on the crossing fragment
    # After a failure the assembler starts clean.
    assert not asm.in_message
    assert asm.feed(OP_TEXT, b"0123456789") == (OP_TEXT, b"0123456789")
    assert fr.MessageAssembler(0).feed(OP_TEXT, b"") == (OP_TEXT, b"")
    with pytest.raises(ValueError):
        fr.MessageAssembler(-1)


def test_protocol_1002_sequences() -> None:
    asm = fr.MessageAssembler()
    assert fails(asm, OP_CONT, b"x", True) == 1002  # continuation without a start
    assert fails(asm, OP_CONT, b"x", False) == 1002
    for first in (OP_TEXT, OP_BINARY):
        for second in (OP_TEXT, OP_BINARY):
            asm.feed(first, b"a", fin=False)
            assert fails(asm, second, b"b", True) == 1002  # new message while open
            assert not asm.in_message
    assert fails(asm, OP_TEXT, b"x", True, True) == 1002  # RSV1 without an inflater
    asm2 = fr.MessageAssembler(inflater=fr.Inflater())
    asm2.feed(OP_BINARY, fr.Deflater().compress(b"abc")[:1], False, True)
    assert fails(asm2, OP_CONT, b"", True, True) == 1002  # RSV1 on a continuation
    asm3 = fr.MessageAssembler(inflater=fr.Inflater())
    asm3.feed(OP_BINARY, b"plain ", False, False)
    assert fails(asm3, OP_CONT, b"x", True, True) == 1002


def test_control_opcode_is_rejected() -> None:
    asm = fr.MessageAssembler()
    for op in (fr.OP_PING, fr.OP_CLOSE, 3):
        with pytest.raises(ValueError):
            asm.feed(op, b"")


def test_reset_discards_partial_message() -> None:
    asm = fr.MessageAssembler()
    asm.feed(OP_TEXT, b"partial \xe2", fin=False)
    asm.reset()
    assert not asm.in_message
    assert fails(asm, OP_CONT, b"x", True) == 1002
    assert asm.feed(OP_TEXT, b"fresh") == (OP_TEXT, b"fresh")


def test_large_fragmented_message_then_small() -> None:
    asm = fr.MessageAssembler(8 << 20)
    chunk = b"x" * (1 << 20)
    for _ in range(3):
        assert asm.feed(OP_BINARY if _ == 0 else OP_CONT, chunk, fin=False) is None
    res = asm.feed(OP_CONT, chunk, fin=True)
    assert res is not None and res[1] == chunk * 4
    assert asm.feed(OP_TEXT, b"a", fin=False) is None
    assert asm.feed(OP_CONT, b"b") == (OP_TEXT, b"ab")


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(max_size=200),
    cuts=st.lists(st.integers(min_value=0, max_value=800), max_size=6),
)
def test_any_fragmentation_reassembles(text: str, cuts: list[int]) -> None:
    data = text.encode()
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    asm = fr.MessageAssembler()
    for i, piece in enumerate(pieces):
        res = asm.feed(OP_TEXT if i == 0 else OP_CONT, piece, fin=i == len(pieces) - 1)
        assert (res is None) is (i < len(pieces) - 1)
    assert res == (OP_TEXT, data)
