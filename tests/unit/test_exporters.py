"""Prometheus and OpenTelemetry exporters, fed by real events through the telemetry bus."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from zenws import telemetry
from zenws.telemetry.otel import OtelExporter
from zenws.telemetry.prometheus import PrometheusExporter

SECRET = "Xk-exporter-secret-4471"


def emit_session() -> None:
    url = f"wss://ex.test/ws?access_token={SECRET}"
    telemetry.emit("connection.open", {"connect_ns": 2_000_000}, {"url": url, "epoch": 1})
    for rtt in (1_000_000, 3_000_000, 40_000_000):
        telemetry.emit("request.resolved", {"rtt_ns": rtt}, {"method": "public/test", "url": url})
    telemetry.emit("request.sent", {"pending": 7}, {"method": "private/buy", "url": url})
    telemetry.emit("ratelimit.pressure", {"queue_depth": 12}, {"level": "medium", "url": url})
    telemetry.emit("heartbeat.received", {"rtt_ns": 500_000}, {"kind": "ping_pong", "name": "m"})
    telemetry.emit("pool.route", {"health": 87.5}, {"client": "c0"})
    telemetry.emit("request.timeout", {}, {"method": "public/test", "url": url})


def samples(reg: CollectorRegistry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for fam in text_string_to_metric_families(generate_latest(reg).decode()):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


@pytest.fixture
def prom() -> Iterator[tuple[PrometheusExporter, CollectorRegistry]]:
    reg = CollectorRegistry()
    exp = PrometheusExporter(reg)
    yield exp, reg
    exp.unregister()


def test_prometheus_scrape(prom: tuple[PrometheusExporter, CollectorRegistry]) -> None:
    _, reg = prom
    assert telemetry.active
    emit_session()
    text = generate_latest(reg).decode()
    assert SECRET not in text
    s = samples(reg)
    conn = "wss://ex.test/ws?access_token=***"
    assert (
        s[("zenws_events_total", frozenset({("event", "request.resolved"), ("connection", conn)}))]
        == 3
    )
    assert (
        s[("zenws_events_total", frozenset({("event", "request.timeout"), ("connection", conn)}))]
        == 1
    )
    rtt = frozenset({("method", "public/test"), ("connection", conn)})
    assert s[("zenws_request_rtt_seconds_count", rtt)] == 3
    assert s[("zenws_request_rtt_seconds_sum", rtt)] == pytest.approx(0.044)
    assert s[("zenws_request_rtt_seconds_bucket", rtt | {("le", "0.001")})] == 1
    assert s[("zenws_request_rtt_seconds_bucket", rtt | {("le", "0.005")})] == 2
    assert s[("zenws_request_rtt_seconds_bucket", rtt | {("le", "+Inf")})] == 3
    assert s[("zenws_connect_seconds_sum", frozenset({("connection", conn)}))] == pytest.approx(
        0.002
    )
    assert s[("zenws_heartbeat_rtt_seconds_count", frozenset({("connection", "m")}))] == 1
    assert s[("zenws_pending_requests", frozenset({("connection", conn)}))] == 7
    assert s[("zenws_queue_depth", frozenset({("connection", conn)}))] == 12
    assert s[("zenws_ratelimit_pressure", frozenset({("connection", conn)}))] == 2
    assert s[("zenws_pool_health", frozenset({("connection", "c0")}))] == 87.5


def test_prometheus_detach_stops_updates(
    prom: tuple[PrometheusExporter, CollectorRegistry],
) -> None:
    exp, reg = prom
    telemetry.emit("request.timeout", {}, {"name": "a"})
    exp.close()
    telemetry.emit("request.timeout", {}, {"name": "a"})
    key = ("zenws_events_total", frozenset({("event", "request.timeout"), ("connection", "a")}))
    assert samples(reg)[key] == 1


def test_prometheus_bad_measurements_are_ignored(
    prom: tuple[PrometheusExporter, CollectorRegistry],
) -> None:
    _, reg = prom
    telemetry.emit("request.resolved", {"rtt_ns": "oops"}, {"method": "m"})
    telemetry.emit("request.resolved", {"rtt_ns": -5}, {"method": "m"})
    telemetry.emit("request.resolved", {}, {})
    s = samples(reg)
    assert (
        s[("zenws_events_total", frozenset({("event", "request.resolved"), ("connection", "")}))]
        == 3
    )
    assert (
        "zenws_request_rtt_seconds_count",
        frozenset({("method", "m"), ("connection", "")}),
    ) not in s


def test_prometheus_custom_prefix_and_duplicate_registration() -> None:
    reg = CollectorRegistry()
    with PrometheusExporter(reg, prefix="desk") as exp:
        telemetry.emit("message.dropped", {}, {"name": "x"})
        assert "desk_events_total" in generate_latest(reg).decode()
        with pytest.raises(ValueError):
            PrometheusExporter(reg, prefix="desk")
        assert exp.registry is reg
    assert generate_latest(reg) == b""


def otel_points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    out: dict[str, list[Any]] = {}
    assert data is not None
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                out.setdefault(m.name, []).extend(m.data.data_points)
    return out


def test_otel_in_memory_reader() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    with OtelExporter(provider):
        emit_session()
    telemetry.emit("request.timeout", {}, {})  # after close: not counted
    pts = otel_points(reader)
    conn = "wss://ex.test/ws?access_token=***"
    by_event = {dict(p.attributes)["event"]: p.value for p in pts["zenws.events"]}
    assert by_event["request.resolved"] == 3 and by_event["request.timeout"] == 1
    (rtt,) = pts["zenws.request.rtt"]
    assert dict(rtt.attributes) == {"connection": conn, "method": "public/test"}
    assert rtt.count == 3 and rtt.sum == pytest.approx(0.044)
    assert rtt.min == pytest.approx(0.001) and rtt.max == pytest.approx(0.04)
    (hb,) = pts["zenws.heartbeat.rtt"]
    assert hb.sum == pytest.approx(0.0005)
    assert [p.value for p in pts["zenws.pending_requests"]] == [7]
    assert [p.value for p in pts["zenws.ratelimit.pressure"]] == [2]
    assert [(dict(p.attributes), p.value) for p in pts["zenws.pool.health"]] == [
        ({"connection": "c0"}, 87.5)
    ]
    for points in pts.values():
        for p in points:
            assert SECRET not in repr(dict(p.attributes))
    provider.shutdown()


def test_exporters_isolated_from_emitter_errors() -> None:
    reg = CollectorRegistry()
    with PrometheusExporter(reg):
        # a non-dict metadata/measurement Mapping still works through the bus
        telemetry.emit("request.resolved", (("rtt_ns", 1000),), (("method", "m"),))  # type: ignore[arg-type]
        s = samples(reg)
    assert (
        s[("zenws_request_rtt_seconds_count", frozenset({("method", "m"), ("connection", "")}))]
        == 1
    )


async def test_prometheus_from_a_real_client_and_pool() -> None:
    from zenws.client import connect
    from zenws.pool import Pool
    from zenws.testing import MockServer

    def rpc(conn: Any, msg: Any) -> None:
        doc = msg.json({})
        conn.send_json({"jsonrpc": "2.0", "id": doc.get("id"), "result": "ok"})

    reg = CollectorRegistry()
    with PrometheusExporter(reg):
        async with MockServer(rpc) as server:
            client = await connect(server.url)
            for _ in range(5):
                await client.request("public/test")
            await client.close()
            async with Pool([server.url], name="px", health_interval=0.05) as pool:
                await pool.request_balanced("public/test")
        s = samples(reg)
    rtt = {k: v for k, v in s.items() if k[0] == "zenws_request_rtt_seconds_count"}
    assert sum(rtt.values()) == 6
    assert all(dict(k[1])["method"] == "public/test" for k in rtt)
    opened = [
        v
        for k, v in s.items()
        if k[0] == "zenws_events_total" and dict(k[1])["event"] == "connection.open"
    ]
    assert sum(opened) == 2
    assert s[("zenws_pool_health", frozenset({("connection", "px[0]")}))] > 90
