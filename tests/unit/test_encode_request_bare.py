"""encode_request(jsonrpc=False): Binance's ``{id, method, params}`` request shape."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zenws.fast.jsonrpc import encode_request

DEFAULT_PREFIX = b'{"jsonrpc":"2.0",'
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@dataclasses.dataclass
class Side:
    side: str = "BUY"


def test_byte_exact_without_the_jsonrpc_member() -> None:
    assert encode_request(8, "time", jsonrpc=False) == b'{"id":8,"method":"time","params":{}}'
    assert encode_request("r-1", "depth", {"symbol": "BTCUSDT"}, jsonrpc=False) == (
        b'{"id":"r-1","method":"depth","params":{"symbol":"BTCUSDT"}}'
    )
    assert encode_request(-(2**63), "SUBSCRIBE", ["btcusdt@trade"], jsonrpc=False) == (
        b'{"id":-9223372036854775808,"method":"SUBSCRIBE","params":["btcusdt@trade"]}'
    )


@pytest.mark.parametrize(
    "params",
    [None, {}, {"a": 1}, [1, "x"], {"o": Side()}, Side(), {"q": 1.5, "t": [None, True]}],
    ids=["none", "empty", "dict", "list", "orjson-nested", "orjson-top", "mixed"],
)
def test_bare_is_the_default_without_its_first_member(params: Any) -> None:
    # C encoder (plain data) and orjson fallback (dataclasses) alike
    full = encode_request(7, "order.place", params)
    bare = encode_request(7, "order.place", params, jsonrpc=False)
    assert full.startswith(DEFAULT_PREFIX)
    assert bare == b"{" + full[len(DEFAULT_PREFIX) :]
    doc = orjson.loads(bare)
    assert list(doc) == ["id", "method", "params"] and "jsonrpc" not in doc


@settings(max_examples=200, deadline=None)
@given(
    rid=st.one_of(INT64, st.text(max_size=8)),
    method=st.text(max_size=12),
    params=st.dictionaries(st.text(max_size=4), INT64 | st.text(max_size=4), max_size=4),
)
def test_bare_round_trips(rid: int | str, method: str, params: dict[str, Any]) -> None:
    bare = encode_request(rid, method, params, jsonrpc=False)
    doc = orjson.loads(bare)
    assert doc == {"id": rid, "method": method, "params": params}
