"""FastListener reports to its declared ListenerEvents (zenws.fast.listener)."""

from __future__ import annotations

from typing import Any

import pytest

from zenws.fast.listener import FastListener, ListenerEvents, Message


class Recorded(ListenerEvents):
    def __init__(self, raise_in: str = "") -> None:
        self.seen: list[tuple[Any, ...]] = []
        self.raise_in = raise_in

    def _note(self, *event: Any) -> None:
        self.seen.append(event)
        if event[0] == self.raise_in:
            raise RuntimeError(f"{event[0]} failed")

    def on_protocol_error(self, code: int, reason: str) -> None:
        self._note("protocol_error", code, reason)

    def on_callback_error(self, exc: BaseException, msg: Message | None) -> None:
        self._note("callback_error", type(exc).__name__, str(exc), msg)

    def on_error_no_id(self, payload: bytes, recv_ns: int) -> None:
        self._note("error_no_id", payload, recv_ns)


ERROR_NO_ID = b'{"jsonrpc":"2.0","error":{"code":-32600,"message":"too large"}}'


def test_base_class_methods_do_nothing() -> None:
    ev = ListenerEvents()
    lst = FastListener()
    assert ev.on_disconnected(lst) is None
    assert ev.on_peer_close(lst, 1000, "") is None
    assert ev.on_protocol_error(1002, "x") is None
    assert ev.on_violation(lst, 1002, "x") is None
    assert ev.on_callback_error(ValueError(), None) is None
    assert ev.on_error_no_id(b"{}", 1) is None
    assert ev.on_write_paused(True) is None


def test_events_must_be_a_listener_events() -> None:
    lst = FastListener()
    with pytest.raises(TypeError):
        lst.events = object()  # type: ignore[assignment]
    lst.events = None
    assert lst.events is None


def test_raising_callback_is_reported_with_its_message() -> None:
    lst, ev = FastListener(), Recorded()
    lst.events = ev

    def handler(msg: Message) -> None:
        raise ValueError("boom")

    lst.on_message = handler
    lst.feed_message(1, b'{"jsonrpc":"2.0","method":"x","params":{}}', 7)
    assert len(ev.seen) == 1
    kind, exc_type, text, msg = ev.seen[0]
    assert (kind, exc_type, text) == ("callback_error", "ValueError", "boom")
    assert isinstance(msg, Message) and msg.recv_ns == 7
    assert lst.counters()["callback_errors"] == 1


def test_error_without_id_is_reported() -> None:
    lst, ev = FastListener(), Recorded()
    lst.events = ev
    lst.feed_message(1, ERROR_NO_ID, 42)
    assert ev.seen == [("error_no_id", ERROR_NO_ID, 42)]
    assert lst.counters()["errors"] == 1


def test_a_raising_event_is_counted_and_reported_not_raised() -> None:
    lst, ev = FastListener(), Recorded(raise_in="error_no_id")
    lst.events = ev
    lst.feed_message(1, ERROR_NO_ID, 42)
    assert [e[0] for e in ev.seen] == ["error_no_id", "callback_error"]
    assert ev.seen[1][1:3] == ("RuntimeError", "error_no_id failed")
    assert lst.counters()["callback_errors"] == 1


def test_a_raising_error_report_is_counted_and_dropped() -> None:
    lst, ev = FastListener(), Recorded(raise_in="callback_error")
    lst.events = ev

    def handler(msg: Message) -> None:
        raise ValueError("boom")

    lst.on_message = handler
    lst.feed_message(1, b'{"jsonrpc":"2.0","method":"x","params":{}}', 7)
    assert [e[0] for e in ev.seen] == ["callback_error"]
    assert lst.counters()["callback_errors"] == 2  # the callback's, then the report's


def test_failing_the_connection_reports_the_code() -> None:
    lst, ev = FastListener(), Recorded()
    lst.events = ev
    lst.fail(1007, "invalid UTF-8")
    assert ev.seen == [("protocol_error", 1007, "invalid UTF-8")]
    assert (lst.fail_code, lst.fail_reason, lst.closed) == (1007, "invalid UTF-8", True)
    lst.fail(1002, "again")  # closed already: nothing more is reported
    assert len(ev.seen) == 1
