"""atheris harness for zenws.fast.jsonrpc: scan, scan_strict, scan_id, encode_request.

Run:  python tests/fuzz/fuzz_scan.py -max_total_time=30 [corpus_dir]

Every input is checked against json.loads (the reference model is the one of
tests/unit/test_scan.py): no crash, ``scan_strict`` == json.loads on every input,
``scan`` == ``scan_strict`` whenever the latter accepts, lazy attributes decode,
``encode_request`` round-trips.  The first input byte picks a mode: raw bytes,
edits applied to a Deribit message, or a generated JSON-RPC object with random
whitespace and escapes.  The C code is not coverage-instrumented unless the
extension is built with clang (``CC=clang CFLAGS=-fsanitize=fuzzer-no-link``);
the modes keep the search useful without it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import atheris
from _mutate import mutate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: corpus
from corpus import deribit_messages

with atheris.instrument_imports():
    from zenws.fast import jsonrpc  # compiled: only its Python-visible glue

# The harness functions are instrumented (@atheris.instrument_func) so libFuzzer
# gets feedback from which modes, kinds and error paths each input reaches.

INVALID = (jsonrpc.KIND_INVALID, None, None, None, False, False)
SEEDS: list[bytes] = list(deribit_messages().values())
KEYS = ["id", "method", "params", "result", "error", "channel", "i\\u0064", "jsonrpc", "x"]


def _reject(name: str) -> Any:
    raise ValueError(name)


@atheris.instrument_func
def expected(obj: Any) -> tuple[Any, ...]:
    if not isinstance(obj, dict):
        return (jsonrpc.KIND_OTHER, None, None, None, False, False)
    rid = obj.get("id")
    if rid is not None and not (
        isinstance(rid, str) or (type(rid) is int and -(2**63) <= rid < 2**63)
    ):
        return INVALID
    method = obj.get("method") if isinstance(obj.get("method"), str) else None
    res, err = "result" in obj, "error" in obj
    if rid is not None and (res or err):
        kind = jsonrpc.KIND_RESPONSE
    elif method is not None:
        kind = jsonrpc.KIND_NOTIFICATION if rid is None else jsonrpc.KIND_REQUEST
    elif err:
        kind = jsonrpc.KIND_ERROR_NO_ID
    else:
        kind = jsonrpc.KIND_OTHER
    channel = None
    params = obj.get("params")
    if kind == jsonrpc.KIND_NOTIFICATION and isinstance(params, dict):
        ch = params.get("channel")
        channel = ch if isinstance(ch, str) else None
    return (kind, rid, method, channel, res, err)


def observed(r: jsonrpc.ScanResult) -> tuple[Any, ...]:
    return (r.kind, r.id, r.method, r.channel, r.has_result, r.has_error)


@atheris.instrument_func
def check(buf: bytes) -> None:
    fast, strict = observed(jsonrpc.scan(buf)), observed(jsonrpc.scan_strict(buf))
    if strict != INVALID:
        assert fast == strict, (buf, fast, strict)
    assert jsonrpc.scan_id(buf) == fast[1]
    try:
        text = buf.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return  # UTF-8 outside id/method/channel is the frame layer's check
    try:
        want = expected(json.loads(text, parse_constant=_reject))
    except (ValueError, RecursionError):
        assert strict == INVALID, (buf, strict)
        if len(buf) < jsonrpc.STRICT_BELOW:
            assert fast == INVALID, (buf, fast)
        return
    assert strict == want, (buf, strict, want)
    assert fast == want, (buf, fast, want)


#: bytes the mutator inserts (tests/fuzz/_mutate.py)
ALPHABET = b'"\\{}[],: \t\x00\x1f\x80\xffu0-.eEtfn'


@atheris.instrument_func
def generate(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> str:
    ws = " \t\r\n"[: fdp.ConsumeIntInRange(0, 4)] if fdp.ConsumeBool() else ""
    choice = fdp.ConsumeIntInRange(0, 7 if depth < 4 else 4)
    if choice == 0:
        return ws + json.dumps(fdp.ConsumeInt(9))
    if choice == 1:
        return json.dumps(fdp.ConsumeUnicode(12), ensure_ascii=fdp.ConsumeBool()) + ws
    if choice == 2:
        return fdp.PickValueInList(["null", "true", "false", "1.5e3", "-0", "0.25"])
    if choice == 3:
        return json.dumps(fdp.ConsumeUnicodeNoSurrogates(30))
    if choice == 4:
        return '"' + "x" * fdp.ConsumeIntInRange(0, 200) + '"'
    if choice == 5:
        return (
            "["
            + ",".join(generate(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3)))
            + "]"
        )
    members = []
    for _ in range(fdp.ConsumeIntInRange(0, 6)):
        key = (
            fdp.PickValueInList(KEYS)
            if fdp.ConsumeBool()
            else json.dumps(fdp.ConsumeUnicode(4))[1:-1]
        )
        members.append(f'{ws}"{key}"{ws}:{ws}{generate(fdp, depth + 1)}')
    return "{" + ",".join(members) + ws + "}"


@atheris.instrument_func
def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 3)
    if mode == 0:
        buf = fdp.ConsumeBytes(fdp.remaining_bytes())
    elif mode == 1:
        buf = mutate(fdp, SEEDS, ALPHABET)
    else:
        buf = generate(fdp).encode("utf-8", "surrogatepass")
    check(buf)
    if mode == 3 and fdp.remaining_bytes():
        method = fdp.ConsumeUnicodeNoSurrogates(40)
        raw = jsonrpc.encode_request(fdp.ConsumeIntInRange(-(2**63), 2**63 - 1), method)
        assert json.loads(raw)["method"] == method
        assert jsonrpc.scan(raw).method == method


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
