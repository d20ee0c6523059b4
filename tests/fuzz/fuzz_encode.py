"""atheris harness for zenws' C JSON encoder (ext/zenws_jsonenc.c).

Run:  python tests/fuzz/fuzz_encode.py -max_total_time=30

Each input builds a Python value (nested dicts/lists/tuples of str with escapes,
control and astral characters, ints at the 64-bit edges, floats from raw bits,
bools, None, and now and then something the C encoder must refuse: an int past
64 bits, a non-finite float, a lone surrogate, a non-str key, a str subclass,
deep nesting).  Properties, under a string kernel picked by the input:

- ``_dumps_c(x)`` returns bytes exactly when x is plain data, and then
  ``loads(ours)`` equals x (tuples read back as lists, floats bit for bit) and
  the bytes equal ``orjson.dumps`` of x with its floats replaced;
- otherwise ``dumps(x)`` gives orjson's bytes or raises orjson's exception;
- ``encode_request(1, "m", x)`` for a dict/list x equals orjson's envelope
  (floats compared by value).
"""

from __future__ import annotations

import json
import math
import struct
import sys
from pathlib import Path
from typing import Any

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: jsonsame
from jsonsame import same, without_floats

with atheris.instrument_imports():
    import orjson

    from zenws.fast import jsonrpc

KERNELS: list[str] = []
for _k in ("swar", "sse2", "avx2"):
    try:
        jsonrpc._set_json_kernel(_k)
        KERNELS.append(_k)
    except ValueError:
        pass
jsonrpc._set_json_kernel("auto")

PIECES = ['"', "\\", "\n", "\x00", "\x1f", "/", "\x7f", "\u00e9", "\u2028", "\U0001f600", "x"]


class _Key(str):
    pass


@atheris.instrument_func
def plain(x: Any, depth: int = 1) -> bool:
    """True when the C encoder must take x (its documented subset)."""
    t = type(x)
    if x is None or t is bool or (t is str and not any(0xD800 <= ord(c) <= 0xDFFF for c in x)):
        return True
    if t is int:
        return -(2**63) <= x <= 2**64 - 1
    if t is float:
        return math.isfinite(x)
    if t in (list, tuple):
        return depth <= 250 and all(plain(v, depth + 1) for v in x)
    if t is dict:
        return depth <= 250 and all(
            type(k) is str and plain(k) and plain(v, depth + 1) for k, v in x.items()
        )
    return False


@atheris.instrument_func
def text(fdp: atheris.FuzzedDataProvider) -> str:
    parts = []
    for _ in range(fdp.ConsumeIntInRange(0, 6)):
        if fdp.ConsumeBool():
            parts.append(fdp.PickValueInList(PIECES) * fdp.ConsumeIntInRange(1, 90))
        else:
            parts.append(fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 40)))
    return "".join(parts)


@atheris.instrument_func
def value(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> Any:
    choice = fdp.ConsumeIntInRange(0, 12 if depth < 5 else 8)
    if choice == 0:
        return None
    if choice == 1:
        return fdp.ConsumeBool()
    if choice == 2:
        return fdp.ConsumeIntInRange(-(2**63), 2**64 - 1)
    if choice == 3:
        (f,) = struct.unpack("<d", fdp.ConsumeBytes(8).ljust(8, b"\0"))
        return f
    if choice == 4:
        return fdp.ConsumeRegularFloat()
    if choice in (5, 6):
        return text(fdp)
    if choice == 7:
        # Something the C encoder must refuse (rarely: most inputs stay plain).
        return fdp.PickValueInList(
            [2**64, -(2**63) - 1, math.inf, math.nan, "a\ud800b", _Key("k"), {1: 2}, (1, _Key())]
        )
    if choice == 8:
        return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 20))  # may hold surrogates
    if choice == 9:
        return [value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 5))]
    if choice == 10:
        return tuple(value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3)))
    if choice == 11:
        x: Any = value(fdp, depth + 1)
        for _ in range(fdp.ConsumeIntInRange(0, 260)):
            x = [x]
        return x
    return {text(fdp): value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 5))}


def orjson_result(x: Any) -> bytes | BaseException:
    try:
        return orjson.dumps(x)
    except Exception as exc:
        return exc


@atheris.instrument_func
def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    jsonrpc._set_json_kernel(KERNELS[fdp.ConsumeIntInRange(0, len(KERNELS) - 1)])
    x = value(fdp)
    ours = jsonrpc._dumps_c(x)
    ref = orjson_result(x)
    if plain(x):
        assert ours is not None, x
        assert same(x, jsonrpc.loads(ours), tuples_as_lists=True), (x, ours)
        assert isinstance(ref, bytes) and same(
            json.loads(ours), json.loads(ref), tuples_as_lists=True
        )
        assert jsonrpc._dumps_c(without_floats(x)) == orjson.dumps(without_floats(x))
    else:
        assert ours is None, (x, ours)
        try:
            got: bytes | BaseException = jsonrpc.dumps(x)
        except Exception as exc:
            got = exc
        if isinstance(ref, bytes):
            assert got == ref, (x, got, ref)
        else:
            assert type(got) is type(ref) and str(got) == str(ref), (x, got, ref)
    if type(x) in (dict, list, tuple) and isinstance(ref, bytes):
        # The envelope around orjson's params (orjson.dumps of the whole
        # request would refuse 2 nesting levels earlier than the params alone).
        req = jsonrpc.encode_request(1, "m", x)
        assert req.startswith(b'{"jsonrpc":"2.0","id":1,"method":"m","params":')
        assert req.endswith(b"}")
        assert same(json.loads(req[46:-1]), json.loads(ref), tuples_as_lists=True), (x, req)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
