"""atheris harness for zenws.fast.jsonrpc.loads (ext/zenws_json.c).

Run:  python tests/fuzz/fuzz_decode.py -max_total_time=30 [corpus_dir]

Every input is checked against json.loads (the reference model of
tests/unit/test_decode.py): no crash; ``loads`` accepts exactly the documents
that are UTF-8, accepted by json.loads and free of the documented differences
(NaN/Infinity, lone surrogates, a byte order mark, numbers that round to
infinity), and then returns the same value (types, dict order, float bits).
Inputs are also fed through a memoryview slice of a larger buffer, so a read
past the end would change the result.  The first input byte picks a mode: raw
bytes, edits applied to a Deribit message, or a generated JSON value with
random whitespace, escapes and numbers.  The C code is not coverage-instrumented
unless the extension is built with clang (``CC=clang
CFLAGS=-fsanitize=fuzzer-no-link``); the modes keep the search useful without it.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import atheris
from _mutate import mutate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: corpus, jsonsame
from corpus import deribit_messages
from jsonsame import same

with atheris.instrument_imports():
    from zenws.fast import jsonrpc  # compiled: only its Python-visible glue

SEEDS: list[bytes] = list(deribit_messages().values())
NUMBERS = [
    "0",
    "-0",
    "1.5",
    "-0.0",
    "1e400",
    "1e-400",
    "123456789012345678901",
    "0.1e1",
    "9007199254740993",
    "2.2250738585072011e-308",
    "1E+2",
    "01",
    "1.",
    "-",
    ".5",
]


def _odd(value: Any) -> bool:
    """A lone surrogate or an infinity: json.loads accepts it, loads does not."""
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, float):
        return math.isinf(value)
    if isinstance(value, dict):
        return any(_odd(k) or _odd(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_odd(v) for v in value)
    return False


def _reject(name: str) -> Any:
    raise ValueError(name)


class _Odd(Exception):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Sees every member, also those a later duplicate key hides from the result.
    if any(_odd(k) or _odd(v) for k, v in pairs):
        raise _Odd
    return dict(pairs)


@atheris.instrument_func
def check(buf: bytes) -> None:
    try:
        text = buf.decode("utf-8")
        want = json.loads(text, parse_constant=_reject, object_pairs_hook=_pairs)
        ok = not _odd(want) and not text.startswith("\ufeff")
    except (ValueError, RecursionError, _Odd):
        ok = False
    # Surround the input so a read past its end would be noticed.
    view = memoryview(b'"1' + buf + b'"}]9')[2 : 2 + len(buf)]
    for arg in (buf, view):
        try:
            got = jsonrpc.loads(arg)
        except json.JSONDecodeError as exc:
            assert not ok, (buf, exc)
            assert 0 <= exc.pos <= len(buf), (buf, exc.pos)
            continue
        except ValueError as exc:  # only the int digit limit, like json.loads
            assert "digits" in str(exc) and not ok, (buf, exc)
            continue
        assert ok, (buf, got)
        assert same(got, want), (buf, got, want)


#: bytes the mutator inserts (tests/fuzz/_mutate.py)
ALPHABET = b'"\\{}[],: \t\x00\x1f\x80\xc3\xed\xffu0-.eEtfn'


@atheris.instrument_func
def generate(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> str:
    ws = " \t\r\n"[: fdp.ConsumeIntInRange(0, 4)] if fdp.ConsumeBool() else ""
    choice = fdp.ConsumeIntInRange(0, 8 if depth < 6 else 5)
    if choice == 0:
        return ws + json.dumps(fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 24)))
    if choice == 1:
        return json.dumps(fdp.ConsumeUnicode(12), ensure_ascii=fdp.ConsumeBool()) + ws
    if choice == 2:
        return fdp.PickValueInList([*NUMBERS, "null", "true", "false", "NaN", '"\\ud800"'])
    if choice == 3:
        return repr(fdp.ConsumeRegularFloat())
    if choice == 4:
        return (
            '"'
            + "x" * fdp.ConsumeIntInRange(0, 80)
            + fdp.PickValueInList(["", "\\n", "é", "\\u00e9", "\\ud83d\\ude00", "\x01"])
            + '"'
        )
    if choice == 5:
        return json.dumps(fdp.ConsumeUnicodeNoSurrogates(30), ensure_ascii=fdp.ConsumeBool())
    if choice == 6:
        items = ",".join(generate(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4)))
        return "[" + ws + items + "]"
    members = []
    for _ in range(fdp.ConsumeIntInRange(0, 5)):
        key = json.dumps(fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 20)))
        members.append(f"{ws}{key}{ws}:{ws}{generate(fdp, depth + 1)}")
    return "{" + ",".join(members) + ws + "}"


@atheris.instrument_func
def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 2)
    if mode == 0:
        buf = fdp.ConsumeBytes(fdp.remaining_bytes())
    elif mode == 1:
        buf = mutate(fdp, SEEDS, ALPHABET)
    else:
        buf = generate(fdp).encode("utf-8", "surrogatepass")
    check(buf)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
