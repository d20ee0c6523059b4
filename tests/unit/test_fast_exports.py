"""zenws.fast re-exports every primitive DESIGN §2 names, each from its compiled module."""

from __future__ import annotations

import importlib
import importlib.machinery

import pytest

import zenws.fast


@pytest.mark.parametrize("name", zenws.fast.__all__)
def test_every_exported_name_resolves_to_a_compiled_module(name: str) -> None:
    value = getattr(zenws.fast, name)
    module = zenws.fast._WHERE[name]
    assert getattr(importlib.import_module(f"zenws.fast.{module}"), name) is value
    path = importlib.import_module(f"zenws.fast.{module}").__file__ or ""
    assert path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def test_design_names_are_exported() -> None:
    for name in (
        "scan_id",
        "Correlator",
        "LatencyBuffer",
        "TokenBucket",
        "FastListener",
        "encode",
        "decode",
        "apply_mask",
    ):
        assert name in zenws.fast.__all__


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        zenws.fast.no_such_thing  # noqa: B018
