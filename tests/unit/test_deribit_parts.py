"""Deribit adapter building blocks without a network: books, signatures, method table."""

from __future__ import annotations

import hashlib
import hmac
import inspect
import json
from typing import Any

import pytest

from zenws.adapters._deribit_auth import Credentials, Token, sign
from zenws.adapters._deribit_book import OrderBook
from zenws.adapters._deribit_methods import METHODS
from zenws.adapters.deribit import DeribitClient
from zenws.errors import ConfigError

# Shapes from the Deribit documentation (book.{instrument}.{interval}).
WIRE_SNAPSHOT = (
    '{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.BTC-PERPETUAL.100ms",'
    '"data":{"type":"snapshot","timestamp":1700000000200,"instrument_name":"BTC-PERPETUAL",'
    '"change_id":1000,"bids":[["new",37010.5,12000.0],["new",37010.0,5000.0]],'
    '"asks":[["new",37011.0,3400.0],["new",37011.5,800.0]]}}}'
)
WIRE_CHANGE = (
    '{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.BTC-PERPETUAL.100ms",'
    '"data":{"type":"change","timestamp":1700000000300,"instrument_name":"BTC-PERPETUAL",'
    '"prev_change_id":1000,"change_id":1001,"bids":[["change",37010.5,11000.0]],'
    '"asks":[["delete",37011.0,0.0]]}}}'
)


def snapshot(change_id: int = 1000) -> dict[str, Any]:
    return {
        "type": "snapshot",
        "timestamp": 1,
        "instrument_name": "BTC-PERPETUAL",
        "change_id": change_id,
        "bids": [["new", 100.0, 5.0], ["new", 99.5, 1.0]],
        "asks": [["new", 101.0, 2.0], ["new", 101.5, 3.0]],
    }


def change(prev: int, cid: int, bids: Any = (), asks: Any = ()) -> dict[str, Any]:
    return {"type": "change", "timestamp": 2, "prev_change_id": prev, "change_id": cid,
            "bids": list(bids), "asks": list(asks)}  # fmt: skip


def test_book_snapshot_then_changes() -> None:
    book = OrderBook("book.BTC-PERPETUAL.100ms")
    assert book.stale and book.best_bid() is None
    assert book.apply(snapshot()) is None
    assert not book.stale and book.instrument == "BTC-PERPETUAL"
    assert book.best_bid() == (100.0, 5.0) and book.best_ask() == (101.0, 2.0)
    gap = book.apply(
        change(1000, 1001, bids=[["change", 100.0, 4.0], ["new", 100.5, 1.0]],
               asks=[["delete", 101.0, 0.0]])
    )  # fmt: skip
    assert gap is None
    assert book.best_bid() == (100.5, 1.0) and book.bids[100.0] == 4.0
    assert book.best_ask() == (101.5, 3.0)
    assert book.change_id == 1001 and book.spread() == 1.0
    bids, asks = book.top(1)
    assert bids == [(100.5, 1.0)] and asks == [(101.5, 3.0)]


def test_book_gap_clears_and_waits_for_snapshot() -> None:
    book = OrderBook("book.X.100ms")
    book.apply(snapshot(10))
    gap = book.apply(change(12, 13, bids=[["new", 1.0, 1.0]]))
    assert gap is not None and (gap.expected, gap.got, gap.change_id) == (10, 12, 13)
    assert book.stale and not book.bids and not book.asks and book.gaps == 1
    assert book.apply(change(13, 14, bids=[["new", 2.0, 1.0]])) is None  # ignored while stale
    assert not book.bids
    book.apply(snapshot(50))
    assert not book.stale and book.apply(change(50, 51)) is None


def test_book_missing_prev_change_id_is_a_gap() -> None:
    book = OrderBook("b")
    book.apply(snapshot(1))
    data = change(1, 2)
    del data["prev_change_id"]
    assert book.apply(data) is not None


def test_book_with_shared_wire_examples() -> None:
    book = OrderBook("book.BTC-PERPETUAL.100ms")
    book.apply(json.loads(WIRE_SNAPSHOT)["params"]["data"])
    assert book.apply(json.loads(WIRE_CHANGE)["params"]["data"]) is None
    assert book.bids[37010.5] == 11000.0 and 37011.0 not in book.asks


def test_signature_matches_deribit_definition() -> None:
    expected = hmac.new(b"SECRET", b"1700000000000\nabcd\n", hashlib.sha256).hexdigest()
    assert sign("SECRET", 1700000000000, "abcd") == expected
    creds = Credentials("ID", "SECRET", "client_signature")
    p = creds.auth_params()
    assert p["grant_type"] == "client_signature" and "client_secret" not in p
    assert p["signature"] == sign("SECRET", p["timestamp"], p["nonce"], "")
    assert creds.auth_params()["nonce"] != p["nonce"]


def test_credentials_from_env_and_secrecy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DERIBIT_CLIENT_ID", raising=False)
    monkeypatch.delenv("DERIBIT_CLIENT_SECRET", raising=False)
    assert Credentials.resolve(None, None, "client_credentials") is None
    monkeypatch.setenv("DERIBIT_CLIENT_ID", "envid")
    monkeypatch.setenv("DERIBIT_CLIENT_SECRET", "envsecret")
    creds = Credentials.resolve(None, None, "client_credentials")
    assert creds is not None and creds.client_id == "envid"
    assert "envsecret" not in repr(creds)
    with pytest.raises(ConfigError) as ei:
        Credentials.resolve("x", "", "client_credentials")
    assert ei.value.field == "client_secret"
    with pytest.raises(ConfigError):
        Credentials("a", "b", "password")
    tok = Token.from_result({"access_token": "AT1", "refresh_token": "RT1", "expires_in": 100}, 1)
    assert "AT1" not in repr(tok) and "RT1" not in repr(tok)
    assert tok.refresh_delay(0.8) == pytest.approx(80.0)


def test_method_table_helpers_are_documented_and_typed() -> None:
    for name, spec in METHODS.items():
        attr = getattr(DeribitClient, name)
        assert attr is spec
        assert spec.method.startswith(("public/", "private/"))
        assert spec.__doc__ and f"``{spec.method}``" in spec.__doc__
    sig = METHODS["buy"].signature()
    assert list(sig.parameters)[:2] == ["instrument_name", "amount"]
    assert sig.parameters["price"].kind is inspect.Parameter.KEYWORD_ONLY


def test_method_params_building() -> None:
    buy = METHODS["buy"]
    assert buy.params(("BTC-PERPETUAL", 10), {"price": 5.0, "label": None}) == {
        "instrument_name": "BTC-PERPETUAL",
        "amount": 10,
        "price": 5.0,
    }
    with pytest.raises(TypeError, match="missing required"):
        buy.params(("BTC-PERPETUAL",), {})
    with pytest.raises(TypeError, match="at most 2 positional"):
        buy.params(("a", 1, 2), {})
    with pytest.raises(TypeError, match="multiple values"):
        buy.params(("a", 1), {"amount": 2})


async def test_generated_helpers_call_request() -> None:
    calls: list[tuple[str, Any, Any]] = []

    class Fake:
        async def request(self, method: str, params: Any = None, *, timeout: Any = None) -> Any:
            calls.append((method, params, timeout))
            return "ok"

    fake = Fake()
    bound = METHODS["ticker"].__get__(fake, type(fake))
    assert bound.__name__ == "ticker" and "public/ticker" in (bound.__doc__ or "")
    assert await bound("ETH-PERPETUAL", timeout=2.0) == "ok"
    assert calls == [("public/ticker", {"instrument_name": "ETH-PERPETUAL"}, 2.0)]
