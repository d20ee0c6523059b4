"""Frames no server may send: the close code the client puts on the wire, what the user sees.

RFC 6455 §5.2 (reserved bits, opcodes, masking, lengths), §5.5 (control frames), §7.4
(close codes).  For each violation the client must: send CLOSE with the RFC code (read back
with a raw server), end TCP at once even though the server never answers the CLOSE, fail
the pending request at once with ``ConnectionLost``, report a ``protocol.error`` event and
``metrics().last_error`` with that code, and stay healthy (a following connection serves a
request).

What the user sees as ``ConnectionLost.code`` / ``metrics().close_code`` after a violation
is not asserted here (today both are ``None``: the peer sent no close code).
"""

from __future__ import annotations

import struct

import pytest
from _hostile import CLOSE_TIMEOUT, PROMPT, Outcome, hostile_session

from rawws import frame
from zenws.errors import ConnectionLost


def header64(opcode: int, length: int) -> bytes:
    """A FIN frame header with a 64-bit length field (no payload)."""
    return bytes([0x80 | opcode, 127]) + struct.pack(">Q", length)


def close(payload: bytes) -> bytes:
    return frame(8, payload)


VIOLATIONS = {
    # §5.1: a server must not mask.
    "masked_text": (frame(1, "hi", mask=True), 1002),
    "masked_ping": (frame(9, b"p", mask=True), 1002),
    # §5.2: RSV bits without a negotiated extension.
    "rsv1_without_deflate": (frame(1, "hi", rsv1=True), 1002),
    "rsv2": (frame(1, "hi", rsv2=True), 1002),
    "rsv3": (frame(2, b"hi", rsv3=True), 1002),
    "rsv2_on_ping": (frame(9, b"", rsv2=True), 1002),
    # §5.2: reserved opcodes.
    **{f"opcode_{op}": (frame(op, b"x"), 1002) for op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15)},
    # §5.2: "the most significant bit MUST be 0".
    "length_2_63": (header64(2, 1 << 63), 1002),
    "length_2_64_minus_1": (header64(2, (1 << 64) - 1), 1002),
    "length_2_63_plus_5": (header64(1, (1 << 63) + 5), 1002),
    # A valid but absurd length: over max_message_size, failed on the header alone.
    "length_2_62": (header64(2, 1 << 62), 1009),
    "length_just_over_the_limit": (header64(2, (1 << 20) + 1024 + 17), 1009),
    # §5.2: "the minimal number of bytes MUST be used to encode the length".
    "non_minimal_16_bit": (bytes([0x81, 126, 0, 5]) + b"hello", 1002),
    "non_minimal_64_bit": (header64(1, 5) + b"hello", 1002),
    "non_minimal_64_bit_under_65536": (header64(2, 65535) + b"\0" * 65535, 1002),
    # §5.5: control frames <= 125 bytes, never fragmented.
    "ping_126_bytes": (frame(9, b"a" * 126), 1002),
    "pong_126_bytes": (frame(10, b"a" * 126), 1002),
    "close_126_bytes": (close(b"\x03\xe8" + b"a" * 124), 1002),
    "fragmented_ping": (frame(9, b"a", fin=False), 1002),
    "fragmented_close": (frame(8, b"\x03\xe8", fin=False), 1002),
    # §7.4: close codes that may not appear on the wire.
    **{
        f"close_code_{code}": (close(struct.pack(">H", code)), 1002)
        for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535)
    },
    # §5.5.1: a close body is empty or holds a 2-byte code.
    "close_with_1_byte_body": (close(b"\x03"), 1002),
    # §5.5.1 / §8.1: the reason is UTF-8.
    "close_reason_invalid_utf8": (close(b"\x03\xe8\xff\xfe"), 1007),
    "close_reason_truncated_utf8": (close(b"\x03\xe8ok \xe2\x82"), 1007),
    # §5.4: fragmentation sequence.
    "continuation_without_start": (frame(0, "x"), 1002),
    "text_inside_open_message": (frame(1, "a", fin=False) + frame(1, "b"), 1002),
    # §8.1: text is UTF-8.
    "invalid_utf8_text": (frame(1, b"ok \xff"), 1007),
}


def check(out: Outcome, code: int) -> None:
    assert out.wire_codes == [code], out.frames
    assert isinstance(out.error, ConnectionLost) and out.error.epoch == 1, out.error
    assert out.failed_after < PROMPT  # at once, not at the request's 30 s deadline
    # The server never answers the CLOSE: the client ends TCP itself after close_timeout.
    assert out.client_closed_after is not None
    assert out.client_closed_after < CLOSE_TIMEOUT + PROMPT
    assert [m["code"] for name, m, _ in out.protocol_events if name == "protocol.error"] == [code]
    assert out.metrics.errors >= 1
    assert str(code) in out.metrics.last_error
    assert out.healthy_reply == [2]


@pytest.mark.parametrize("name", list(VIOLATIONS))
async def test_violation_is_closed_with_the_rfc_code(name: str) -> None:
    wire, code = VIOLATIONS[name]
    out = await hostile_session(wire, max_message_size=1 << 20)
    check(out, code)
    assert out.delivered == []
    assert out.connections == 2  # the hostile one, then the fresh client's


@pytest.mark.parametrize("name", ["opcode_5", "length_2_63", "close_code_1005", "masked_text"])
async def test_violation_then_the_client_reconnects(name: str) -> None:
    wire, code = VIOLATIONS[name]
    out = await hostile_session(wire, reconnect=True)
    check(out, code)
    assert out.metrics.reconnects == 1 and out.metrics.epoch == 2


async def test_huge_declared_lengths_allocate_nothing() -> None:
    growth = 0
    for name in ("length_2_62", "length_2_63", "length_2_64_minus_1", "length_2_63_plus_5"):
        wire, code = VIOLATIONS[name]
        out = await hostile_session(wire)  # default max_message_size (16 MiB)
        assert out.wire_codes == [code]
        growth = max(growth, out.rss_growth_kib)
    assert growth < 64 * 1024, f"peak RSS grew by {growth} KiB"


async def test_messages_before_the_violation_are_delivered_first() -> None:
    wire = frame(1, '{"n": 1}') + frame(2, b"\x00\x01") + frame(1, "x", rsv3=True)
    out = await hostile_session(wire)
    check(out, 1002)
    assert out.delivered == [b'{"n": 1}', b"\x00\x01"]
