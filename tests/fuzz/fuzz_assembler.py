"""atheris harness for zenws.fast.frame.MessageAssembler (incl. permessage-deflate).

Run:  python tests/fuzz/fuzz_assembler.py -max_total_time=60 [corpus_dir]

A sequence of data frames (opcode 0/1/2, fin, rsv1, payload: raw bytes, valid or
broken UTF-8, or chunks of a real raw-deflate stream) goes through the assembler
and, frame by frame, through a small reference model (RFC 6455 §5.4 fragmentation, §8.1 UTF-8,
size limit, RFC 7692 inflate with ``zlib``).  Checked per frame: the same
message comes out; the assembler fails where the model must (1002 sequence, 1007
UTF-8/inflate, 1009 size) with an allowed code, and fails early (fail-fast) only
where the data so far is already invalid or too big; no other exception, no crash,
no hang (inflate is bounded); after reset() it works again.
"""

from __future__ import annotations

import codecs
import sys
import zlib
from typing import Any

import atheris

with atheris.instrument_imports():
    from zenws.errors import ProtocolError
    from zenws.fast.frame import Inflater, MessageAssembler

TAIL = b"\x00\x00\xff\xff"  # RFC 7692 §7.2.2
Frames = list[tuple[int, bytes, bool, bool]]


@atheris.instrument_func
def utf8_prefix(data: bytes) -> bool:
    """True when some continuation can still make ``data`` valid UTF-8.

    Python's incremental decoder flags most dead prefixes (``E0 80``, ``F4 90``) but holds
    ``ED A0``..``ED BF`` (a surrogate's first two bytes) back as incomplete, so the
    held-back tail is completed here: only the second byte of a sequence is constrained,
    so padding the rest with ``80`` decides it.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(data, final=False)
    except UnicodeDecodeError:
        return False
    tail = decoder.getstate()[0]
    if len(tail) < 2:
        return True
    need = 3 if tail[0] < 0xF0 else 4
    try:
        (tail + b"\x80" * (need - len(tail))).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class Model:
    """Reference reassembly: returns delivered messages and the allowed error codes."""

    def __init__(self, max_size: int, deflate: bool) -> None:
        self.max_size, self.deflate = max_size, deflate
        self.z = zlib.decompressobj(-15)
        self.op, self.parts, self.compressed = 0, [], False
        self.may: set[int] = set()

    @atheris.instrument_func
    def inflate(self, data: bytes) -> tuple[bytes | None, set[int]]:
        try:
            out = self.z.decompress(data + TAIL, self.max_size + 1)
        except zlib.error:
            return None, {1007, 1002}
        if len(out) > self.max_size or self.z.unconsumed_tail:
            return None, {1009}
        if self.z.eof:  # a BFINAL block ended the stream: the next message starts a new one
            self.z = zlib.decompressobj(-15)
        return out, set()

    @atheris.instrument_func
    def step(self, opcode: int, payload: bytes, fin: bool, rsv1: bool) -> tuple[Any, set[int]]:
        """One frame: ``(message or None, must-fail codes)``; ``self.may`` holds the codes
        a fail-fast implementation may already raise on this frame."""
        self.may = set()
        if opcode == 0:
            if not self.op or rsv1:  # continuation without a start; RSV1 only on frame 1
                return None, {1002}
        else:
            if self.op or (rsv1 and not self.deflate):
                return None, {1002}
            self.op, self.parts, self.compressed = opcode, [], rsv1
        self.parts.append(payload)
        data = b"".join(self.parts)
        if len(data) > self.max_size:
            self.may.add(1009)
        if self.compressed:
            self.may |= {1002, 1007, 1009}
        elif self.op == 1 and not fin and not utf8_prefix(data):
            self.may.add(1007)
        if not fin:
            return None, set()
        if self.compressed:
            inflated, errs = self.inflate(data)
            if inflated is None:
                return None, errs | self.may
            data = inflated
        errs = set()
        if len(data) > self.max_size:
            errs.add(1009)
        if self.op == 1:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                errs.add(1007)
        if errs:
            return None, errs | self.may
        msg = (self.op, data)
        self.op = 0
        return msg, set()


@atheris.instrument_func
def make_frames(fdp: atheris.FuzzedDataProvider, deflate: bool) -> Frames:
    frames: Frames = []
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    texts = ["", "a", "é", "€uro", "\U0001f600", "x" * 200, '{"jsonrpc":"2.0","id":1}']
    for _ in range(fdp.ConsumeIntInRange(1, 8)):
        opcode = fdp.PickValueInList([0, 0, 1, 1, 2, 3])
        if opcode == 3:
            opcode = fdp.ConsumeIntInRange(0, 2)
        kind = fdp.ConsumeIntInRange(0, 3)
        if kind == 0:
            payload = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))
        elif kind == 1:
            payload = "".join(fdp.PickValueInList(texts) for _ in range(3)).encode()
            cut = fdp.ConsumeIntInRange(0, len(payload))
            payload = payload[:cut] if fdp.ConsumeBool() else payload
        elif kind == 2 and deflate:
            text = fdp.PickValueInList(texts).encode() * fdp.ConsumeIntInRange(0, 40)
            payload = comp.compress(text) + comp.flush(zlib.Z_SYNC_FLUSH)
            if payload.endswith(TAIL) and fdp.ConsumeBool():
                payload = payload[:-4]
        else:
            payload = bytes([fdp.ConsumeIntInRange(0x80, 0xFF)]) * fdp.ConsumeIntInRange(1, 4)
        frames.append((opcode, payload, fdp.ConsumeBool(), deflate and fdp.ConsumeBool()))
    return frames


@atheris.instrument_func
def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    deflate = fdp.ConsumeBool()
    max_size = fdp.PickValueInList([0, 1, 16, 200, 4096, 1 << 20])
    frames = make_frames(fdp, deflate)
    asm = MessageAssembler(max_size, inflater=Inflater() if deflate else None)
    model = Model(max_size, deflate)
    for opcode, payload, fin, rsv1 in frames:
        want, must = model.step(opcode, payload, fin, rsv1)
        try:
            got = asm.feed(opcode, payload, fin, rsv1)
        except ProtocolError as exc:
            allowed = must or model.may
            assert exc.close_code in allowed, (frames, exc.close_code, must, model.may)
            break
        assert not must, (frames, "no error", must)
        assert got == want, (frames, got, want)
    asm.reset()  # usable again after a failure
    assert asm.feed(2, b"") == (2, b"")


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
