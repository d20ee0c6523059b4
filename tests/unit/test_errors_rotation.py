"""RotationFailed: exported with the other errors, categorized and explained."""

from __future__ import annotations

from test_errors import anchors

import zenws
import zenws.errors
import zenws.rotation
from zenws.errors import (
    Category,
    ConnectError,
    RotationFailed,
    ZenwsError,
    categorize,
    explain,
)


def failed(step: str, cause: BaseException | None = None, msg: str = "x") -> RotationFailed:
    """Raised the way a rotation raises it (``raise ... from`` its cause)."""
    try:
        if cause is None:
            raise RotationFailed(msg, step=step)
        try:
            raise cause
        except BaseException as inner:
            raise RotationFailed(msg, step=step) from inner
    except RotationFailed as exc:
        return exc


def test_one_class_exported_where_the_other_errors_are() -> None:
    assert zenws.RotationFailed is zenws.errors.RotationFailed is zenws.rotation.RotationFailed
    assert "RotationFailed" in zenws.__all__ and "RotationFailed" in zenws.errors.__all__
    assert "RotationFailed" in zenws.rotation.__all__
    assert issubclass(RotationFailed, ZenwsError)
    assert failed("sync").step == "sync"


def test_category_is_that_of_its_cause() -> None:
    assert categorize(failed("sync")) is Category.RECOVERABLE  # the old connection stays
    assert categorize(failed("sync", TimeoutError())) is Category.RECOVERABLE
    refused = ConnectError("refused", url="ws://h/", status=401)
    assert categorize(failed("open", refused)) is Category.FATAL
    unavailable = ConnectError("refused", url="ws://h/", status=503)
    assert categorize(failed("open", unavailable)) is Category.RECOVERABLE


def test_explained_with_its_step_and_documented() -> None:
    assert "rotation" in anchors()
    exp = explain(failed("sync", TimeoutError(), "rotation timed out after 30 s"))
    assert exp.docs == "zenws docs errors#rotation"
    assert "'sync'" in exp.message and "timed out" in exp.message
    assert "rotation_timeout" in exp.suggestion and "keeps delivering" in exp.suggestion
    refused = explain(failed("open", ConnectError("refused", url="ws://h/", status=401)))
    assert refused.docs == "zenws docs errors#rotation"
    assert explain(ConnectError("refused", url="ws://h/", status=401)).suggestion in (
        refused.suggestion
    )
    hook = explain(failed("hooks", ValueError("bad")))
    assert "ValueError" in hook.suggestion and "hook" in hook.suggestion


def test_explanation_hides_secrets() -> None:
    exp = explain(failed("hooks", msg="rotation failed: access_token=SECRET123"))
    assert "SECRET123" not in exp.message and "SECRET123" not in exp.suggestion
