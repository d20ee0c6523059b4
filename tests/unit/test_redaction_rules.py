"""The one redaction rule set (zenws._redact) and the C key prefilter of recordings.

The recorder's writer decides in C (``has_secret_key``, ext/zenws_jstr.c) whether a frame
may carry a secret; only those frames reach Python's ``is_sensitive``. Besides JSON keys it
looks at the forms ``redact_text`` hides in other text (``name=value``, ``Name: value``,
``'name': value``, URL userinfo, ``Bearer`` credentials). These tests pin the C
word list to ``zenws._redact.KEY_WORDS`` and every sensitive name to one of those words, so
the two cannot drift apart: a name added to the rule set that the C code would miss fails
here.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zenws._redact import (
    ANY_WORDS,
    KEY_WORDS,
    LAST_WORDS,
    NAMES,
    is_sensitive,
    redact_json_text,
    redact_url,
)
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


def unquoted_forms(name: str) -> list[str]:
    """``name`` carrying a value outside a JSON key, as ``redact_text`` reads text."""
    return [
        f"{name}=S3CRET",
        f"a=1&{name}=S3CRET#f",
        f"{name}: S3CRET",
        f"{name}\t:S3CRET",
        f"x\\n{name}: S3CRET",
        f"{{'{name}': 'S3CRET'}}",
        f"{{'{name}' : 1}}",
        f'say "hi "{name}": S3CRET',
        f'{{"{name}"\u00a0: "S3CRET"}}',
        f'{{"url": "wss://h/ws?{name}=S3CRET"}}',
    ]


@pytest.mark.parametrize("name", sorted(NAMES | ANY_WORDS | LAST_WORDS))
def test_the_c_prefilter_passes_every_unquoted_name_to_python(name: str) -> None:
    for spelled in variants(name):
        for text in unquoted_forms(spelled):
            assert "S3CRET" not in redact_json_text(text) or "S3CRET" not in text, text
            assert has_secret_key(text), text
            assert has_secret_key(text.encode()), text


@pytest.mark.parametrize(
    "text",
    [
        "wss://trader:S3CRET@h/ws",
        '{"u": "wss://trader:S3CRET@h/ws"}',
        '{"u": "wss://h/ws?%74oken=S3CRET"}',
        '{"u": "wss://h/ws?tok\\u0065n=S3CRET"}',
        '{"u": "wss:\\/\\/trader:S3CRET\\u0040h/ws"}',
        "error: Bearer S3CRET",
        "Basic\u00a0S3CRET",
        "digest S3CRET",
    ],
)
def test_the_c_prefilter_passes_userinfo_and_credentials_to_python(text: str) -> None:
    assert "S3CRET" not in redact_json_text(text)
    assert has_secret_key(text)


@pytest.mark.parametrize("word", KEY_WORDS)
def test_each_c_word_is_searched_in_unquoted_names(word: str) -> None:
    for form in ("{}=1", "a=b&{}=1", "{}: 1", "{{'{}': 1}}"):
        assert has_secret_key(form.format(word)), form
        assert has_secret_key(form.format(word.upper() + "_long_enough_for_the_scalar_path"))
        broken = word[:-1] + ("x" if word[-1] != "x" else "y")
        if not any(w in broken for w in KEY_WORDS):
            assert not has_secret_key(form.format(broken)), form
    # a value is not a name
    assert not has_secret_key(f"v={word}")
    assert not has_secret_key(f"v: {word}")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="tokensecrigpaydlhuwjTOKEN_-19", min_size=1, max_size=24))
def test_c_prefilter_equals_the_python_word_list_in_unquoted_names(key: str) -> None:
    expected = any(w in key.lower() for w in KEY_WORDS)
    assert has_secret_key(f"{key}=0") == expected
    assert has_secret_key(f"a=1&{key}=0") == expected
    assert has_secret_key(f"{key}: 0") == expected
    assert has_secret_key(f"{{'{key}': 0}}") == expected


# the bytes the free-text rules turn on, and pieces of sensitive names
_TEXT = st.lists(
    st.sampled_from(
        [
            *"=:@&?#%/\\'\" \t\nabkKuTyx0.-_+",
            "token",
            "Secret",
            "api_key",
            "Bearer ",
            "basic ",
            "://",
            "\\u0065",
            "\u212a",
            "\u00a0",
            "\\n",
            "wss://",
            "\\/",
        ]
    ),
    max_size=40,
).map("".join)


@settings(max_examples=1500, deadline=None)
@given(_TEXT)
def test_what_the_rule_set_hides_always_reaches_python(text: str) -> None:
    """The C prefilter is a superset of the one rule set on any text, JSON or not."""
    if redact_json_text(text) != text:
        assert has_secret_key(text)
        assert has_secret_key(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "u", "x_token", "id"]), _TEXT, max_size=3))
def test_what_the_rule_set_hides_in_json_always_reaches_python(doc: dict[str, str]) -> None:
    text = json.dumps(doc)
    if redact_json_text(text) != text:
        assert has_secret_key(text)
