"""The server's TCP stream ends in the middle of a frame (FIN or RST).

For every cut: the pending request fails at once with ``ConnectionLost`` (no deadline is
waited for), complete messages before the cut are delivered, the client never puts a close
code on the wire that it may not send (1006 is local only: RFC 6455 §7.4.1), a close code
the server did send is visible, and the client reconnects when told to (or a fresh
connection works).
"""

from __future__ import annotations

import struct

import pytest
from _hostile import PROMPT, Outcome, hostile_session

from rawws import frame
from zenws.errors import ConnectionLost

TEXT = frame(1, "x" * 100)  # 2-byte header + 100 bytes
MEDIUM = frame(2, b"m" * 300)  # 4-byte header (16-bit length)
LARGE = frame(2, b"L" * 70_000)  # 10-byte header (64-bit length)

CUTS = {
    "first_header_byte": TEXT[:1],
    "after_header": TEXT[:2],
    "mid_payload": TEXT[:50],
    "last_payload_byte_missing": TEXT[:-1],
    "mid_16_bit_length": MEDIUM[:3],
    "after_16_bit_header": MEDIUM[:4],
    "mid_64_bit_length": LARGE[:5],
    "mid_large_payload": LARGE[:40_000],
    "mid_fragmented_message": frame(1, "first", fin=False) + frame(0, "sec", fin=False)[:4],
    "mid_close_code": frame(8, struct.pack(">H", 1001) + b"bye")[:3],
    "mid_close_reason": frame(8, struct.pack(">H", 1001) + b"bye")[:5],
}


def check_lost(out: Outcome) -> None:
    assert isinstance(out.error, ConnectionLost), out.error
    assert out.error.epoch == 1
    assert out.failed_after < PROMPT, out.failed_after  # at once, not at the 30 s deadline
    assert out.error.code is None and out.metrics.close_code is None  # no close frame came
    assert out.healthy_reply == [2]


@pytest.mark.parametrize("then", ["close", "reset"])
@pytest.mark.parametrize("cut", list(CUTS))
async def test_cut_fails_pending_at_once(cut: str, then: str) -> None:
    out = await hostile_session(CUTS[cut], then=then)
    check_lost(out)
    assert out.delivered == []
    assert out.connections == 2


@pytest.mark.parametrize("cut", ["after_header", "mid_payload", "mid_64_bit_length"])
async def test_half_closed_mid_frame_the_client_sends_no_invalid_close(cut: str) -> None:
    out = await hostile_session(CUTS[cut], then="eof")
    check_lost(out)
    assert out.wire_codes == []  # nothing to echo; never 1006 on the wire
    assert out.client_closed_after is not None and out.client_closed_after < PROMPT
    assert all(f.opcode != 8 for f in out.frames)


@pytest.mark.parametrize("then", ["close", "reset"])
async def test_messages_before_the_cut_are_delivered(then: str) -> None:
    wire = frame(1, '{"n": 1}') + frame(2, b"\x01\x02") + LARGE[:100]
    out = await hostile_session(wire, then=then)
    check_lost(out)
    assert out.delivered == [b'{"n": 1}', b"\x01\x02"]


@pytest.mark.parametrize("then", ["close", "reset"])
@pytest.mark.parametrize("cut", ["after_header", "mid_payload", "mid_large_payload"])
async def test_cut_then_the_client_reconnects(cut: str, then: str) -> None:
    out = await hostile_session(CUTS[cut], then=then, reconnect=True)
    check_lost(out)
    assert out.metrics.reconnects == 1 and out.metrics.epoch == 2


@pytest.mark.parametrize("then", ["close", "reset", "eof"])
async def test_a_close_frame_right_before_the_cut_is_visible(then: str) -> None:
    out = await hostile_session(frame(8, struct.pack(">H", 1001) + b"going away"), then=then)
    assert isinstance(out.error, ConnectionLost) and out.failed_after < PROMPT
    assert (out.error.code, out.error.reason) == (1001, "going away")
    assert (out.metrics.close_code, out.metrics.close_reason) == (1001, "going away")
    assert out.wire_codes == ([1001] if then == "eof" else [])  # echoed while it can write
    assert out.healthy_reply == [2]
