"""The one redaction rule set (zenws._redact) and the C key prefilter of recordings.

The recorder's writer decides in C (``has_secret_key``, ext/zenws_jstr.c) whether a frame
may carry a secret; only those frames reach Python's ``is_sensitive``. These tests pin the C
word list to ``zenws._redact.KEY_WORDS`` and every sensitive name to one of those words, so
the two cannot drift apart: a name added to the rule set that the C code would miss fails
here.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zenws._redact import ANY_WORDS, KEY_WORDS, LAST_WORDS, NAMES, is_sensitive, redact_url
from zenws.config import Config
from zenws.fast.jsonl import has_secret_key

# Names the project documents as secret (DESIGN §3, docs/config.md): each must stay in the
# enumerated rule set, so that every surface test covers it.
DOCUMENTED = {
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-mbx-apikey",
    "client_secret", "access_token", "refresh_token", "signature", "sig", "sign", "password",
    "passwd", "pass", "secret", "token", "auth", "session", "jwt", "api_key", "apikey",
    "x-bapi-sign", "ok-access-sign", "access-sign", "api-sign", "x-custom-auth", "x-session",
}  # fmt: skip

NEAR_MISSES = (
    "token_type", "tokenType", "key_id", "signal", "keyword", "passive", "author", "authority",
    "expires_in", "scope", "grant_type", "client_id", "session_id", "sessions", "tokens_left",
    "signed", "design", "monkey", "id", "method", "jsonrpc", "params", "result", "channel",
)  # fmt: skip


def variants(name: str) -> list[str]:
    """Spellings of one name a peer may use."""
    parts = [p for p in name.replace("-", "_").split("_") if p]
    camel = parts[0] + "".join(p.title() for p in parts[1:])
    return [
        name,
        name.upper(),
        name.title(),
        "_".join(parts),
        "-".join(parts),
        camel,
        "x-" + name,
        "my_" + name,
    ]


def test_documented_names_are_in_the_rule_set() -> None:
    missing = DOCUMENTED - NAMES
    assert not missing, f"documented secret names missing from _redact.NAMES: {missing}"


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_documented_names_are_hidden_in_urls_and_reprs(name: str) -> None:
    assert is_sensitive(name)
    url = f"wss://h.example/ws?{name}=S3CRET"
    assert "S3CRET" not in redact_url(url)
    assert "S3CRET" not in repr(Config(url, headers={name: "S3CRET"}))


@pytest.mark.parametrize("name", sorted(NAMES))
def test_every_spelling_of_a_name_is_sensitive(name: str) -> None:
    for spelled in variants(name):
        assert is_sensitive(spelled), spelled


@pytest.mark.parametrize("name", sorted(NAMES | ANY_WORDS | LAST_WORDS))
def test_the_c_prefilter_passes_every_sensitive_name_to_python(name: str) -> None:
    for spelled in variants(name):
        assert any(w in spelled.lower() for w in KEY_WORDS), spelled
        doc = json.dumps({"id": 1, "params": {spelled: "S3CRET"}})
        assert has_secret_key(doc), spelled
        assert has_secret_key(doc.encode()), spelled


@pytest.mark.parametrize("name", NEAR_MISSES)
def test_near_misses_are_not_sensitive(name: str) -> None:
    assert not is_sensitive(name)


@pytest.mark.parametrize("word", KEY_WORDS)
def test_each_c_word_is_searched_and_no_other(word: str) -> None:
    assert has_secret_key(json.dumps({word: 1}))
    assert has_secret_key(json.dumps({word.upper() + "_long_enough_for_the_scalar_path": 1}))
    # one letter changed: no longer a word of the C list
    broken = word[:-1] + ("x" if word[-1] != "x" else "y")
    if not any(w in broken for w in KEY_WORDS):
        assert not has_secret_key(json.dumps({broken: 1}))
    # a value is not a key
    assert not has_secret_key(json.dumps({"v": word}))


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="tokensecrigpaydlhuwjTOKEN_-19", min_size=1, max_size=24))
def test_c_prefilter_equals_the_python_word_list(key: str) -> None:
    """Keys of up to 16 bytes take the SSE2 path, longer ones the scalar loop."""
    expected = any(w in key.lower() for w in KEY_WORDS)
    assert has_secret_key(json.dumps({key: 0})) == expected


@given(st.text(min_size=1, max_size=30))
def test_sensitive_names_always_reach_python(key: str) -> None:
    if is_sensitive(key):
        assert has_secret_key(json.dumps({key: 0}, ensure_ascii=False))
