"""The byte-level mutator the JSON fuzz harnesses share (fuzz_book, fuzz_decode, fuzz_scan).

Each harness passes its seeds and the bytes worth inserting for what it parses.
"""

from __future__ import annotations

import atheris


@atheris.instrument_func
def mutate(fdp: atheris.FuzzedDataProvider, seeds: list[bytes], alphabet: bytes) -> bytes:
    """A seed with up to six edits: replace, insert or delete one byte, or truncate."""
    buf = bytearray(seeds[fdp.ConsumeIntInRange(0, len(seeds) - 1)])
    for _ in range(fdp.ConsumeIntInRange(0, 6)):
        pos = fdp.ConsumeIntInRange(0, len(buf))
        op = fdp.ConsumeIntInRange(0, 3)
        byte = fdp.PickValueInList(list(alphabet))
        if op == 0:
            buf[pos : pos + 1] = bytes([byte])
        elif op == 1:
            buf.insert(pos, byte)
        elif op == 2:
            del buf[pos : pos + 1]
        else:
            del buf[pos:]
    return bytes(buf)
