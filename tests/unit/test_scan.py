"""zenws.fast.jsonrpc.scan / scan_strict / scan_id against json.loads.

The reference model (``expected``) is computed from ``json.loads`` of the same
bytes, so every comparison is against an independent parser.
"""

from __future__ import annotations

import inspect
import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import zenws
from corpus import deribit_lines
from zenws.fast import jsonrpc
from zenws.fast.jsonrpc import (
    KIND_ERROR_NO_ID,
    KIND_INVALID,
    KIND_NOTIFICATION,
    KIND_OTHER,
    KIND_REQUEST,
    KIND_RESPONSE,
    scan,
    scan_id,
    scan_strict,
)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
Result = tuple[int, Any, Any, Any, bool, bool]
INVALID: Result = (KIND_INVALID, None, None, None, False, False)


def expected(obj: Any) -> Result:
    """What scan must report for a document that json.loads parsed to ``obj``."""
    if not isinstance(obj, dict):
        return (KIND_OTHER, None, None, None, False, False)
    rid = obj.get("id")
    if rid is not None and not (
        isinstance(rid, str) or (type(rid) is int and INT64_MIN <= rid <= INT64_MAX)
    ):
        return INVALID
    method = obj.get("method")
    if not isinstance(method, str):
        method = None
    has_result, has_error = "result" in obj, "error" in obj
    if rid is not None and (has_result or has_error):
        kind = KIND_RESPONSE
    elif method is not None and rid is None:
        kind = KIND_NOTIFICATION
    elif method is not None:
        kind = KIND_REQUEST
    elif has_error:
        kind = KIND_ERROR_NO_ID
    else:
        kind = KIND_OTHER
    channel = None
    params = obj.get("params")
    if kind == KIND_NOTIFICATION and isinstance(params, dict):
        ch = params.get("channel")
        channel = ch if isinstance(ch, str) else None
    return (kind, rid, method, channel, has_result, has_error)


def observed(buf: bytes, strict: bool = False) -> Result:
    r = scan_strict(buf) if strict else scan(buf)
    return (r.kind, r.id, r.method, r.channel, r.has_result, r.has_error)


def reference(buf: bytes) -> Result | None:
    """expected() of json.loads(buf), or None when json.loads rejects it."""
    try:
        text = buf.decode("utf-8", "surrogatepass")  # what json.loads(bytes) does
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None
    return expected(obj)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 §6)")


def check(buf: bytes) -> None:
    """scan and scan_strict agree with json.loads on valid input."""
    want = reference(buf)
    assert want is not None, buf
    assert observed(buf, strict=True) == want, buf
    assert observed(buf) == want, buf
    assert scan_id(buf) == want[1]


# --------------------------------------------------------------- guard


def test_extension_is_compiled() -> None:
    assert jsonrpc.__file__ is not None
    assert jsonrpc.__file__.endswith((".so", ".pyd")), jsonrpc.__file__
    assert type(scan).__name__ == "builtin_function_or_method"


# --------------------------------------------------------------- Deribit shapes


def _deribit() -> list[tuple[str, Any]]:
    """One message of each Deribit shape: the corpus in tests/data/deribit/."""
    return [(d["name"], d["msg"]) for d in map(json.loads, deribit_lines())]


DERIBIT = _deribit()


@pytest.mark.parametrize(("name", "msg"), DERIBIT, ids=[n for n, _ in DERIBIT])
@pytest.mark.parametrize(
    "dumps",
    [
        lambda m: json.dumps(m, separators=(",", ":")),
        lambda m: json.dumps(m),
        lambda m: json.dumps(m, indent=2),
        lambda m: " \r\n\t" + json.dumps(m, indent="\t") + "\n\t \r",
    ],
    ids=["compact", "spaced", "indent", "tabs"],
)
def test_deribit_messages(name: str, msg: Any, dumps: Any) -> None:
    buf = dumps(msg).encode()
    check(buf)
    r = scan(buf)
    # The shapes named in the Deribit reference keep their kinds.
    if name.startswith(("response", "subscribe_response", "auth_response", "error_")) and (
        name != "error_no_id"
    ):
        assert r.kind == KIND_RESPONSE
    if name == "error_no_id":
        assert r.kind == KIND_ERROR_NO_ID
    if name.startswith(("notification", "heartbeat")) and name != "heartbeat_reply":
        assert r.kind == KIND_NOTIFICATION
    if name.startswith("notification"):
        assert r.channel == msg["params"]["channel"]


def test_deribit_byte_exact_offsets() -> None:
    for _, msg in DERIBIT:
        buf = json.dumps(msg, separators=(",", ":")).encode()
        r = scan(buf)
        if isinstance(r.id, int):
            assert buf.count(b'"id":%d' % r.id) == 1
        if r.method is not None:
            assert b'"method":"%s"' % r.method.encode() in buf
        if r.channel is not None:
            assert b'"channel":"%s"' % r.channel.encode() in buf


@pytest.mark.parametrize(("name", "msg"), DERIBIT, ids=[n for n, _ in DERIBIT])
def test_every_prefix_is_invalid(name: str, msg: Any) -> None:
    for dumps in (lambda m: json.dumps(m, separators=(",", ":")), json.dumps):
        buf = dumps(msg).encode()
        for n in range(len(buf)):
            for strict in (False, True):
                r = scan_strict(buf[:n]) if strict else scan(buf[:n])
                assert r.kind == KIND_INVALID, (n, buf[:n])
                assert r.id is None and r.method is None and r.channel is None
            assert scan_id(buf[:n]) is None


# --------------------------------------------------------------- edge cases

CASES: list[tuple[bytes, Result]] = [
    (b'{"id":1,"result":null}', (KIND_RESPONSE, 1, None, None, True, False)),
    (b'{"id":"a\\\\\\"b","result":1}', (KIND_RESPONSE, 'a\\"b', None, None, True, False)),
    (b'{"i\\u0064":5,"error":{}}', (KIND_RESPONSE, 5, None, None, False, True)),
    (b'{"\\u0069\\u0064":5,"r\\u0065sult":0}', (KIND_RESPONSE, 5, None, None, True, False)),
    (b'{"id\\u0000":5,"result":0}', (KIND_OTHER, None, None, None, True, False)),
    (b'{"id":1,"id":2,"result":0}', (KIND_RESPONSE, 2, None, None, True, False)),
    (b'{"id":1,"id":null,"result":0}', (KIND_OTHER, None, None, None, True, False)),
    (b'{"id":true,"id":3,"result":0}', (KIND_RESPONSE, 3, None, None, True, False)),
    (b'{"id":3,"id":true,"result":0}', INVALID),
    (b'{"id":1.0,"result":0}', INVALID),
    (b'{"id":1e2,"result":0}', INVALID),
    (b'{"id":false,"result":0}', INVALID),
    (b'{"id":{"id":1},"result":0}', INVALID),
    (b'{"id":[1],"result":0}', INVALID),
    (b'{"id":9223372036854775807,"result":0}', (KIND_RESPONSE, INT64_MAX, None, None, True, False)),
    (b'{"id":-9223372036854775808,"error":0}', (KIND_RESPONSE, INT64_MIN, None, None, False, True)),
    (b'{"id":9223372036854775808,"result":0}', INVALID),
    (b'{"id":-9223372036854775809,"result":0}', INVALID),
    (b'{"id":123456789012345678901234567890,"result":0}', INVALID),
    (b'{"id":-0,"result":0}', (KIND_RESPONSE, 0, None, None, True, False)),
    (b'{"result":{"id":7,"method":"x"},"id":8}', (KIND_RESPONSE, 8, None, None, True, False)),
    (
        b'{"params":{"id":1,"x":{"channel":"no"}},"method":"m"}',
        (KIND_NOTIFICATION, None, "m", None, False, False),
    ),
    (
        b'{"method":"m","params":{"channel":"a","channel":"b"}}',
        (KIND_NOTIFICATION, None, "m", "b", False, False),
    ),
    (
        b'{"method":"m","params":{"channel":"a"},"params":{}}',
        (KIND_NOTIFICATION, None, "m", None, False, False),
    ),
    (b'{"method":"m","params":{"channel":1}}', (KIND_NOTIFICATION, None, "m", None, False, False)),
    (
        b'{"method":"m","params":[{"channel":"a"}]}',
        (KIND_NOTIFICATION, None, "m", None, False, False),
    ),
    (b'{"method":"m","id":4,"params":{"channel":"a"}}', (KIND_REQUEST, 4, "m", None, False, False)),
    (b'{"channel":"a","method":"m"}', (KIND_NOTIFICATION, None, "m", None, False, False)),
    (b'{"method":"a","method":5}', (KIND_OTHER, None, None, None, False, False)),
    (b'{"method":5,"method":"b"}', (KIND_NOTIFICATION, None, "b", None, False, False)),
    (b'{"error":{"code":1}}', (KIND_ERROR_NO_ID, None, None, None, False, True)),
    (b'{"id":null,"error":{"code":1}}', (KIND_ERROR_NO_ID, None, None, None, False, True)),
    (b'{"id":"","result":""}', (KIND_RESPONSE, "", None, None, True, False)),
    (b'{"method":""}', (KIND_NOTIFICATION, None, "", None, False, False)),
    (
        b'{"method":"\\ud83d\\ude00\\u00e9\\/\\b\\f\\n\\r\\t"}',
        (KIND_NOTIFICATION, None, "\U0001f600\u00e9/\b\f\n\r\t", None, False, False),
    ),
    (
        b'{"method":"\\ud800x\\udc00"}',
        (KIND_NOTIFICATION, None, "\ud800x\udc00", None, False, False),
    ),
    (b'{"method":"\xe2\x82\xac"}', (KIND_NOTIFICATION, None, "\u20ac", None, False, False)),
    (b"{}", (KIND_OTHER, None, None, None, False, False)),
    (b" { } ", (KIND_OTHER, None, None, None, False, False)),
    (b"[]", (KIND_OTHER, None, None, None, False, False)),
    (b'[{"id":1,"result":2}]', (KIND_OTHER, None, None, None, False, False)),
    (b'"id"', (KIND_OTHER, None, None, None, False, False)),
    (b"-12.5e+3", (KIND_OTHER, None, None, None, False, False)),
    (b"null", (KIND_OTHER, None, None, None, False, False)),
    (b"true", (KIND_OTHER, None, None, None, False, False)),
]

INVALID_CASES: list[bytes] = [
    b"",
    b"   ",
    b"{",
    b"}",
    b'{"id":1,"result":0}}',
    b'{"id":1,"result":0} x',
    b'{"id":1,"result":0}{}',
    b'{"id":1,"result":0,}',
    b'{,"id":1}',
    b'{"id" 1}',
    b'{"id":1 "result":0}',
    b'{"id":01,"result":0}',
    b'{"id":-,"result":0}',
    b'{"id":1.,"result":0}',
    b'{"id":.5,"result":0}',
    b'{"id":+1,"result":0}',
    b'{"id":1,"result":tru}',
    b'{"id":1,"result":NaN}',
    b'{"id":1,"result":Infinity}',
    b'{"id":1,"result":nulll}',
    b"{\"id\":'1'}",
    b"{id:1}",
    b'{"id":"\x01"}',
    b'{"id":"\\x"}',
    b'{"id":"\\u12"}',
    b'{"id":"\\u12G4"}',
    b'{"id":"abc}',
    b'{"id":"abc\\"}',
    b'{"method":"\xff"}',
    b'{"method":"\xc3"}',
    b'{"method":"\xe2\x82"}',
    b'{"method":"\xf4\x90\x80\x80"}',
    b'{"id":"\xc0\xaf","result":1}',
    b"\xef\xbb\xbf{}",
    b'{"a":[}',
    b'{"a":{]}',
    b'{"a":[1,2}',
    b'{"a" : "b" : "c"}',
    b"[1,]",
    b"[1 2]",
    b"1 2",
    b"nul",
    b"\x00",
    b'{"a":1}\x00',
]


@pytest.mark.parametrize(("buf", "want"), CASES, ids=[repr(c[0])[:60] for c in CASES])
def test_cases(buf: bytes, want: Result) -> None:
    assert reference(buf) == want  # the table itself agrees with json.loads
    assert observed(buf, strict=True) == want
    assert observed(buf) == want
    # and the same content padded to cross the fast scanner's block edges
    for pad in (0, 1, 63, 64, 65, 130):
        padded = _pad_object(buf, pad)
        if padded is not None:
            assert observed(padded) == want, padded
            assert observed(padded, strict=True) == want, padded


def _pad_object(buf: bytes, n: int) -> bytes | None:
    """The same object with a leading unrelated member of about n bytes."""
    s = buf.strip()
    if not s.startswith(b"{") or s[1:].lstrip().startswith(b"}"):
        return None
    return b'{"pad":"' + b"x" * n + b'",' + s[1:]


@pytest.mark.parametrize("buf", INVALID_CASES, ids=[repr(c)[:60] for c in INVALID_CASES])
def test_invalid(buf: bytes) -> None:
    assert observed(buf, strict=True) == INVALID
    assert observed(buf) == INVALID
    assert scan_id(buf) is None
    padded = _pad_object(buf, 200)
    if padded is not None:
        assert observed(padded) == INVALID, padded


def test_fast_scan_checks_structure_of_nested_values() -> None:
    """Long messages: nested payloads are checked by structure (documented)."""
    pad = "x" * 200
    ok = b'{"id":1,"result":{"a":[1,{"b":"c"}],"p":"%s"}}' % pad.encode()
    assert len(ok) >= jsonrpc.STRICT_BELOW
    assert scan(ok).kind == KIND_RESPONSE
    for bad in (
        b'{"id":1,"result":{"a":[1,{"b":"c"]],"p":"%s"}}',  # mismatched bracket
        b'{"id":1,"result":{"a":[1,{"b":"c"}],"p":"%s"}',  # unbalanced
        b'{"id":1,"result":{"a":"\x01","p":"%s"}}',  # raw control char in a string
        b'{"id":1,"result":{"a":"\\q","p":"%s"}}',  # bad escape
        b'{"id":1,"result":{"a":"}","p":"%s"}',  # bracket inside a string
    ):
        assert scan(bad % pad.encode()).kind == KIND_INVALID
    # A scalar typo inside "result" is not seen by scan, but scan_strict sees it.
    typo = b'{"id":1,"result":{"a":tru,"p":"%s"}}' % pad.encode()
    assert scan(typo).kind == KIND_RESPONSE
    assert scan_strict(typo).kind == KIND_INVALID


def test_deep_nesting_is_bounded() -> None:
    depth = jsonrpc.MAX_DEPTH
    ok = b'{"id":1,"result":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
    assert scan(ok).kind == KIND_RESPONSE
    assert scan_strict(ok).kind == KIND_RESPONSE
    too_deep = b'{"id":1,"result":' + b"[" * depth + b"]" * depth + b"}"
    assert scan(too_deep).kind == KIND_INVALID
    assert scan_strict(too_deep).kind == KIND_INVALID
    for huge in (b"[" * 200_000, b'{"a":' * 100_000, b"[" * 100_000 + b"]" * 100_000):
        assert scan(huge).kind == KIND_INVALID
        assert scan_strict(huge).kind == KIND_INVALID


def test_long_strings_and_many_escapes() -> None:
    long = 'é"\\/' * 5000 + "\U0001f600" * 100
    check(json.dumps({"method": long, "params": {"channel": long}}).encode())
    check(json.dumps({"method": long}, ensure_ascii=False).encode())
    check(json.dumps({"id": long, "result": [long] * 3}).encode())
    check(b'{"id":"' + b"\\\\" * 1000 + b'","result":1}')
    check(b'{"method":"' + b"\\\\" * 31 + b'\\""}')  # backslash run across a block edge


def test_buffer_types() -> None:
    buf = b'{"id":5,"result":1}'
    assert scan(bytearray(buf)).id == 5
    assert scan(memoryview(buf)).id == 5
    assert scan_id(bytearray(buf)) == 5
    for bad in ("{}", 5, None, [1]):
        with pytest.raises(TypeError):
            scan(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            scan_id(bad)  # type: ignore[arg-type]


def test_scan_result_object() -> None:
    buf = b'{"method":"subscription","params":{"channel":"ticker.BTC"}}'
    r = scan(buf)
    assert r.buf is buf
    assert r.method is r.method  # built once, cached
    assert r.channel is r.channel
    assert "NOTIFICATION" in repr(r) and "ticker.BTC" in repr(r)
    with pytest.raises(TypeError):
        jsonrpc.ScanResult()
    r2 = scan(b'{"id":"abc","result":1}')
    assert r2.id is r2.id


# --------------------------------------------------------------- property tests

KEYS = ["id", "method", "params", "result", "error", "channel", "jsonrpc", "data", "x", ""]


def _scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.integers(min_value=-1000, max_value=1000),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
        st.sampled_from(["", '"', "\\", '\\"', 'a\\"b', "}", "{", "]", ":", ",", "\x00\x1f"]),
    )


def _values() -> st.SearchStrategy[Any]:
    return st.recursive(
        _scalars(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.lists(
                st.tuples(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), inner),
                max_size=5,
            ).map(Obj),
        ),
        max_leaves=12,
    )


class Obj(list):  # type: ignore[type-arg]
    """A JSON object as (key, value) pairs: duplicate keys are allowed."""


VALUES = _values()
MEMBER_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "id": st.one_of(
        st.integers(min_value=INT64_MIN, max_value=INT64_MAX),
        st.integers(min_value=-(2**80), max_value=2**80),
        st.text(max_size=10),
        st.none(),
        VALUES,
    ),
    "method": st.one_of(st.text(max_size=20), VALUES),
    "params": st.one_of(
        st.lists(
            st.tuples(
                st.sampled_from(["channel", "data", "id", "type"]),
                st.one_of(st.text(max_size=30), VALUES),
            ),
            max_size=4,
        ).map(Obj),
        VALUES,
    ),
}


@st.composite
def messages(draw: st.DrawFn) -> tuple[Obj, int]:
    keys = draw(st.lists(st.sampled_from(KEYS), max_size=8))
    members = Obj((k, draw(MEMBER_VALUES.get(k, VALUES))) for k in keys)
    if draw(st.booleans()):  # make it long enough for the block scanner
        members.insert(draw(st.integers(0, len(members))), ("pad", "p" * draw(st.integers(0, 300))))
    return members, draw(st.integers(0, 2**32))


def _escape_str(s: str, rng: random.Random) -> str:
    mode = rng.randrange(4)
    if mode == 0:
        return json.dumps(s, ensure_ascii=False)
    if mode == 1:
        return json.dumps(s)
    out = []
    for ch in s:
        if ch in '"\\' or ord(ch) < 0x20 or rng.random() < 0.3:
            if ch == "/" and rng.random() < 0.5:
                out.append("\\/")
            elif ord(ch) > 0xFFFF:
                hi, lo = divmod(ord(ch) - 0x10000, 0x400)
                out.append(f"\\u{0xD800 + hi:04x}\\u{0xDC00 + lo:04X}")
            else:
                short = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\b": "\\b"}
                out.append(short.get(ch) or ("\\u%04x" if mode == 2 else "\\u%04X") % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def dump(v: Any, rng: random.Random) -> str:
    """JSON text with random whitespace and random (valid) string escapes."""

    def ws() -> str:
        return "".join(rng.choice(" \t\r\n") for _ in range(rng.choice((0, 0, 0, 1, 3))))

    if isinstance(v, Obj):
        parts = [ws() + _escape_str(k, rng) + ws() + ":" + ws() + dump(x, rng) + ws() for k, x in v]
        return "{" + (",".join(parts) or ws()) + "}"
    if isinstance(v, list):
        return "[" + (",".join(ws() + dump(x, rng) + ws() for x in v) or ws()) + "]"
    if isinstance(v, str):
        return _escape_str(v, rng)
    if isinstance(v, float):
        return repr(v) if rng.random() < 0.5 else json.dumps(v)
    return json.dumps(v)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
@example(([("id", 1), ("result", Obj([("id", 2)]))], 0))
@example(([("method", "subscription"), ("params", Obj([("channel", 'a\\"b')]))], 1))
def test_property_against_json_loads(msg: tuple[Obj, int]) -> None:
    members, seed = msg
    rng = random.Random(seed)
    text = rng.choice(("", " ", "\n")) + dump(members, rng) + rng.choice(("", " \r\n"))
    buf = text.encode("utf-8", "surrogatepass")
    want = reference(buf)
    assert want is not None, text
    assert observed(buf, strict=True) == want, text
    assert observed(buf) == want, text
    assert scan_id(buf) == want[1]
    # The same members behind a long first member: always the block scanner.
    long = Obj([("~pad", "p" * (jsonrpc.STRICT_BELOW + rng.randrange(64))), *members])
    buf = dump(long, rng).encode("utf-8", "surrogatepass")
    assert observed(buf) == reference(buf) == observed(buf, strict=True), buf


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_property_prefixes_never_claim_an_id(msg: tuple[Obj, int]) -> None:
    members, seed = msg
    buf = dump(members, random.Random(seed)).encode("utf-8", "surrogatepass")
    for n in range(len(buf)):
        assert observed(buf[:n]) == INVALID, buf[:n]
        assert observed(buf[:n], strict=True) == INVALID, buf[:n]


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=300))
@example(b'{"id":1,"result":"\\')
@example(b'{"id":1,"result":"\\u00')
def test_fuzz_random_bytes(buf: bytes) -> None:
    _differential(buf)


@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from([json.dumps(m).encode() for _, m in DERIBIT]),
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255), st.integers(0, 2)), max_size=4),
)
def test_fuzz_mutated_messages(base: bytes, edits: list[tuple[int, int, int]]) -> None:
    buf = bytearray(base)
    for pos, byte, op in edits:
        pos %= len(buf) + 1
        if op == 0:
            buf[pos : pos + 1] = bytes([byte])
        elif op == 1:
            buf.insert(pos, byte)
        else:
            del buf[pos : pos + 1]
    _differential(bytes(buf))


def _differential(buf: bytes) -> None:
    """No crash; strict agrees with json.loads; fast agrees whenever it can."""
    fast, strict = observed(buf), observed(buf, strict=True)
    if strict != INVALID:
        assert fast == strict
    assert scan_id(buf) == fast[1]
    try:
        buf.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        # UTF-8 outside id/method/channel is the frame layer's check (RFC 6455
        # §8.1), so compare the structure only, on the escaped decoding.
        if strict != INVALID:
            obj = json.loads(
                buf.decode("utf-8", "surrogateescape"), parse_constant=_reject_constant
            )
            assert expected(obj)[0] == strict[0]
        return
    want = reference(buf)
    if want is not None:
        assert strict == want
        assert fast == want
    else:
        assert strict == INVALID
        if len(buf) < jsonrpc.STRICT_BELOW:
            assert fast == INVALID


# --------------------------------------------------------------- SIMD kernels


def _available_kernels() -> list[str]:
    """Every stage-1 kernel this CPU runs (scalar always)."""
    return list(zenws.build_info()["kernels_available"]["scan"])


KERNELS = _available_kernels()


def _all_kernels(buf: bytes) -> dict[str, Result]:
    before = jsonrpc.scan_kernel()
    try:
        out = {}
        for name in KERNELS:
            jsonrpc._set_scan_kernel(name)
            out[name] = observed(buf)
            assert scan_id(buf) == out[name][1]
        return out
    finally:
        jsonrpc._set_scan_kernel(before)


def _same_on_every_kernel(buf: bytes) -> Result:
    results = _all_kernels(buf)
    first = results[KERNELS[0]]
    assert all(r == first for r in results.values()), (buf, results)
    return first


def test_kernel_names() -> None:
    assert "scalar" in KERNELS
    assert jsonrpc.scan_kernel() in KERNELS
    with pytest.raises(ValueError):
        jsonrpc._set_scan_kernel("no-such-kernel")
    assert jsonrpc.scan_kernel() in KERNELS  # unchanged by the failed call


@pytest.mark.parametrize("name", ["scalar", "sse2", "avx2", "avx512", "bogus"])
def test_kernel_environment_variable(name: str) -> None:
    """ZENWS_SCAN_KERNEL is read when the module is imported."""
    import os
    import subprocess
    import sys

    msg = b'{"pad":"' + b"x" * 200 + b'","id":7,"result":[1,{"a":"}"}]}'
    code = (
        "from zenws.fast import jsonrpc; "
        f"r = jsonrpc.scan({msg!r}); "
        "print(jsonrpc.scan_kernel(), r.kind, r.id)"
    )
    env = dict(os.environ, ZENWS_SCAN_KERNEL=name)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    # An unknown or unsupported name falls back to the automatic choice.
    assert out[0] == (name if name in KERNELS else KERNELS[-1])
    assert out[1:] == [str(KIND_RESPONSE), "7"]


def test_kernels_on_deribit_and_edge_cases() -> None:
    for _, msg in DERIBIT:
        for buf in (json.dumps(msg).encode(), json.dumps(msg, indent=1).encode()):
            want = reference(buf)
            assert _same_on_every_kernel(buf) == want
            for n in range(len(buf)):
                assert _same_on_every_kernel(buf[:n]) == INVALID
    for buf, want in CASES:
        for pad in (64, 65, 127, 128, 1000, 1023, 1024, 1025):
            padded = _pad_object(buf, pad)
            if padded is not None:
                assert _same_on_every_kernel(padded) == want, padded
    for buf in INVALID_CASES:
        padded = _pad_object(buf, 300)
        if padded is not None:
            assert _same_on_every_kernel(padded) == INVALID, padded


def test_kernels_across_chunks() -> None:
    """Strings, escapes and containers that straddle 64-byte blocks and 1 KiB chunks."""
    for pad in range(990, 1060, 3):
        for tail in (
            b'"a\\"b\\\\","id":5,"result":{"x":["}",{"y":"\\u005d"}]}}',
            b'"' + b"\\\\" * 20 + b'","method":"m","params":{"channel":"c\\"h"}}',
            b'"z","id":"i\\u0064","error":[[[[]]]]}',
            b'"z","id":5,"result":{"a":"\x01"}}',  # raw control character
            b'"z","id":5,"result":{"a":"\\x"}}',  # bad escape
            b'"z","id":5,"result":{"a":[}}}',  # mismatched bracket
        ):
            buf = b'{"pad":"' + b"p" * pad + b'","q":' + tail
            got = _same_on_every_kernel(buf)
            want = reference(buf)
            assert got == (want if want is not None else INVALID), buf


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_property_kernels_agree(msg: tuple[Obj, int]) -> None:
    members, seed = msg
    rng = random.Random(seed)
    long = Obj([("~pad", "p" * (jsonrpc.STRICT_BELOW + rng.randrange(1200))), *members])
    buf = dump(long, rng).encode("utf-8", "surrogatepass")
    assert _same_on_every_kernel(buf) == reference(buf)
    for n in sorted({rng.randrange(len(buf)) for _ in range(20)}):
        assert _same_on_every_kernel(buf[:n]) == INVALID


@settings(max_examples=600, deadline=None)
@given(
    st.sampled_from([json.dumps(m).encode() for _, m in DERIBIT]),
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255), st.integers(0, 2)), max_size=4),
)
def test_fuzz_kernels_agree(base: bytes, edits: list[tuple[int, int, int]]) -> None:
    buf = bytearray(b'{"pad":"' + b"x" * 150 + b'",' + base[1:])
    for pos, byte, op in edits:
        pos %= len(buf) + 1
        if op == 0:
            buf[pos : pos + 1] = bytes([byte])
        elif op == 1:
            buf.insert(pos, byte)
        else:
            del buf[pos : pos + 1]
    _same_on_every_kernel(bytes(buf))


@pytest.mark.parametrize(
    ("func", "param"),
    [
        (scan, "buf"),
        (scan_strict, "buf"),
        (scan_id, "buf"),
        (jsonrpc.loads, "data"),
        (jsonrpc.dumps, "obj"),
    ],
)
def test_one_argument_functions_report_their_signature(func: Any, param: str) -> None:
    # help() and inspect see the positional-only parameter of the .pyi, not the
    # ``(self, object, /)`` Python 3.13 gives a METH_O builtin without a text signature
    assert str(inspect.signature(func)) == f"({param}, /)"
    with pytest.raises(TypeError):
        func(**{param: b"{}"})
