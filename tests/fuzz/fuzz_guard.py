"""atheris differential harness: the read guard vs the frame codec.

Run:  python tests/fuzz/fuzz_guard.py -max_total_time=60 [corpus_dir]

A byte stream from a server (random bytes, or a sequence of frames built from the
input and then mutated) is split at random points and fed to a detached
``zenws.fast.guard.ReadGuard`` (the parser in front of picows), chunk by chunk.
The same stream goes through a reference made of ``zenws.fast.frame.decode`` (the
codec's header parser, one frame at a time) plus the message rules of RFC 6455
§5.4/§5.5/§8.1 written out below.  Both must reach the same verdict:

- the complete frames the guard lets through (decoded from the forwarded bytes)
  equal the frames the reference accepts, in order;
- the guard's verdict is the reference's: every byte valid (0), a valid CLOSE
  (1, the stream ends there) or the same close code (1002 / 1007 / 1009).
"""

from __future__ import annotations

import itertools
import sys

import atheris

with atheris.instrument_imports():
    from zenws.errors import ProtocolError
    from zenws.fast import frame as F
    from zenws.fast import guard as G

OK, CLOSED = 0, 1


def _utf8_verdict(data: bytes, final: bool) -> bool:
    """True when ``data`` (a text message so far) is not yet invalid UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return not final and exc.reason == "unexpected end of data"
    return True


class Reference:
    """Frame-by-frame verdicts: ``zenws.fast.frame.decode`` + the message rules."""

    def __init__(self, max_frame: int, max_msg: int, deflate: bool) -> None:
        self.max_frame = max_frame
        self.max_msg = max_msg
        self.deflate = deflate

    def _state_error(self, b0: int) -> bool:
        # the rules decode() cannot know (it sees one frame): RFC 6455 §5.4, RFC 7692 §6.1
        op, rsv1 = b0 & 0x0F, bool(b0 & 0x40)
        if op >= 8:
            return rsv1 and op <= 10
        if op == 0:
            return self.msg_op is None or rsv1
        if op <= 2:
            return self.msg_op is not None
        return False

    def run(self, stream: bytes) -> tuple[list[F.Frame], int]:
        self.msg_op: int | None = None
        self.msg_len = 0
        self.msg_comp = False
        self.text = b""
        frames: list[F.Frame] = []
        pos = 0
        limit = None if self.max_frame < 0 else self.max_frame
        while True:
            rest = stream[pos:]
            try:
                got = F.decode(rest, max_size=limit, allow_rsv1=self.deflate, expect_masked=False)
            except ProtocolError as exc:
                # the guard checks the message state before the lengths
                code = 1002 if self._state_error(rest[0]) else exc.close_code
                return frames, code
            if len(rest) >= 2 and self._state_error(rest[0]):
                return frames, 1002
            if got is None:
                return frames, self._incomplete(rest)
            frame, used = got
            if frame.opcode <= 2:
                code = self._data(frame.opcode, frame.rsv1, len(frame.payload))
                if code:
                    return frames, code
                if self.checks_text() and not _utf8_verdict(self.text + frame.payload, frame.fin):
                    return frames, 1007
                self.text += frame.payload if self.checks_text() else b""
                if frame.fin:
                    self.msg_op = None
            frames.append(frame)
            pos += used
            if frame.opcode == F.OP_CLOSE:
                return frames, CLOSED

    def checks_text(self) -> bool:
        return self.msg_op == 1 and not self.msg_comp

    def _data(self, op: int, rsv1: bool, length: int) -> int:
        total = length if op != 0 else self.msg_len + length
        compressed = rsv1 if op != 0 else self.msg_comp
        if self.max_msg >= 0 and not compressed and total > self.max_msg:
            return 1009
        self.msg_len = total
        if op != 0:
            self.msg_op, self.msg_comp, self.text = op, rsv1, b""
        return 0

    def _incomplete(self, rest: bytes) -> int:
        # a frame still arriving: the guard judges its header once it is whole and
        # its text payload byte by byte (RFC 6455 §8.1 fail-fast)
        if len(rest) < 2:
            return OK
        op, n = rest[0] & 0x0F, rest[1] & 0x7F
        hl = {126: 4, 127: 10}.get(n, 2)
        if op >= 8 or len(rest) < hl:
            return OK
        if n == 126:
            n = int.from_bytes(rest[2:4], "big")
        elif n == 127:
            n = int.from_bytes(rest[2:10], "big")
        code = self._data(op, bool(rest[0] & 0x40), n)
        if code:
            return code
        if self.checks_text() and not _utf8_verdict(self.text + rest[hl:], False):
            return 1007
        return OK


def _frames(data: bytes) -> list[F.Frame]:
    # the complete frames of what the guard forwarded (a violating frame is never whole)
    out = []
    while True:
        try:
            got = F.decode(data, allow_rsv1=True, expect_masked=False)
        except ProtocolError:
            return out
        if got is None:
            return out
        out.append(got[0])
        data = data[got[1] :]


def _build(fdp: atheris.FuzzedDataProvider) -> bytes:
    # mostly valid frames (so the message rules are reached), then a few mutations
    out = bytearray()
    for _ in range(fdp.ConsumeIntInRange(0, 8)):
        op = fdp.PickValueInList([0, 1, 2, 8, 9, 10, 1, 0, 3, 11])
        size = fdp.PickValueInList([0, 1, 5, 125, 126, 300, 65535, 65536])
        size = min(size, fdp.ConsumeIntInRange(0, size))
        if op == 1 or (op == 0 and fdp.ConsumeBool()):
            payload = fdp.ConsumeUnicode(size).encode("utf-8", "surrogatepass")
        else:
            payload = fdp.ConsumeBytes(size)
        if op == 8 and payload:
            payload = fdp.ConsumeIntInRange(990, 5000).to_bytes(2, "big") + payload[:100]
        out += F.encode(
            op,
            payload,
            fin=fdp.ConsumeIntInRange(0, 3) != 0,
            rsv1=fdp.ConsumeIntInRange(0, 7) == 0,
            mask=False,
            strict=False,
        )
    for _ in range(fdp.ConsumeIntInRange(0, 3)):
        if out:
            out[fdp.ConsumeIntInRange(0, len(out) - 1)] = fdp.ConsumeIntInRange(0, 255)
    return bytes(out)


@atheris.instrument_func
def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    max_frame = fdp.PickValueInList([-1, 125, 300, 70000])
    max_msg = fdp.PickValueInList([-1, 0, 200, 70000])
    deflate = fdp.ConsumeBool()
    splits = [fdp.ConsumeIntInRange(0, 1 << 20) for _ in range(fdp.ConsumeIntInRange(0, 6))]
    stream = fdp.ConsumeBytes(fdp.remaining_bytes()) if fdp.ConsumeBool() else _build(fdp)

    frames, verdict = Reference(max_frame, max_msg, deflate).run(stream)

    guard = G.detached(max_frame, max_msg, deflate)
    bounds = [0, *sorted(s % (len(stream) + 1) for s in splits), len(stream)]
    forwarded = b""
    got = OK
    for a, b in itertools.pairwise(bounds):
        if b <= a:
            continue
        rc, cut = guard.walk(stream[a:b])
        forwarded += stream[a : a + cut]
        if rc != OK:
            got = rc
            break
    assert got == verdict, (got, verdict, stream[:64].hex(), bounds)
    mine = _frames(forwarded)
    assert [(f.opcode, f.fin, f.rsv1, f.payload) for f in mine] == [
        (f.opcode, f.fin, f.rsv1, f.payload) for f in frames
    ], (stream[:64].hex(), bounds)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
