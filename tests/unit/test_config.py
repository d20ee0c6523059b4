"""Config: defaults, validation (one clear message per field), normalization, redaction."""

from __future__ import annotations

import dataclasses
import logging
import math
import pathlib
import ssl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zenws._redact import redact, redact_headers, redact_mapping, redact_url
from zenws.config import (
    BACKOFF_JITTERS,
    DECODERS,
    DIALECTS,
    HEARTBEATS,
    OVERFLOW_POLICIES,
    RATE_LIMIT_PRESETS,
    Config,
)
from zenws.errors import ConfigError

URL = "ws://127.0.0.1:9000/ws"

DEFAULTS = {
    "headers": (),
    "connect_timeout": 5.0,
    "retry_count": None,
    "retry_delay": 0.5,
    "max_backoff": 30.0,
    "backoff_jitter": "full",
    "stable_after": 10.0,
    "heartbeat": None,
    "heartbeat_interval": 15.0,
    "heartbeat_timeout": None,
    "idle_timeout": None,
    "reconnect_on_error": True,
    "restore_subscriptions": True,
    "request_timeout": 30.0,
    "max_message_size": 16 * 1024 * 1024,
    "compression": None,
    "queue_size": 4096,
    "overflow": "drop_oldest",
    "rate_limit": None,
    "debug": False,
    "latency_buffer_size": 1024,
    "record_to": None,
    "ssl": None,
    "proxy": None,
    "decoder": "zenws",
    "subprotocols": (),
    "dialect": "jsonrpc",
    "subscribe_chunk": 250,
    "close_timeout": 5.0,
    "logger": None,
    "idempotent_methods": (),
    "name": None,
    "deliver_heartbeats": False,
    "max_connection_age": None,
    "rotate_before": None,
    "rotation_timeout": 30.0,
    "rotation_window": 4096,
    "sequence_key": None,
    "attempt_limit": None,
}


def test_defaults_are_exactly_the_documented_ones() -> None:
    cfg = Config.new(URL)
    names = [f.name for f in dataclasses.fields(Config)]
    assert names == ["url", *DEFAULTS]
    for name, value in DEFAULTS.items():
        assert getattr(cfg, name) == value, name
    assert cfg.effective_heartbeat_timeout == 30.0


def test_frozen_and_slotted() -> None:
    cfg = Config.new(URL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.queue_size = 1  # type: ignore[misc]
    assert not hasattr(cfg, "__dict__")


def test_unknown_option_is_named_with_a_suggestion() -> None:
    with pytest.raises(ConfigError) as ei:
        Config.new(URL, retry_dleay=1.0)
    assert "retry_dleay" in str(ei.value) and "did you mean 'retry_delay'" in str(ei.value)
    assert ei.value.field == "retry_dleay"
    with pytest.raises(ConfigError) as ei:
        Config.new(URL, zzz=1, qqq=2)
    assert "'qqq'" in str(ei.value) and "'zzz'" in str(ei.value)
    with pytest.raises(ConfigError):
        Config.new(URL).replace(queue_sise=3)


def test_from_options_accepts_a_config() -> None:
    base = Config.from_options(URL, queue_size=10)
    assert Config.from_options(base) is base
    assert Config.from_options(base, queue_size=20).queue_size == 20


def test_headers_mapping_and_pairs_normalize_to_tuples() -> None:
    a = Config.new(URL, headers={"X-A": "1", "X-B": "2"})
    b = Config.new(URL, headers=[["X-A", "1"], ("X-B", "2")])
    assert a.headers == b.headers == (("X-A", "1"), ("X-B", "2"))
    assert a == b and hash(a) == hash(b)


@pytest.mark.parametrize("name", ["Sec-WebSocket-Key", "Host", "Upgrade", "sec-websocket-protocol"])
def test_handshake_headers_are_reserved(name: str) -> None:
    with pytest.raises(ConfigError, match="headers") as ei:
        Config.new(URL, headers={name: "x"})
    assert ei.value.field == "headers"


def test_header_values_never_echoed_in_errors() -> None:
    with pytest.raises(ConfigError) as ei:
        Config.new(URL, headers={"Authorization": "Bearer sekrit\r\nX: y"})
    assert "sekrit" not in str(ei.value)


def test_cross_field_rules() -> None:
    with pytest.raises(ConfigError) as ei:
        Config.new(URL, retry_delay=5, max_backoff=1)
    assert ei.value.field == "max_backoff" and "retry_delay" in str(ei.value)
    with pytest.raises(ConfigError) as ei:
        Config.new("ws://h", ssl=True)
    assert ei.value.field == "ssl"
    assert Config.new("wss://h", ssl=ssl.create_default_context()).is_secure


def test_heartbeat_timeout_derivation_follows_interval() -> None:
    cfg = Config.new(URL, heartbeat_interval=4)
    assert cfg.effective_heartbeat_timeout == 8.0
    assert cfg.replace(heartbeat_interval=10).effective_heartbeat_timeout == 20.0
    assert cfg.replace(heartbeat_timeout=1.5).effective_heartbeat_timeout == 1.5


def test_scheme_is_stored_lower_case() -> None:
    assert Config.new("WSS://Host.Example/Path").url == "wss://Host.Example/Path"
    assert Config.new("Ws://h").is_secure is False


def test_replace_revalidates() -> None:
    cfg = Config.new(URL)
    with pytest.raises(ConfigError) as ei:
        cfg.replace(queue_size=0)
    assert ei.value.field == "queue_size"


def test_heartbeat_and_dialect_objects_accepted() -> None:
    class Beat:
        def on_frame(self) -> None: ...

    class Limiter:
        def try_acquire(self, method: str) -> bool:
            return True

    beat, lim = Beat(), Limiter()
    cfg = Config.new(URL, heartbeat=beat, dialect=beat, rate_limit=lim)
    assert cfg.heartbeat is beat and cfg.dialect is beat and cfg.rate_limit is lim
    assert Config.new(URL, heartbeat="none").heartbeat is None


def test_record_to_accepts_pathlike(tmp_path: pathlib.Path) -> None:
    cfg = Config.new(URL, record_to=tmp_path / "x.jsonl")
    assert cfg.record_to == str(tmp_path / "x.jsonl")


def test_repr_redacts_secrets() -> None:
    cfg = Config.new(
        "wss://bob:hunter2@example.com/ws?access_token=tok123&channel=ticker",
        headers={"Authorization": "Bearer abc", "X-Api-Key": "k1", "X-Trace": "visible"},
        proxy="http://u:proxypw@proxy:3128",
    )
    text = repr(cfg)
    for secret in ("hunter2", "tok123", "Bearer abc", "k1", "proxypw"):
        assert secret not in text
    assert "visible" in text and "channel=ticker" in text and text == str(cfg)


def test_redact_helpers() -> None:
    assert redact_url("wss://h/p?signature=s&x=1") == "wss://h/p?signature=***&x=1"
    assert redact_url("wss://h/p?x=1") == "wss://h/p?x=1"
    assert redact_headers([("Cookie", "c"), ("Accept", "a")]) == (
        ("Cookie", "***"),
        ("Accept", "a"),
    )
    params = {
        "grant_type": "client_credentials",
        "Client_Secret": "s",
        "nested": [{"refresh_token": "r", "n": 1}],
        "access_token": "a",
    }
    out = redact_mapping(params)
    assert out == {
        "grant_type": "client_credentials",
        "Client_Secret": "***",
        "nested": [{"refresh_token": "***", "n": 1}],
        "access_token": "***",
    }
    assert params["Client_Secret"] == "s"  # the input is not modified


# -- property tests ------------------------------------------------------------------------


def _not_in(choices: tuple[str, ...]) -> st.SearchStrategy[object]:
    return st.one_of(st.text().filter(lambda s: s not in choices), st.integers(), st.just(None))


_bad_pos_seconds = st.one_of(
    st.floats(max_value=0.0),
    st.just(math.nan),
    st.just(math.inf),
    st.booleans(),
    st.text(),
)
_bad_nonneg_seconds = st.one_of(
    st.floats(max_value=-1e-9),
    st.just(math.nan),
    st.booleans(),
    st.text(),
)
_bad_pos_int = st.one_of(st.integers(max_value=0), st.floats(), st.booleans(), st.text())
_bad_names = st.one_of(
    st.text(),
    st.integers(),
    st.lists(st.one_of(st.integers(), st.just("")), min_size=1),
)

BAD: dict[str, st.SearchStrategy[object]] = {
    "url": st.one_of(
        st.integers(),
        st.sampled_from(
            ["", "http://h/", "h:80", "ws://", "ws:///p", "wss://h/#x", "ws://h:99999"]
        ),
        st.text().map(lambda s: "ftp://host/" + s),
    ),
    "headers": st.one_of(
        st.integers(),
        st.text(min_size=1),
        st.lists(st.integers(), min_size=1),
        st.text(alphabet="\r\n", min_size=1).map(lambda s: {"X-A": "v" + s}),
        st.just({"": "x"}),
        st.just({"bad name": "x"}),
    ),
    "connect_timeout": _bad_pos_seconds,
    "retry_count": st.one_of(st.integers(max_value=-1), st.floats(), st.booleans(), st.text()),
    "retry_delay": _bad_nonneg_seconds,
    "max_backoff": st.one_of(_bad_nonneg_seconds, st.floats(min_value=0, max_value=0.49)),
    "backoff_jitter": _not_in(BACKOFF_JITTERS),
    "stable_after": _bad_nonneg_seconds,
    "heartbeat": st.one_of(
        st.text().filter(lambda s: s not in (*HEARTBEATS, "none")),
        st.integers(),
        st.floats(),
        st.lists(st.integers()),
    ),
    "heartbeat_interval": _bad_pos_seconds,
    "heartbeat_timeout": _bad_pos_seconds,
    "idle_timeout": _bad_pos_seconds,
    "reconnect_on_error": st.one_of(st.integers(), st.text(), st.none()),
    "restore_subscriptions": st.one_of(st.integers(), st.text(), st.none()),
    "deliver_heartbeats": st.one_of(st.integers(), st.text(), st.none()),
    "attempt_limit": st.one_of(
        st.integers(),
        st.text(),
        st.tuples(st.integers(max_value=0), st.floats(0.001, 1e6)),
        st.tuples(st.integers(1, 10), st.floats(max_value=0) | st.just(float("inf"))),
        st.tuples(st.integers(1, 10)),
    ),
    "request_timeout": _bad_pos_seconds,
    "max_message_size": _bad_pos_int,
    "compression": st.one_of(st.text().filter(lambda s: s != "deflate"), st.integers()),
    "queue_size": _bad_pos_int,
    "overflow": _not_in(OVERFLOW_POLICIES),
    "rate_limit": st.one_of(
        st.text().filter(lambda s: s not in RATE_LIMIT_PRESETS), st.integers(), st.just(object())
    ),
    "debug": st.one_of(st.integers(), st.text(), st.none()),
    "latency_buffer_size": _bad_pos_int,
    "record_to": st.one_of(st.integers(), st.just(""), st.text().map(lambda s: s + "\0")),
    "ssl": st.one_of(st.integers(), st.text(), st.just(True)),  # True needs wss://
    "proxy": st.one_of(st.integers(), st.text().map(lambda s: "ftp://h/" + s), st.just("h:1")),
    "decoder": _not_in(DECODERS),
    "subprotocols": _bad_names,
    "dialect": st.one_of(st.text().filter(lambda s: s not in DIALECTS), st.integers(), st.none()),
    "subscribe_chunk": _bad_pos_int,
    "close_timeout": _bad_pos_seconds,
    "logger": st.one_of(st.integers(), st.just(""), st.lists(st.text())),
    "idempotent_methods": _bad_names,
    "name": st.one_of(
        st.integers(), st.just(""), st.just(" x"), st.just("a\nb"), st.text(min_size=201)
    ),
    "max_connection_age": _bad_pos_seconds,
    "rotate_before": _bad_pos_seconds,
    "rotation_timeout": _bad_pos_seconds,
    "rotation_window": _bad_pos_int,
    "sequence_key": st.one_of(st.integers(), st.text(), st.just(b"key")),
}


def test_every_field_has_a_bad_value_strategy() -> None:
    assert set(BAD) == {f.name for f in dataclasses.fields(Config)}


@pytest.mark.parametrize("name", sorted(BAD))
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_bad_value_rejected_naming_the_field(name: str, data: st.DataObject) -> None:
    value = data.draw(BAD[name], label=name)
    with pytest.raises(ConfigError) as ei:
        if name == "url":
            Config.new(value)  # type: ignore[arg-type]
        else:
            Config.new(URL, **{name: value})
    assert ei.value.field == name
    assert str(ei.value).startswith(f"{name}:")


_token = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFXYZ0123456789-_", min_size=1, max_size=12
)
_header_value = st.text(
    alphabet=st.characters(blacklist_characters="\r\n\0", blacklist_categories=("Cs",)), max_size=20
)
_pos = st.floats(min_value=0.001, max_value=1e6)

GOOD = st.fixed_dictionaries(
    {},
    optional={
        "headers": st.lists(
            st.tuples(_token.map(lambda s: "X-" + s), _header_value), max_size=4
        ).map(tuple),
        "connect_timeout": _pos,
        "retry_count": st.one_of(st.none(), st.integers(0, 10**6)),
        "retry_delay": st.floats(0, 10),
        "max_backoff": st.floats(10, 1000),
        "backoff_jitter": st.sampled_from(BACKOFF_JITTERS),
        "stable_after": st.floats(0, 1e4),
        "heartbeat": st.sampled_from((None, *HEARTBEATS)),
        "heartbeat_interval": _pos,
        "heartbeat_timeout": st.one_of(st.none(), _pos),
        "idle_timeout": st.one_of(st.none(), _pos),
        "reconnect_on_error": st.booleans(),
        "restore_subscriptions": st.booleans(),
        "deliver_heartbeats": st.booleans(),
        "attempt_limit": st.one_of(st.none(), st.tuples(st.integers(1, 10**4), _pos)),
        "request_timeout": _pos,
        "max_message_size": st.integers(1, 2**40),
        "compression": st.sampled_from((None, "deflate")),
        "queue_size": st.integers(1, 10**7),
        "overflow": st.sampled_from(OVERFLOW_POLICIES),
        "rate_limit": st.sampled_from((None, *RATE_LIMIT_PRESETS)),
        "debug": st.booleans(),
        "latency_buffer_size": st.integers(1, 10**7),
        "record_to": st.one_of(st.none(), _token.map(lambda s: f"/tmp/{s}.jsonl")),
        "ssl": st.sampled_from((None, False)),
        "proxy": st.one_of(st.none(), _token.map(lambda s: f"http://{s}:3128")),
        "decoder": st.sampled_from(DECODERS),
        "subprotocols": st.lists(_token, max_size=3).map(tuple),
        "dialect": st.sampled_from(DIALECTS),
        "subscribe_chunk": st.integers(1, 1000),
        "close_timeout": _pos,
        "logger": st.one_of(st.none(), _token, st.just(logging.getLogger("t"))),
        "idempotent_methods": st.lists(_token, max_size=3).map(tuple),
        "max_connection_age": st.one_of(st.none(), st.floats(10, 1e6)),
        "rotate_before": st.one_of(st.none(), st.floats(0.001, 9)),
        "rotation_timeout": _pos,
        "rotation_window": st.integers(1, 10**6),
    },
)


@settings(max_examples=150, deadline=None)
@given(kw=GOOD, secure=st.booleans(), port=st.integers(1, 65535))
def test_good_values_round_trip(kw: dict[str, object], secure: bool, port: int) -> None:
    url = f"{'wss' if secure else 'ws'}://host.example:{port}/path?x=1"
    cfg = Config.new(url, **kw)
    assert cfg.url == url
    for name, value in kw.items():
        got = getattr(cfg, name)
        assert got == value and type(got) is type(value), name
    assert cfg.replace() == cfg
    rebuilt = Config.new(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)})
    assert rebuilt == cfg


@settings(max_examples=60, deadline=None)
@given(secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=8, max_size=20))
def test_repr_never_contains_secret_values(secret: str) -> None:
    cfg = Config.new(
        f"wss://user:{secret}@h/p?client_secret={secret}",
        headers=[("Authorization", secret), ("X-Session-Token", secret), ("Cookie", secret)],
    )
    assert secret not in repr(cfg)


_SECRET_NAMES = st.sampled_from(
    ["access_token", "Refresh_Token", "client_secret", "signature", "api_key", "X-Api-Key",
     "password", "sessionToken", "apiSecret", "passphrase"]
)  # fmt: skip
_SECRET = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ23456789", min_size=8, max_size=24)


@settings(max_examples=100, deadline=None)
@given(name=_SECRET_NAMES, secret=_SECRET, depth=st.integers(0, 3))
def test_redaction_hides_secret_names_everywhere(name: str, secret: str, depth: int) -> None:
    assert secret not in redact_url(f"wss://h.example/p?{name}={secret}&channel=x")
    assert secret not in redact_url(f"wss://user:{secret}@h.example/p")
    assert secret not in str(redact_headers([(name, secret), ("Accept", "x")]))
    doc: object = {name: secret, "keep": "visible"}
    for _ in range(depth):
        doc = {"params": [doc]}
    out = str(redact_mapping(doc))
    assert secret not in out and "visible" in out


def test_redact_dispatches_on_type() -> None:
    assert redact("wss://h/?token=abc") == "wss://h/?token=***"
    assert redact("plain text token=abc") == "plain text token=abc"
    assert redact([("Authorization", "x")]) == (("Authorization", "***"),)
    assert redact({"params": {"client_secret": "s"}}) == {"params": {"client_secret": "***"}}
    assert redact([{"signature": "s"}]) == [{"signature": "***"}]
