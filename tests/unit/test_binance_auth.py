"""Binance signing, the server clock estimate, event dedupe keys and the helper table."""

from __future__ import annotations

import base64
import inspect

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zenws.adapters._binance_auth import ServerClock
from zenws.adapters.binance import BinanceClient, Credentials, dedupe_key
from zenws.errors import ConfigError
from zenws.exchanges import binance as wire

# The "SIGNED request example (HMAC)" of Binance's WebSocket API documentation.
DOC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_PARAMS = {
    "symbol": "BTCUSDT",
    "side": "SELL",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "0.01000000",
    "price": "52000.00",
    "newOrderRespType": "ACK",
}
DOC_SIGNATURE = "cc15477742bd704c29492d96c7ead9414dfd8e0ec4a00f947bb5bb454ddbd08a"


def test_hmac_signature_matches_the_documented_example() -> None:
    signed = Credentials(DOC_KEY, DOC_SECRET).signed(DOC_PARAMS, 1645423376532, 100)
    assert signed["signature"] == DOC_SIGNATURE
    assert signed["apiKey"] == DOC_KEY and signed["recvWindow"] == 100
    assert DOC_PARAMS.get("timestamp") is None  # the caller's dict is not changed


def test_ed25519_signature_verifies_with_the_public_key() -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    creds = Credentials("k", private_key=pem)
    signed = creds.signed({"symbol": "BTCUSDT"}, 1_700_000_000_000, None)
    assert creds.key_type == "ed25519" and "recvWindow" not in signed
    payload = wire.signature_payload(signed).encode()
    key.public_key().verify(base64.b64decode(signed["signature"]), payload)  # raises if bad


def test_after_logon_only_the_timestamp_is_added() -> None:
    signed = Credentials("k", "s").signed({"a": 1}, 5, 1000, with_key=False)
    assert signed == {"a": 1, "timestamp": 5, "recvWindow": 1000}


def test_credentials_hide_their_secrets_and_reject_bad_input() -> None:
    creds = Credentials("api-key-value", "secret-value")
    assert "api-key-value" not in repr(creds) and "secret-value" not in repr(creds)
    with pytest.raises(ConfigError):
        Credentials("k")
    with pytest.raises(ConfigError):
        Credentials("k", "s", private_key=b"x")
    with pytest.raises(ConfigError, match="PEM"):
        Credentials("k", private_key=b"not a key")


def test_server_clock_uses_the_minimum_rtt_sample_of_a_drifting_host() -> None:
    host = [1000.0]  # seconds: the host clock, 2.5 s behind the server
    clock = ServerClock(wall=lambda: host[0])
    clock.add(1_000_000.0, 1_002_600.0, 1_000_200.0)  # 200 ms RTT: offset 2500
    clock.add(1_000_300.0, 1_002_810.0, 1_000_320.0)  # 20 ms RTT: offset 2500
    clock.add(1_000_400.0, 1_003_400.0, 1_000_900.0)  # 500 ms RTT, skewed by queueing
    assert clock.best is not None and clock.best.rtt_ms == 20.0
    assert clock.offset_ms == 2500.0
    assert clock.now_ms() == 1_000_000 + 2500
    host[0] = 1001.0  # the host clock moves on; the estimate follows it
    assert clock.now_ms() == 1_001_000 + 2500
    clock.clear()
    assert clock.offset_ms == 0.0 and len(clock) == 0


def test_dedupe_key_per_stream_kind() -> None:
    assert dedupe_key("btcusdt@depth@100ms", {"e": "depthUpdate", "U": 5, "u": 9}) == (
        "btcusdt@depth@100ms",
        9,
    )
    assert dedupe_key("btcusdt@trade", {"e": "trade", "t": 42, "u": 1}) == ("btcusdt@trade", 42)
    assert dedupe_key("btcusdt@aggTrade", {"e": "aggTrade", "a": 7}) == ("btcusdt@aggTrade", 7)
    assert dedupe_key("btcusdt@bookTicker", {"u": 3, "s": "BTCUSDT"}) == ("btcusdt@bookTicker", 3)
    assert dedupe_key("btcusdt@ticker", {"e": "24hrTicker"}) is None
    assert dedupe_key("x", None) is None


def test_helpers_come_from_the_method_table() -> None:
    assert inspect.signature(BinanceClient.order_place.__get__(object())).parameters.keys() >= {
        "symbol",
        "side",
        "type",
        "timeout",
    }
    for helper in ("ping", "time", "exchange_info", "depth", "ticker_price", "ticker_book",
                   "order_place", "order_test", "order_cancel", "order_status",
                   "open_orders_status", "account_status",
                   "user_data_stream_subscribe"):  # fmt: skip
        method = vars(BinanceClient)[helper].method
        assert method in wire.METHODS, method
        signed = wire.METHODS[method].signed
        assert ("(signed)" in (vars(BinanceClient)[helper].__doc__ or "")) == signed
