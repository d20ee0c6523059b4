"""The rotation options of zenws.Config."""

from __future__ import annotations

import pytest

from zenws import Config, ConfigError
from zenws.exchanges.sequences import deribit_key

URL = "wss://host.example/ws"


def test_rotation_options_are_validated_together() -> None:
    cfg = Config.new(URL, max_connection_age=86400, rotate_before=600, rotation_timeout=20)
    assert (cfg.max_connection_age, cfg.rotate_before, cfg.rotation_timeout) == (
        86400.0,
        600.0,
        20.0,
    )
    with pytest.raises(ConfigError) as caught:
        Config.new(URL, max_connection_age=60, rotate_before=60)
    assert caught.value.field == "rotate_before"
    assert "below max_connection_age" in str(caught.value)
    # rotate_before alone is fine (no age: no automatic rotation, the value waits)
    assert Config.new(URL, rotate_before=5).rotate_before == 5.0


def test_sequence_key_takes_a_function() -> None:
    assert Config.new(URL, sequence_key=deribit_key).sequence_key is deribit_key
    with pytest.raises(ConfigError) as caught:
        Config.new(URL, sequence_key="change_id")
    assert caught.value.field == "sequence_key"
