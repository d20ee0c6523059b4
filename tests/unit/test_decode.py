"""zenws.fast.jsonrpc.loads (ext/zenws_json.c) against json.loads.

Every valid document must decode to exactly what ``json.loads`` builds from the
same UTF-8 text (types, dict order, floats bit for bit); every invalid one must
raise ``json.JSONDecodeError``.  The documented differences (stricter, as orjson):
NaN/Infinity, lone surrogates, a byte order mark and numbers that round to
infinity are errors here while ``json.loads`` accepts them.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import struct
import sys
import tracemalloc
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from corpus import deribit_lines
from jsonsame import same
from zenws.fast import jsonrpc
from zenws.fast.jsonrpc import loads

JSONDecodeError = json.JSONDecodeError

DERIBIT_LINES = deribit_lines()


def check_same(doc: bytes | str) -> None:
    want = json.loads(doc)
    got = loads(doc)
    assert same(got, want), (doc, got, want)


def test_compiled_decoder_loaded() -> None:
    assert type(loads).__name__ == "builtin_function_or_method"
    assert jsonrpc.loads_kernel() in ("avx2", "sse2", "swar")


# ------------------------------------------------------------------ valid table

VALID: list[bytes] = [
    b"0",
    b"-0",
    b"0.0",
    b"-0.0",
    b"1",
    b"-1",
    b"123456789012345678",
    b"1234567890123456789",
    b"9223372036854775807",
    b"9223372036854775808",
    b"-9223372036854775808",
    b"-9223372036854775809",
    b"18446744073709551615",
    b"18446744073709551616",
    b"123456789012345678901234567890123456789",
    b"-123456789012345678901234567890123456789",
    b"1.5",
    b"-1.5",
    b"1e5",
    b"1E5",
    b"1e+5",
    b"1e-5",
    b"1.25e-3",
    b"0e0",
    b"0e99999999999",
    b"-0e-5",
    b"1e-400",
    b"4.9406564584124654e-324",
    b"2.2250738585072011e-308",
    b"2.2250738585072014e-308",
    b"1.7976931348623157e308",
    b"9007199254740993",
    b"9007199254740993.0",
    b"0.1",
    b"0.30000000000000004",
    b"123456789012345678901234567890.5",
    b"0.000000000000000000000000000001",
    b"1" + b"0" * 30 + b".0",
    b"37010.5",
    b"0.0000131",
    b"1.2345678901234567890123e-10",
    b"1e22",
    b"1e23",
    b"8.98846567431158e307",
    b"true",
    b"false",
    b"null",
    b'""',
    b'"a"',
    b'"\\u0000"',
    b'"\\"\\\\\\/\\b\\f\\n\\r\\t"',
    b'"\\u00e9\\u20ac\\ud83d\\ude00"',
    b'"\\uD83D\\uDE00 upper-case hex"',
    b'"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"',
    b'"mixed \xc3\xa9 and \\n escapes \\u00e9"',
    b'"' + b"x" * 1000 + b'"',
    b'"' + b"x" * 1000 + b"\\n" + b"y" * 50 + b'"',
    b'"' + "é".encode() * 300 + b'"',
    b'"\x7f"',
    b"[]",
    b"{}",
    b"[[]]",
    b"[{}]",
    b'{"a":[]}',
    b" \t\r\n[ \t\r\n1 \t\r\n, \t\r\n2 \t\r\n] \t\r\n",
    b'{ "a" : 1 , "b" : [ true , false , null ] }',
    b'{"a":1,"b":2,"a":3}',
    b'{"a":1,"a":{"x":1},"a":[1]}',
    b'{"":0}',
    b'{"\\u0061":1,"a":2}',
    b'{"caf\xc3\xa9":1}',
    b'{"' + b"k" * 100 + b'":1}',
    b'[1,"a",1.5,true,false,null,[],{}]',
    b'[["new",37010.5,12000.0],["new",37010.0,5000.0]]',
    b"[" + b",".join(b"%d" % i for i in range(1000)) + b"]",
    b'{"jsonrpc":"2.0","id":123,"result":{"data":"' + b"x" * 452 + b'"},"usIn":1}',
]


@pytest.mark.parametrize("doc", VALID, ids=lambda d: repr(d[:30]))
def test_valid_table(doc: bytes) -> None:
    check_same(doc)


def test_duplicate_keys_last_value_first_position() -> None:
    got = loads(b'{"a":1,"b":2,"a":3}')
    assert list(got.items()) == [("a", 3), ("b", 2)]


def test_deep_nesting_at_limit() -> None:
    assert jsonrpc.MAX_DEPTH == 1024
    deep = loads(b"[" * 1024 + b"]" * 1024)
    for _ in range(1023):
        assert isinstance(deep, list) and len(deep) == 1
        deep = deep[0]
    assert deep == []
    obj = loads(b'{"a":' * 1024 + b"1" + b"}" * 1024)
    for _ in range(1024):
        obj = obj["a"]
    assert obj == 1


@pytest.mark.parametrize(
    "doc", [b"[" * 1025 + b"]" * 1025, b'{"a":' * 1025 + b"1" + b"}" * 1025, b"[" * 100_000]
)
def test_deeper_than_limit_is_an_error(doc: bytes) -> None:
    with pytest.raises(JSONDecodeError, match="Nesting deeper than 1024") as exc:
        loads(doc)
    assert exc.value.pos in (1024, 1024 * 5)


def test_many_distinct_keys_and_values() -> None:
    # More distinct keys / short values than the caches hold: evictions.
    doc = {f"key{i}": f"v{i % 3000}" for i in range(5000)}
    raw = json.dumps(doc).encode()
    for _ in range(3):
        assert same(loads(raw), doc)


def test_keys_are_interned() -> None:
    key = next(iter(loads(b'{"interned_key_name":1}')))
    assert key is sys.intern("interned_key_name")


# ------------------------------------------------------------------ invalid table

INVALID: list[bytes] = [
    b"",
    b" ",
    b"[",
    b"]",
    b"{",
    b"}",
    b"[1",
    b"[1,",
    b"[1,]",
    b"[,1]",
    b"[1 2]",
    b'{"a"}',
    b'{"a":}',
    b'{"a" 1}',
    b'{"a":1,}',
    b'{"a":1 "b":2}',
    b"{1:2}",
    b"{'a':1}",
    b'{"a":1]',
    b'["a"}',
    b"[1] x",
    b"1 2",
    b"01",
    b"-01",
    b"00",
    b"-",
    b"--1",
    b"+1",
    b"1.",
    b".5",
    b"-.5",
    b"1.e5",
    b"1e",
    b"1e+",
    b"1E-",
    b"0x10",
    b"1_000",
    b"tru",
    b"truee",
    b"nul",
    b"False",
    b"None",
    b'"abc',
    b'"abc\\"',
    b'"\\',
    b'"a\x00b"',
    b'"a\x1fb"',
    b'"a\nb"',
    b'"a\tb"',
    b'"\\x"',
    b'"\\U0041"',
    b'"\\u"',
    b'"\\u12"',
    b'"\\u12g4"',
    b'"\\u 123"',
    b"'a'",
    b"\x0c1",
    b"\x001",
    b"[1]\x00",
    b"/* c */ 1",
    b"\xff",
    b'"\xff"',
    b'"\xc0\xaf"',
    b'"\xe0\x80\xaf"',
    b'"\xf0\x80\x80\xaf"',
    b'"\xc3"',
    b'"\xe2\x82"',
    b'"\xf4\x90\x80\x80"',
    b'"\x80"',
    b'["\xc3\xa9", \xc3\xa9]',
]


@pytest.mark.parametrize("doc", INVALID, ids=lambda d: repr(d[:30]))
def test_invalid_table(doc: bytes) -> None:
    try:
        json.loads(doc.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    except ValueError:
        pass
    else:
        raise AssertionError(f"the reference accepts {doc!r}")
    with pytest.raises(JSONDecodeError):
        loads(doc)


# Accepted by json.loads, rejected here on purpose (orjson rejects them too).
STRICTER: list[bytes] = [
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"[NaN]",
    b"1e400",
    b"-1e400",
    b"1.7976931348623159e308",
    b"123456789e999",
    b'"\\ud800"',
    b'"\\udc00"',
    b'"\\ud800\\u0041"',
    b'"\\ud800\\ud800"',
    b'"\\udc00\\ud800"',
    b'"\\ud83d"',
    b'"\xed\xa0\x80"',
    b'"\xed\xbf\xbf"',
    b"\xef\xbb\xbf1",
]


@pytest.mark.parametrize("doc", STRICTER, ids=lambda d: repr(d[:30]))
def test_documented_differences(doc: bytes) -> None:
    json.loads(doc)  # the reference accepts it ...
    with pytest.raises(JSONDecodeError):  # ... we do not
        loads(doc)


@pytest.mark.parametrize(
    ("doc", "msg", "pos"),
    [
        (b"", "Expecting value", 0),
        (b"[1,]", "Expecting value", 3),
        (b"[1 2]", "Expecting ',' delimiter", 3),
        (b'{"a" 1}', "Expecting ':' delimiter", 5),
        (b'{"a":1,}', "Expecting property name enclosed in double quotes", 7),
        (b"[1] x", "Extra data", 4),
        (b'["ab', "Unterminated string starting at", 1),
        (b'"ab\x01"', "Invalid control character at", 3),
        (b'"ab\\x"', "Invalid \\escape", 3),
        (b'"\\u12"', "Invalid \\uXXXX escape", 1),
        (b'["x","\\ud800"]', "Lone surrogate in \\u escape", 6),
        (b'"\xc3\xa9\xff"', "Invalid UTF-8 in string", 3),
        (b'["\xc3\xa9", "a\\n\xed\xa0\x80"]', "Invalid UTF-8 in string", 11),
        (b"[1e400]", "Number out of range", 1),
        (b"1.", "Expecting digits after '.' in number", 0),
        (b"[NaN]", "Expecting value", 1),
    ],
)
def test_error_message_and_byte_position(doc: bytes, msg: str, pos: int) -> None:
    with pytest.raises(JSONDecodeError) as exc:
        loads(doc)
    assert exc.value.msg == msg
    assert exc.value.pos == pos
    assert isinstance(exc.value, ValueError)
    assert exc.value.doc == doc.decode("utf-8", "replace")


def test_huge_integer_raises_value_error_like_json() -> None:
    doc = b"1" * 5000  # beyond sys.get_int_max_str_digits() (4300)
    with pytest.raises(ValueError):
        json.loads(doc)
    with pytest.raises(ValueError):
        loads(doc)


# ------------------------------------------------------------------ input types


def test_input_types() -> None:
    raw = b'{"a":[1,2.5,"\xc3\xa9"]}'
    want = json.loads(raw)
    assert loads(raw) == want
    assert loads(bytearray(raw)) == want
    assert loads(memoryview(raw)) == want
    assert loads(raw.decode()) == want
    assert loads(memoryview(bytearray(raw))) == want


def test_non_contiguous_memoryview_is_copied() -> None:
    raw = b"[1,2,3]"
    spread = bytes(b for c in raw for b in (c, 0x20))
    mv = memoryview(spread)[::2]
    assert not mv.c_contiguous
    assert loads(mv) == [1, 2, 3]


def test_memoryview_slice_is_not_read_past_its_end() -> None:
    big = b'[1,2]"garbage' + b"x" * 64
    assert loads(memoryview(big)[:5]) == [1, 2]
    text = b'"' + b"a" * 40 + b'"' + b"tail"
    with pytest.raises(JSONDecodeError, match="Unterminated"):
        loads(memoryview(text)[:-5])  # the closing quote is outside the view
    assert loads(memoryview(text)[:-4]) == "a" * 40
    with pytest.raises(JSONDecodeError):
        loads(memoryview(b"truex")[:3])
    with pytest.raises(JSONDecodeError):
        loads(memoryview(b"12345678901234567890")[:0])
    assert loads(memoryview(b"1234567890123456789012")[:11]) == 12345678901


def test_str_with_lone_surrogate_is_an_error() -> None:
    assert json.loads('"\ud800"') == "\ud800"
    with pytest.raises(JSONDecodeError, match="Lone surrogate") as exc:
        loads('["a", "\ud800"]')
    assert exc.value.pos == 7


@pytest.mark.parametrize("bad", [None, 1, 1.5, [b"[]"], object()])
def test_other_types_are_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="bytes, bytearray, memoryview or str"):
        loads(bad)  # type: ignore[arg-type]


def test_released_memoryview() -> None:
    mv = memoryview(b"[1]")
    mv.release()
    with pytest.raises(ValueError):
        loads(mv)


# ------------------------------------------------------------------ Deribit


@pytest.mark.parametrize("line", DERIBIT_LINES, ids=lambda s: json.loads(s)["name"])
def test_deribit_messages(line: str) -> None:
    msg = json.loads(line)["msg"]
    check_same(line.encode())
    check_same(json.dumps(msg).encode())
    check_same(json.dumps(msg, separators=(",", ":")).encode())
    check_same(json.dumps(msg, indent=2, ensure_ascii=False))


# ------------------------------------------------------------------ properties

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=json_values,
    ensure_ascii=st.booleans(),
    indent=st.sampled_from([None, 0, 1, 4, "\t"]),
    separators=st.sampled_from([None, (",", ":"), (", ", ": "), (" ,\n", " :\r\n ")]),
)
def test_hypothesis_json_values(
    value: Any, ensure_ascii: bool, indent: int | str | None, separators: Any
) -> None:
    text = json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators)
    check_same(text.encode())
    check_same(text)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
@example(5e-324)
@example(1.7976931348623157e308)
@example(-0.0)
@example(9007199254740993.0)
def test_hypothesis_floats_bit_exact(x: float) -> None:
    for text in (repr(x), f"{x:.17e}", f"{x:.25f}", f"{x:.6g}", f"{x:.15e}"):
        if "inf" in text or "nan" in text:
            continue
        text = text if any(c in text for c in ".e") else text + ".0"
        want = float(text)
        if math.isinf(want):  # e.g. "1.797693134862316e+308": out of range here
            with pytest.raises(JSONDecodeError, match="Number out of range"):
                loads(text.encode())
            continue
        got = loads(text.encode())
        assert struct.pack("<d", got) == struct.pack("<d", want), (text, got, want)


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def _has_inf(value: Any) -> bool:
    if isinstance(value, float):
        return math.isinf(value)
    if isinstance(value, dict):
        return any(_has_inf(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_inf(v) for v in value)
    return False


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


class _Stricter(Exception):
    """A member json.loads accepts and loads rejects (maybe hidden by a duplicate key)."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if any(_has_lone_surrogate(k) or _has_lone_surrogate(v) or _has_inf(v) for k, v in pairs):
        raise _Stricter
    return dict(pairs)


def reference(doc: bytes) -> tuple[bool, Any]:
    """(True, value) when loads must accept ``doc``, else (False, None)."""
    try:
        text = doc.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_pairs)
    except (ValueError, RecursionError, _Stricter):
        return False, None
    if _has_lone_surrogate(value) or _has_inf(value) or text.startswith("\ufeff"):
        return False, None
    return True, value


def check_against_reference(doc: bytes) -> None:
    ok, want = reference(doc)
    if ok:
        assert same(loads(doc), want), doc
    else:
        with pytest.raises(ValueError):
            loads(doc)


JSONISH = st.text(
    alphabet='{}[]",:0123456789.-+eE \t\n\rtruefalsn\\u/bfd8ADCé\x00\x1f', max_size=40
)


@settings(max_examples=600, deadline=None)
@given(st.binary(max_size=40) | JSONISH.map(lambda s: s.encode("utf-8")))
@example(b'"\\ud83d\\ude00"')
@example(b'{"a":[1,{"b":null}]}')
def test_hypothesis_random_bytes(doc: bytes) -> None:
    check_against_reference(doc)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), line=st.sampled_from(DERIBIT_LINES))
def test_hypothesis_mutated_deribit(data: st.DataObject, line: str) -> None:
    buf = bytearray(json.dumps(json.loads(line)["msg"]).encode())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(buf) - 1))
        byte = data.draw(st.sampled_from(list(b'"\\{}[],: \x00\x80\xffu0-.eE')))
        op = data.draw(st.integers(0, 2))
        if op == 0:
            buf[pos] = byte
        elif op == 1:
            buf.insert(pos, byte)
        else:
            del buf[pos:]
            if not buf:
                break
    check_against_reference(bytes(buf))


# ------------------------------------------------------------------ leaks


def _traced_growth(fn: Any, n: int) -> int:
    for _ in range(1000):  # warm caches / freelists
        fn()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(n):
            fn()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_no_leak_valid_documents() -> None:
    raw = json.dumps(json.loads(DERIBIT_LINES[-1])).encode() + b" "
    doc = (
        b'{"a":[1,2.5,"x",{"b":[true,null]}],"big":123456789012345678901234567890,'
        b'"f":1.2345678901234567e-300,"s":"caf\xc3\xa9 \\n \\ud83d\\ude00",'
        b'"long":"' + b"y" * 300 + b'"}'
    )
    assert _traced_growth(lambda: loads(doc), 100_000) < 64 * 1024
    assert _traced_growth(lambda: loads(raw), 20_000) < 64 * 1024


def test_no_leak_errors() -> None:
    docs = [
        b'{"a":[1,2,{"b":"c", "d": [1.5, "x"',  # truncated inside nested containers
        b'{"a":[1,2,{"b":"\\ud800"}]}',
        b'[1,2,3,"' + "é".encode() + b'\xff"]',
        b"[" * 2000,
        b'{"k":1e400}',
        b"[" + b"1," * 300 + b"]",
    ]

    def run() -> None:
        for doc in docs:
            with contextlib.suppress(JSONDecodeError):
                loads(doc)

    assert _traced_growth(run, 20_000) < 64 * 1024


# ------------------------------------------------------------------ string kernels

JSON_KERNELS = ("swar", "sse2", "avx2")


def test_json_kernel_switch() -> None:
    before = jsonrpc.loads_kernel()
    try:
        kernels = jsonrpc._json_kernels()
        assert "swar" in kernels
        for k in kernels:
            jsonrpc._set_json_kernel(k)
            assert jsonrpc.loads_kernel() == k
        with pytest.raises(ValueError):
            jsonrpc._set_json_kernel("avx9000")
        jsonrpc._set_json_kernel("auto")
        assert jsonrpc.loads_kernel() == kernels[-1]
    finally:
        jsonrpc._set_json_kernel(before)


@pytest.mark.parametrize("kernel", JSON_KERNELS)
def test_kernel_strings_every_length_and_stop(kernel: str) -> None:
    """Each kernel finds the first quote/backslash/control/non-ASCII byte at every
    position of strings around its block sizes (16, 32, 64), also at the very end of
    the input (a top-level string: no byte after it to read)."""
    if kernel not in jsonrpc._json_kernels():
        with pytest.raises(ValueError):
            jsonrpc._set_json_kernel(kernel)
        return
    before = jsonrpc._set_json_kernel(kernel)
    try:
        for n in [*range(0, 70), 95, 96, 97, 127, 128, 129, 191, 192, 255, 256, 300, 1000]:
            body = b"x" * n
            check_same(b'"' + body + b'"')
            check_same(b'{"' + body + b'":"' + body + b'"}')
            for pos in range(0, n + 1, 1 if n < 70 else 5):
                for ins in (b"\\n", b'\\"', b"\\u00e9", "\u00e9".encode(), "\U0001f600".encode()):
                    check_same(b'["' + body[:pos] + ins + body[pos:] + b'", 1]')
                with pytest.raises(JSONDecodeError) as info:
                    loads(b'"' + body[:pos] + b"\x01" + body[pos:] + b'"')
                assert info.value.pos == pos + 1
                with pytest.raises(JSONDecodeError):
                    loads(b'"' + body[:pos] + b"\xff" + body[pos:] + b'"')
                with pytest.raises(JSONDecodeError):
                    loads(b'"' + body[:pos])  # unterminated, ends inside the block
    finally:
        jsonrpc._set_json_kernel(before)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400), st.integers(min_value=0, max_value=3))
def test_kernels_agree_hypothesis(text: str, pad: int) -> None:
    doc = json.dumps({"k" * pad: [text, text * 3]}, ensure_ascii=False).encode(
        "utf-8", "surrogatepass"
    )
    before = jsonrpc.loads_kernel()
    try:
        for k in jsonrpc._json_kernels():
            jsonrpc._set_json_kernel(k)
            check_against_reference(doc)
    finally:
        jsonrpc._set_json_kernel(before)


def test_json_kernel_from_environment() -> None:
    import subprocess

    for k in jsonrpc._json_kernels():
        out = subprocess.run(
            [sys.executable, "-c", "from zenws.fast import jsonrpc; print(jsonrpc.loads_kernel())"],
            env={**__import__("os").environ, "ZENWS_JSON_KERNEL": k},
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == k


# ------------------------------------------------------------------ UTF-8 kernels
#
# ext/zenws_utf8.c is compiled into zenws.fast.frame only (guard calls it through
# frame's cdef functions); its kernel switch is a plain C function, reached with ctypes.

UTF8_KERNELS = ("swar", "sse2", "avx2")


def _utf8_lib(module: Any) -> Any:
    import ctypes

    lib = ctypes.CDLL(module.__file__)
    lib.zenws_utf8_set_kernel.argtypes = [ctypes.c_char_p]
    lib.zenws_utf8_set_kernel.restype = ctypes.c_int
    lib.zenws_utf8_kernel.restype = ctypes.c_char_p
    return lib


def _ref_valid(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize("kernel", UTF8_KERNELS)
def test_utf8_kernels(kernel: str) -> None:
    from zenws.fast import frame

    lib = _utf8_lib(frame)
    before = lib.zenws_utf8_kernel()
    if lib.zenws_utf8_set_kernel(kernel.encode()) != 0:
        assert kernel != "swar"  # the portable kernel always runs
        return
    try:
        assert lib.zenws_utf8_kernel() == kernel.encode()
        for n in [*range(0, 70), 127, 128, 129, 255, 256, 257, 300, 383, 384, 385, 1000, 5000]:
            body = b"a" * n
            assert frame.utf8_first_invalid(body) == -1
            for pos in range(0, n + 1, 1 if n < 70 else 13):
                # The DFA stops at the first byte that can never be valid:
                # ED A0 (a surrogate) fails at A0.
                for bad, at in ((b"\xff", 0), (b"\xc0\x80", 0), (b"\xed\xa0\x80", 1), (b"\x80", 0)):
                    data = body[:pos] + bad + body[pos:]
                    assert frame.utf8_first_invalid(data) == pos + at, (n, pos, bad)
                ok = body[:pos] + "\u00e9\U0001f600".encode() + body[pos:]
                assert frame.utf8_first_invalid(ok) == -1
                assert frame.utf8_first_invalid(body[:pos] + b"\xe2\x82") == pos + 2
        text = ("x" * 300 + "\u00e9" + "y" * 77 + "\u4e2d") * 20
        assert frame.utf8_valid(text.encode())
        assert not frame.utf8_valid(text.encode() + b"\xc3")
    finally:
        lib.zenws_utf8_set_kernel(before)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600) | st.text(max_size=300).map(lambda s: s.encode("utf-8", "replace")))
def test_utf8_kernels_agree_with_cpython(data: bytes) -> None:
    from zenws.fast import frame

    lib = _utf8_lib(frame)
    before = lib.zenws_utf8_kernel()
    try:
        padded = b"p" * 270 + data  # long enough for the AVX2 loop
        for k in UTF8_KERNELS:
            if lib.zenws_utf8_set_kernel(k.encode()) != 0:
                continue
            assert frame.utf8_valid(data) is _ref_valid(data)
            assert frame.utf8_valid(padded) is _ref_valid(padded)
    finally:
        lib.zenws_utf8_set_kernel(before)


def test_utf8_kernel_from_environment() -> None:
    import subprocess

    code = (
        "import ctypes; from zenws.fast import frame; "
        "lib = ctypes.CDLL(frame.__file__); lib.zenws_utf8_kernel.restype = ctypes.c_char_p; "
        "frame.utf8_valid(b'x'); print(lib.zenws_utf8_kernel().decode())"
    )
    for k in ("swar", "sse2"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**__import__("os").environ, "ZENWS_UTF8_KERNEL": k},
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == k


def test_utf8_kernel_switch_has_one_copy() -> None:
    """Only frame compiles ext/zenws_utf8.c: one kernel choice, which the switch sets."""
    import ctypes

    from zenws.fast import frame, guard, jsonrpc, listener

    lib = _utf8_lib(frame)
    before = lib.zenws_utf8_kernel()
    try:
        assert lib.zenws_utf8_set_kernel(b"swar") == 0
        assert lib.zenws_utf8_kernel() == b"swar"
        assert lib.zenws_utf8_set_kernel(b"no-such-kernel") == -1
        assert lib.zenws_utf8_kernel() == b"swar"
        assert lib.zenws_utf8_set_kernel(b"auto") == 0
        assert lib.zenws_utf8_kernel() in (b"avx2", b"sse2", b"swar")
    finally:
        lib.zenws_utf8_set_kernel(before)
    for module in (guard, jsonrpc, listener):  # no second copy with its own state
        assert not hasattr(ctypes.CDLL(module.__file__), "zenws_utf8_set_kernel"), module
