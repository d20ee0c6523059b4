"""zenws.Message: lazy, cached JSON with three decoders; text; kinds; safe repr."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zenws
from zenws import Message, MessageKind
from zenws.fast.listener import _make_message

DOC = {
    "jsonrpc": "2.0",
    "method": "subscription",
    "params": {"channel": "ticker.BTC", "data": {"p": 1.5, "s": "é", "l": [1, None, True]}},
}


def test_public_names() -> None:
    assert zenws.Message is Message and zenws.MessageKind is MessageKind
    assert [k.name for k in MessageKind] == [
        "OTHER",
        "RESPONSE",
        "NOTIFICATION",
        "HEARTBEAT",
        "BINARY",
    ]
    with pytest.raises(TypeError):
        Message()


def test_kind_prints_its_name_and_stays_an_int() -> None:
    # Python 3.11+ prints an IntEnum member as its number: `print(msg.kind)` showed "3".
    kind = MessageKind.HEARTBEAT
    assert str(kind) == "heartbeat" and f"{kind}" == "heartbeat" and f"{kind:>10}" == " heartbeat"
    assert kind == 3 and int(kind) == 3 and isinstance(kind, int)
    assert repr(kind) == "<MessageKind.HEARTBEAT: 3>"
    assert [str(k) for k in MessageKind] == [
        "other",
        "response",
        "notification",
        "heartbeat",
        "binary",
    ]


@pytest.mark.parametrize("decoder", ["simdjson", "orjson", "json", "zenws"])
def test_json_parsed_once_and_cached(decoder: str) -> None:
    raw = json.dumps(DOC).encode()
    m = _make_message(2, raw, "ticker.BTC", None, 123, 4, decoder)
    first = m.json()
    assert first == DOC and m.json() is first
    assert m.kind is MessageKind.NOTIFICATION and m.channel == "ticker.BTC"
    assert m.recv_ns == 123 and m.epoch == 4 and m.raw == raw and len(m) == len(raw)
    assert m.text == raw.decode()


@pytest.mark.parametrize("decoder", ["simdjson", "orjson", "json", "zenws"])
def test_json_documents_survive_later_parses(decoder: str) -> None:
    # a simdjson Parser holds one live document: cached results must be plain objects
    msgs = [
        _make_message(0, json.dumps({"i": i, "a": [i]}).encode(), decoder=decoder) for i in range(5)
    ]
    docs = [m.json() for m in msgs]
    assert docs == [{"i": i, "a": [i]} for i in range(5)]
    assert [
        _make_message(0, b"[1,2]", decoder=decoder).json(),
        _make_message(0, b"3", decoder=decoder).json(),
    ] == [[1, 2], 3]


@pytest.mark.parametrize("decoder", ["simdjson", "orjson", "json", "zenws"])
def test_invalid_json_raises_value_error(decoder: str) -> None:
    with pytest.raises(ValueError):
        _make_message(0, b"{bad", decoder=decoder).json()


def test_unknown_decoder_rejected() -> None:
    with pytest.raises(ValueError, match="decoder"):
        _make_message(0, b"{}", decoder="ujson")


def test_binary_has_no_text_and_repr_hides_payload() -> None:
    m = _make_message(4, b"\x00secret-token")
    assert m.kind is MessageKind.BINARY
    with pytest.raises(TypeError):
        _ = m.text
    assert "secret" not in repr(m) and "BINARY" in repr(m)


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(), c, max_size=4),
        max_leaves=20,
    )
)
def test_decoders_agree_with_json(value: object) -> None:
    raw = json.dumps(value).encode()
    for decoder in ("simdjson", "orjson", "json", "zenws"):
        assert _make_message(0, raw, decoder=decoder).json() == value
