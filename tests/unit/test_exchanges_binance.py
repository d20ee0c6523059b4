"""``zenws.exchanges.binance``: the signature payload rule, stream grammar and weight rules."""

from __future__ import annotations

import pytest

from zenws.exchanges import binance

# The documented example (web-socket-api.md, "SIGNED request example"): every param but
# ``signature``, sorted by name, ``k=v`` joined with ``&``.
_DOC_PARAMS = {
    "symbol": "BTCUSDT",
    "side": "SELL",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "0.01000000",
    "price": "52000.00",
    "recvWindow": 100,
    "timestamp": 1645423376532,
    "apiKey": "key",
    "signature": "------ FILL ME ------",
}
_DOC_PAYLOAD = (
    "apiKey=key&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT"
    "&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"
)


def test_signature_payload_is_the_documented_one() -> None:
    assert binance.signature_payload(_DOC_PARAMS) == _DOC_PAYLOAD


def test_signature_payload_formats_booleans_as_json_does() -> None:
    assert binance.signature_payload({"b": True, "a": False, "c": 1}) == "a=false&b=true&c=1"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("btcusdt@depth", binance.Stream("BTCUSDT", "depth", 0, 1000)),
        ("btcusdt@depth@100ms", binance.Stream("BTCUSDT", "depth", 0, 100)),
        ("ethusdt@depth20@100ms", binance.Stream("ETHUSDT", "depth", 20, 100)),
        ("bnbbtc@trade", binance.Stream("BNBBTC", "trade")),
        ("bnbbtc@bookTicker", binance.Stream("BNBBTC", "bookTicker")),
        ("bnbbtc@ticker", binance.Stream("BNBBTC", "ticker")),
        ("bnbbtc@kline_1m", binance.Stream("BNBBTC", "kline", interval="1m")),
        ("BNBBTC@trade", None),  # symbols are lower case in stream names
        ("bnbbtc@depth7", None),
        ("bnbbtc@depth@10ms", None),
        ("bnbbtc", None),
    ],
)
def test_stream_grammar(name: str, expected: binance.Stream | None) -> None:
    assert binance.parse_stream(name) == expected


def test_weights_that_depend_on_params() -> None:
    assert [binance.weight("depth", {"limit": n}) for n in (5, 100, 101, 500, 1000, 5000)] == [
        5,
        5,
        25,
        25,
        50,
        250,
    ]
    assert binance.weight("depth") == binance.WEIGHTS["depth"]
    assert binance.weight("ticker.price", {"symbol": "BTCUSDT"}) == 2
    assert binance.weight("ticker.price", {}) == 4
    assert binance.weight("openOrders.status", {}) == 80
    assert binance.weight("order.test", {"computeCommissionRates": True}) == 20
    assert binance.weight("klines") == 2 and binance.weight("unknown") == 1


def test_method_table_security_and_order_counting() -> None:
    m = binance.METHODS
    assert m["order.place"].signed and m["order.place"].orders
    assert m["order.status"].signed and not m["order.status"].orders
    assert not m["order.test"].orders and not m["order.cancel"].orders
    assert not m["depth"].signed and m["depth"].security == "NONE"
    assert m["userDataStream.subscribe"].security == "USER_STREAM"
    one = {"symbol": "BTCUSDT"}  # the table gives the one-symbol, default-limit weight
    assert all(m[name].weight(one) == binance.WEIGHTS[name] for name in m)
