"""atheris harness for the RFC 6455 frame codec in zenws.fast.frame.

Run:  python tests/fuzz/fuzz_frame.py -max_total_time=60 [corpus_dir]

Properties checked on every input (raw bytes or a mutated valid frame):

- ``decode`` returns ``None`` (incomplete), ``(Frame, consumed)`` with
  ``0 < consumed <= len(buf)``, or raises ``ProtocolError`` with an RFC close code
  (1002/1007/1009); nothing else, no crash, no read past the buffer (ASan build);
- every strict prefix of a decoded frame is incomplete (``None``), never an error
  and never a different frame;
- ``encode`` of the decoded frame decodes back to the same frame;
- ``parse_close_payload`` accepts exactly what RFC 6455 §5.5.1/§7.4 allows and
  ``utf8_valid`` agrees with Python's UTF-8 decoder.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from zenws.errors import ProtocolError
    from zenws.fast import frame as F

CODES = {1002, 1007, 1009}
# RFC 6455 §7.4 plus the IANA-registered 1012-1014 (service restart, try again, bad gateway)
VALID_CLOSE = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}


def _same(a: F.Frame, b: F.Frame) -> bool:
    return (a.opcode, a.fin, a.rsv1, a.rsv2, a.rsv3, a.payload) == (
        b.opcode,
        b.fin,
        b.rsv1,
        b.rsv2,
        b.rsv3,
        b.payload,
    )


@atheris.instrument_func
def _decode(buf: bytes, max_size: int | None, allow_rsv1: bool, masked: bool | None) -> object:
    try:
        return F.decode(buf, max_size=max_size, allow_rsv1=allow_rsv1, expect_masked=masked)
    except ProtocolError as exc:
        assert exc.close_code in CODES, (exc.close_code, buf[:32])
        return exc


@atheris.instrument_func
def _build(fdp: atheris.FuzzedDataProvider) -> bytes:
    """A valid frame (strict=False: any opcode/bits) with fuzzed fields, maybe mangled."""
    opcode = fdp.ConsumeIntInRange(0, 15)
    n = fdp.PickValueInList([0, 1, 125, 126, 127, 200, 65535, 65536, 70000])
    n = min(n, fdp.ConsumeIntInRange(0, 70000))
    payload = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 300)) * (n // 300 + 1)
    mask = fdp.PickValueInList([None, True, b"\x00\x00\x00\x00", b"\xff\x01\x80\x7f"])
    buf = bytearray(
        F.encode(
            opcode,
            payload[:n],
            fin=fdp.ConsumeBool(),
            rsv1=fdp.ConsumeBool(),
            rsv2=fdp.ConsumeBool(),
            rsv3=fdp.ConsumeBool(),
            mask=mask,
            strict=False,
        )
    )
    for _ in range(fdp.ConsumeIntInRange(0, 3)):  # flip header bytes
        if buf:
            i = fdp.ConsumeIntInRange(0, min(len(buf) - 1, 13))
            buf[i] = fdp.ConsumeIntInRange(0, 255)
    return bytes(buf) + fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 16))


@atheris.instrument_func
def check_decode(buf: bytes, max_size: int | None, allow_rsv1: bool, masked: bool | None) -> None:
    got = _decode(buf, max_size, allow_rsv1, masked)
    if got is None or isinstance(got, ProtocolError):
        return
    fr, consumed = got  # type: ignore[misc]
    assert 0 < consumed <= len(buf), (consumed, len(buf))
    assert len(fr.payload) <= consumed
    if max_size is not None and fr.opcode < 8:
        assert len(fr.payload) <= max_size
    assert _decode(buf[:consumed] + b"\x00" * 3, max_size, allow_rsv1, masked) is not None
    for cut in {0, 1, 2, consumed // 2, consumed - 1}:
        if 0 <= cut < consumed:
            assert _decode(buf[:cut], max_size, allow_rsv1, masked) is None, (cut, consumed)
    again = F.encode(
        fr.opcode,
        fr.payload,
        fin=fr.fin,
        rsv1=fr.rsv1,
        rsv2=fr.rsv2,
        rsv3=fr.rsv3,
        mask=True if fr.masked else None,
        strict=False,
    )
    back = _decode(again, max_size, allow_rsv1, masked)
    assert isinstance(back, tuple) and _same(back[0], fr) and back[1] == len(again)


@atheris.instrument_func
def check_close(payload: bytes) -> None:
    try:
        code, reason = F.parse_close_payload(payload)
    except ProtocolError as exc:
        assert exc.close_code in (1002, 1007)
        if len(payload) >= 2:
            c = int.from_bytes(payload[:2], "big")
            try:
                payload[2:].decode("utf-8")
                ok_text = True
            except UnicodeDecodeError:
                ok_text = False
            assert (
                len(payload) > 125 or not ok_text or not (c in VALID_CLOSE or 3000 <= c <= 4999)
            ), payload
        return
    if not payload:
        assert code is None and reason == ""
        return
    assert len(payload) >= 2 and code == int.from_bytes(payload[:2], "big")
    assert code in VALID_CLOSE or 3000 <= code <= 4999
    assert reason == payload[2:].decode("utf-8")
    assert F.parse_close_payload(F.encode_close_payload(code, reason)) == (code, reason)


@atheris.instrument_func
def check_utf8(data: bytes) -> None:
    try:
        data.decode("utf-8")
        ok = True
    except UnicodeDecodeError:
        ok = False
    assert F.utf8_valid(data) is ok, data[:64]


@atheris.instrument_func
def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 3)
    max_size = fdp.PickValueInList([None, 0, 1, 125, 126, 65536])
    allow_rsv1 = fdp.ConsumeBool()
    masked = fdp.PickValueInList([None, True, False])
    if mode == 0:
        check_decode(fdp.ConsumeBytes(fdp.remaining_bytes()), max_size, allow_rsv1, masked)
    elif mode == 1:
        check_decode(_build(fdp), max_size, allow_rsv1, masked)
    elif mode == 2:
        check_close(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 130)))
    else:
        check_utf8(fdp.ConsumeBytes(fdp.remaining_bytes()))


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
