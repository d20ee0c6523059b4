"""zenws.fast.jsonrpc.encode_request: JSON-RPC 2.0 request bytes."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zenws.fast.jsonrpc import KIND_REQUEST, encode_request, scan

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


def test_byte_exact() -> None:
    assert encode_request(8, "public/test") == (
        b'{"jsonrpc":"2.0","id":8,"method":"public/test","params":{}}'
    )
    assert encode_request(42, "public/get_instruments", {"currency": "BTC", "kind": "future"}) == (
        b'{"jsonrpc":"2.0","id":42,"method":"public/get_instruments",'
        b'"params":{"currency":"BTC","kind":"future"}}'
    )
    assert (
        encode_request(-1, "a", [1, 2]) == b'{"jsonrpc":"2.0","id":-1,"method":"a","params":[1,2]}'
    )
    assert (
        encode_request("req-1", "m", ())
        == b'{"jsonrpc":"2.0","id":"req-1","method":"m","params":[]}'
    )
    assert encode_request(2**63 - 1, "m") == (
        b'{"jsonrpc":"2.0","id":9223372036854775807,"method":"m","params":{}}'
    )
    assert encode_request(-(2**63), "m").startswith(b'{"jsonrpc":"2.0","id":-9223372036854775808,')


def test_method_escaping() -> None:
    raw = encode_request(1, 'a"b\\c\n\x00\u00e9\U0001f600/')
    assert json.loads(raw)["method"] == 'a"b\\c\n\x00\u00e9\U0001f600/'
    assert b'"method":"a\\"b\\\\c\\n\\u0000' in raw
    assert json.loads(encode_request('i"d', "m"))["id"] == 'i"d'


def test_same_bytes_as_orjson_envelope() -> None:
    params = {"instrument_name": "BTC-PERPETUAL", "amount": 10.5, "type": "limit", "price": 1}
    env = {"jsonrpc": "2.0", "id": 123456, "method": "private/buy", "params": params}
    assert encode_request(123456, "private/buy", params) == orjson.dumps(env)


def test_params_types() -> None:
    @dataclasses.dataclass
    class P:
        channels: list[str]

    assert json.loads(encode_request(1, "m", P(["a"])))["params"] == {"channels": ["a"]}
    assert json.loads(encode_request(1, "m", {}))["params"] == {}
    for bad in (1, "x", 2.5, True, b"x"):
        with pytest.raises(TypeError):
            encode_request(1, "m", bad)
    with pytest.raises(TypeError):
        encode_request(1, "m", {"x": object()})  # orjson.JSONEncodeError is a TypeError


def test_bad_id_and_method() -> None:
    for bad in (1.0, None, True, b"1", [1]):
        with pytest.raises(TypeError):
            encode_request(bad, "m")  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        encode_request(2**63, "m")
    for bad_method in (b"m", None, 5):
        with pytest.raises(TypeError):
            encode_request(1, bad_method)  # type: ignore[arg-type]
    with pytest.raises(UnicodeEncodeError):
        encode_request(1, "lone \ud800 surrogate")


def test_int_subclass_id() -> None:
    class MyInt(int):
        pass

    assert json.loads(encode_request(MyInt(5), "m"))["id"] == 5


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(INT64, st.text(max_size=20)),
    st.text(max_size=40),
    st.one_of(
        st.none(),
        st.dictionaries(
            st.text(max_size=8), st.one_of(st.integers(-1000, 1000), st.text(max_size=8))
        ),
        st.lists(st.integers(-5, 5), max_size=4),
    ),
)
def test_roundtrip(rid: int | str, method: str, params: Any) -> None:
    raw = encode_request(rid, method, params)
    assert json.loads(raw) == {
        "jsonrpc": "2.0",
        "id": rid,
        "method": method,
        "params": {} if params is None else params,
    }
    r = scan(raw)
    assert (r.kind, r.id, r.method) == (KIND_REQUEST, rid, method)


def _env(rid: int | str, method: str, params: Any) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})


def test_c_encoder_bytes_equal_orjson_envelope() -> None:
    methods = ["public/echo", 'a"b', "\n\x00\x1f", "caf\u00e9/\U0001f600", "m" * 300 + "\\"]
    params_list: list[Any] = [
        {"data": "x" * n} for n in (0, 1, 15, 16, 17, 63, 64, 65, 444, 8192, 100_000)
    ] + [
        {"instrument_name": "BTC-PERPETUAL", "amount": 100, "type": "limit", "post_only": True},
        {"channels": ["book.BTC-PERPETUAL.100ms", "trades.ETH-PERPETUAL.raw"]},
        [1, -2, 2**64 - 1, None, [], {}, ("t", "u")],
        {"nested": {"a": [{"b": "\u4e2d\u6587" * 40}]}},
    ]
    for method in methods:
        for params in params_list:
            for rid in (0, -(2**63), 2**63 - 1, "id-\n"):
                assert encode_request(rid, method, params) == _env(rid, method, params)


def test_c_encoder_float_params_same_values() -> None:
    params = {"price": 97050.5, "amount": 0.1 + 0.2, "tiny": 5e-324, "big": 1e300, "z": -0.0}
    raw = encode_request(5, "private/buy", params)
    back = json.loads(raw)["params"]
    assert [v.hex() for v in back.values()] == [v.hex() for v in params.values()]
    assert raw.startswith(
        b'{"jsonrpc":"2.0","id":5,"method":"private/buy","params":{"price":97050.5,'
    )


def test_params_fallbacks_keep_orjson_behaviour() -> None:
    @dataclasses.dataclass
    class Order:
        price: float
        tags: tuple[str, ...]

    assert encode_request(1, "m", Order(1.5, ("a",))) == _env(1, "m", Order(1.5, ("a",)))
    assert encode_request(1, "m", {"o": Order(2.0, ())}) == _env(1, "m", {"o": Order(2.0, ())})
    for bad in ({"x": float("nan")}, [float("inf")]):
        assert encode_request(1, "m", bad) == _env(1, "m", bad)  # orjson writes null
    for bad_params in ({1: 2}, {"x": 2**64}, {"x": "\ud800"}, [object()]):
        with pytest.raises(orjson.JSONEncodeError) as info:
            encode_request(1, "m", bad_params)
        with pytest.raises(orjson.JSONEncodeError) as ref:
            orjson.dumps(bad_params)
        assert str(info.value) == str(ref.value)


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=30),
    st.dictionaries(
        st.text(max_size=10),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(min_value=-(2**63), max_value=2**64 - 1),
            st.text(max_size=100),
            st.lists(st.text(max_size=5), max_size=3),
        ),
        max_size=6,
    ),
)
def test_c_encoder_random_requests(method: str, params: dict[str, Any]) -> None:
    assert encode_request(3, method, params) == _env(3, method, params)
