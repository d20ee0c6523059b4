"""The telemetry bus: prefix matching, isolation, active flag, thread safety."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from zenws import telemetry

Event = tuple[str, dict[str, Any], dict[str, Any]]


@pytest.fixture(autouse=True)
def clean_bus() -> Any:
    for h in telemetry.attached():
        telemetry.detach(h)
    yield
    for h in telemetry.attached():
        telemetry.detach(h)


def collector() -> tuple[list[Event], Any]:
    got: list[Event] = []

    def handler(event: str, m: dict[str, Any], md: dict[str, Any]) -> None:
        got.append((event, m, md))

    return got, handler


def test_active_tracks_attachments() -> None:
    assert telemetry.active is False
    _, h = collector()
    handle = telemetry.attach("connection", h)
    assert telemetry.active is True
    assert telemetry.detach(handle) is True
    assert telemetry.active is False
    assert telemetry.detach(handle) is False


def test_prefix_matches_whole_segments() -> None:
    got, h = collector()
    telemetry.attach("connection", h)
    telemetry.emit("connection.open", {"connect_ns": 5}, {"url": "ws://h"})
    telemetry.emit("connections.x", {}, {})
    telemetry.emit("connectionx", {}, {})
    telemetry.emit("connection", {}, {})
    assert [e for e, _, _ in got] == ["connection.open", "connection"]
    assert got[0][1] == {"connect_ns": 5} and got[0][2] == {"url": "ws://h"}


@pytest.mark.parametrize("prefix", ["", "*"])
def test_catch_all(prefix: str) -> None:
    got, h = collector()
    telemetry.attach(prefix, h)
    telemetry.emit("request.sent", {}, {})
    telemetry.emit("heartbeat.missed")
    assert [e for e, _, _ in got] == ["request.sent", "heartbeat.missed"]
    assert got[1][1] == {} and got[1][2] == {}


def test_star_suffix_and_exact_names() -> None:
    got, h = collector()
    telemetry.attach("request.*", h)
    got2, h2 = collector()
    telemetry.attach("request.resolved", h2)
    telemetry.emit("request.resolved", {"rtt_ns": 1}, {})
    telemetry.emit("request.sent", {}, {})
    assert len(got) == 2 and [e for e, _, _ in got2] == ["request.resolved"]


def test_detach_by_prefix_and_handler() -> None:
    got, h = collector()
    telemetry.attach("pool", h)
    assert telemetry.detach("pool", h) is True
    telemetry.emit("pool.route", {}, {})
    assert got == [] and not telemetry.active


def test_raising_handler_isolated_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    def bad(event: str, m: dict[str, Any], md: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    got, good = collector()
    handle = telemetry.attach("request", bad)
    telemetry.attach("request", good)
    with caplog.at_level(logging.ERROR, logger="zenws.telemetry"):
        for _ in range(50):
            telemetry.emit("request.sent", {}, {})
    assert len(got) == 50
    assert handle.errors == 50
    records = [r for r in caplog.records if r.name == "zenws.telemetry"]
    assert len(records) == 1 and "RuntimeError" in records[0].getMessage()


def test_unknown_event_warns_in_debug(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(telemetry, "debug", True)
    _, h = collector()
    telemetry.attach("", h)
    with caplog.at_level(logging.WARNING, logger="zenws.telemetry"):
        telemetry.emit("no.such.event.xyz", {}, {})
        telemetry.emit("no.such.event.xyz", {}, {})
        telemetry.emit("connection.open", {}, {})
    msgs = [r.getMessage() for r in caplog.records if r.name == "zenws.telemetry"]
    assert len(msgs) == 1 and "no.such.event.xyz" in msgs[0]


def test_catalogue_contains_design_events() -> None:
    design = [
        "connection.connecting",
        "connection.open",
        "connection.closed",
        "connection.reconnecting",
        "connection.gave_up",
        "request.sent",
        "request.resolved",
        "request.timeout",
        "request.failed",
        "heartbeat.sent",
        "heartbeat.received",
        "heartbeat.missed",
        "subscription.add",
        "subscription.remove",
        "subscription.restore",
        "ratelimit.wait",
        "ratelimit.rejected",
        "ratelimit.pressure",
        "pool.route",
        "pool.failover",
        "message.dropped",
        "protocol.error",
    ]
    assert set(design) <= telemetry.EVENTS
    telemetry.register_events("custom.thing")
    assert "custom.thing" in telemetry.EVENTS


def test_non_callable_rejected() -> None:
    with pytest.raises(TypeError):
        telemetry.attach("x", 42)  # type: ignore[arg-type]


def test_thread_safe_attach_detach_while_emitting() -> None:
    counts = [0]

    def h(event: str, m: dict[str, Any], md: dict[str, Any]) -> None:
        counts[0] += 1

    stop = threading.Event()
    errors: list[BaseException] = []

    def churn() -> None:
        try:
            while not stop.is_set():
                handle = telemetry.attach("request", h)
                telemetry.detach(handle)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=churn) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        steady = telemetry.attach("request", h)
        for _ in range(20000):
            telemetry.emit("request.sent", {}, {})
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors
    assert counts[0] >= 20000
    telemetry.detach(steady)
    assert telemetry.attached() == ()
    assert telemetry.active is False
