"""Every name of the redaction rule set, on every surface that needs no server.

Parametrized over ``zenws._redact.NAMES``: a name added to the rule set is covered here
automatically (URL query, headers, params mappings, Config repr and errors, free text, the
picows logger adapter at level 1, recordings written and read back). Surfaces that need a
server (client logs, telemetry, exceptions of a real connect, the CLI) are in
tests/integration/test_redaction_on_the_wire.py.
"""

from __future__ import annotations

import io
import json
import logging
import pathlib

import pytest

import zenws
from zenws._logging import RedactingAdapter
from zenws._redact import (
    NAMES,
    REDACTED,
    redact_json_text,
    redact_mapping,
    redact_text,
    redact_url,
)
from zenws.config import Config
from zenws.errors import ConfigError, explain
from zenws.fast.jsonl import encode_batch

ALL = sorted(NAMES)
# names that cannot be extra handshake headers (Config owns them) or are not header tokens
HEADER_NAMES = [n for n in ALL if n.lower() not in ("sec-websocket-key",)]


def secret(name: str, where: str) -> str:
    return f"S3CRET-{where}-{name.replace('_', '-')}"


@pytest.mark.parametrize("name", ALL)
def test_url_query(name: str) -> None:
    url = f"wss://h.example/ws?{name}={secret(name, 'q')}&channel=ticker"
    shown = redact_url(url)
    assert "S3CRET" not in shown
    assert f"{name}={REDACTED}" in shown and "channel=ticker" in shown
    cfg = Config(url)
    assert "S3CRET" not in repr(cfg) and "S3CRET" not in str(cfg)
    assert cfg.url == url  # the real value is still what is sent


@pytest.mark.parametrize("name", HEADER_NAMES)
def test_headers_in_config_repr(name: str) -> None:
    value = secret(name, "h")
    cfg = Config("wss://h.example/ws", headers={name: value, "X-Trace": "visible"})
    assert "S3CRET" not in repr(cfg)
    assert "visible" in repr(cfg)
    assert (name, value) in cfg.headers


@pytest.mark.parametrize("name", ALL)
def test_params_mapping(name: str) -> None:
    params = {
        name: secret(name, "p"),
        "nested": [{name: secret(name, "n")}],
        "token_type": "bearer",
    }
    clean = redact_mapping(params)
    assert "S3CRET" not in repr(clean)
    assert clean["token_type"] == "bearer"
    assert params[name] == secret(name, "p")  # a copy: the request is unchanged


@pytest.mark.parametrize("name", ALL)
def test_config_errors(name: str) -> None:
    bad = f"ws://u:{secret(name, 'ui')}@h.example/ws?{name}={secret(name, 'q')}#frag"
    with pytest.raises(ConfigError) as info:
        Config(bad)
    text = f"{info.value} {info.value!r} {' '.join(explain(info.value))}"
    assert "S3CRET" not in text


@pytest.mark.parametrize("name", ALL)
def test_free_text(name: str) -> None:
    value = secret(name, "t")
    lines = [
        f'{{"jsonrpc":"2.0","params":{{"{name}":"{value}","token_type":"bearer"}}}}',
        f"{{'{name}': '{value}', 'n': 1}}",
        f"GET /ws?{name}={value} HTTP/1.1\r\n{name}: {value}\r\nHost: h\r\n\r\n",
        repr(f"GET / HTTP/1.1\r\n{name}: {value}\r\n\r\n".encode()),
        f"open wss://trader:{value}@h/ws {name}={value}",
    ]
    for line in lines:
        shown = redact_text(line)
        assert value not in shown, shown
    assert "bearer" in redact_text(lines[0])


@pytest.mark.parametrize("name", ALL)
def test_logger_handed_to_picows_at_level_1(name: str) -> None:
    """picows logs the upgrade request as bytes at level 9; nothing secret gets through."""
    value = secret(name, "log")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(1)
    base = logging.getLogger(f"zenws.test.redaction.{name}")
    base.setLevel(1)
    base.addHandler(handler)
    try:
        log = RedactingAdapter(base, {})
        request = (
            f"GET /ws?{name}={value} HTTP/1.1\r\nHost: h:1\r\n{name}: {value}\r\n"
            f"Authorization: Basic {value}\r\n\r\n"
        ).encode()
        log.log(9, "Send upgrade request: %s", request)
        log.log(1, "New data: %s", memoryview(request))
        log.info("%s replied with HTTP redirect to %s", f"ws://u:{value}@h/", f"ws://h/?{name}=x")
        try:
            raise RuntimeError(f"boom {name}={value}")
        except RuntimeError:
            log.exception("listener failed")
    finally:
        base.removeHandler(handler)
    text = stream.getvalue()
    assert "Send upgrade request" in text and "listener failed" in text and "boom" in text
    assert value not in text


@pytest.mark.parametrize("name", ALL)
def test_recording_round_trip(name: str, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "session.jsonl"
    value = secret(name, "r")
    frames = [
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": "public/auth", "params": {name: value}}),
        json.dumps({"id": 1, "result": {name: value, "token_type": "bearer", "expires_in": 900}}),
        '{"' + name + '": "' + value + '", broken json',
    ]
    with zenws.record(
        path,
        url=f"wss://trader:{value}@h/ws?{name}={value}",
        metadata={"headers": [[name, value]], name: value, "note": "kept"},
    ) as rec:
        for i, text in enumerate(frames):
            rec.write("out" if i == 0 else "in", "text", text, 1)
    raw = path.read_text()
    assert value not in raw
    meta = zenws.metadata(path)
    assert "kept" in raw
    assert meta is not None
    read, errors = zenws.recorder.read_recording(path)
    assert not errors
    result = json.loads(read[1].data)["result"]
    assert result[name] == REDACTED
    assert result["token_type"] == "bearer" and result["expires_in"] == 900


def test_recording_keeps_harmless_near_misses_byte_for_byte(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "near.jsonl"
    text = '{"result":{"token_type":"bearer","key_id":"k1","signal":1,"expires_in":900}}'
    with zenws.record(path) as rec:
        rec.write("in", "text", text, 1)
    read, _ = zenws.recorder.read_recording(path)
    assert read[0].data == text


def unquoted_frames(name: str, value: str) -> list[str]:
    """Text frames carrying ``value`` under ``name`` with no JSON key around it."""
    return [
        f"{name}={value}&channel=ticker",
        f"op=login&{name.upper()}={value}",
        f"GET /ws?a=1&{name}={value} HTTP/1.1\r\n{name}: {value}\r\nHost: h\r\n\r\n",
        f"{name.title()}: {value}",
        f"{{'{name}': '{value}', 'n': 1}}",
        f'say "hi "{name}": {value}',
        f"error: invalid credentials Bearer {value}",
        json.dumps({"id": 1, "result": {"redirect": f"wss://h/ws?{name}={value}"}}),
        json.dumps({"id": 2, "result": {"url": f"wss://trader:{value}@h/ws"}}),
    ]


@pytest.mark.parametrize("name", ALL)
def test_recording_hides_unquoted_secrets(name: str, tmp_path: pathlib.Path) -> None:
    """``k=v``, header lines, Python reprs and URLs in a frame: the compiled writer and the
    Python rule set (``redact_json_text``) write the same thing, and no secret."""
    value = secret(name, "u")
    frames = unquoted_frames(name, value)
    path = tmp_path / "unquoted.jsonl"
    with zenws.record(path) as rec:
        for text in frames:
            rec.write("in", "text", text, 1)
            rec.write("in", "text", text.encode(), 1)
    assert value not in path.read_text()
    read, errors = zenws.recorder.read_recording(path)
    assert not errors
    expected = [redact_json_text(t) for t in frames for _ in (str, bytes)]
    assert [f.data for f in read] == expected


@pytest.mark.parametrize("name", ALL)
def test_encode_batch_sends_unquoted_secrets_to_python(name: str) -> None:
    value = secret(name, "b")
    frames = unquoted_frames(name, value)
    entries = [(i, "in", "text", t, 1, None, "") for i, t in enumerate(frames)]
    seen: list[str] = []

    def fallback(entry: tuple[object, ...]) -> bytes:
        seen.append(str(entry[3]))
        return json.dumps({"data": redact_json_text(str(entry[3]))}).encode() + b"\n"

    out = encode_batch(entries, 0, 0, True, fallback)
    assert value.encode() not in out
    assert seen == frames
    # without redaction nothing goes to Python: the frames are plain UTF-8 text
    assert value.encode() in encode_batch(entries, 0, 0, False, fallback)
    assert seen == frames


@pytest.mark.parametrize("name", ALL)
def test_recording_hides_secrets_in_close_reasons(name: str, tmp_path: pathlib.Path) -> None:
    """A close reason is peer text like a frame: the same rule set hides secrets in it, and an
    ordinary reason is recorded as it was."""
    value = secret(name, "c")
    reasons = [f"{name}={value}", f"{name}: {value}", "going away"]
    path = tmp_path / "close.jsonl"
    with zenws.record(path) as rec:
        for reason in reasons:
            rec.write("in", "close", None, 1, code=1000, reason=reason)
    assert value not in path.read_text()
    read, errors = zenws.recorder.read_recording(path)
    assert not errors
    assert [f.reason for f in read] == [redact_text(r) for r in reasons]
    assert read[-1].reason == "going away"
