"""What the Prometheus and OpenTelemetry exporters share: event -> metric mapping rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._redact import redact_url

__all__ = ["GAUGES", "HISTOGRAMS", "PRESSURE_LEVELS", "connection_label", "gauge_values"]

#: event -> (measurement key, metric stem, description); values are ns, exported in seconds.
HISTOGRAMS: dict[str, tuple[str, str, str]] = {
    "request.resolved": ("rtt_ns", "request_rtt_seconds", "JSON-RPC request round-trip time"),
    "heartbeat.received": ("rtt_ns", "heartbeat_rtt_seconds", "Heartbeat round-trip time"),
    "connection.open": ("connect_ns", "connect_seconds", "Time to open a connection"),
}

#: measurement key -> (metric stem, description); any event carrying the key updates the gauge.
GAUGES: dict[str, tuple[str, str]] = {
    "pending": ("pending_requests", "Requests awaiting a response"),
    "queue_depth": ("queue_depth", "Messages or requests waiting in a queue"),
    "pressure": ("ratelimit_pressure", "Rate-limit pressure: 0 none, 1 low, 2 medium, 3 high"),
    "health": ("pool_health", "Pool health score of a client, 0-100"),
}

PRESSURE_LEVELS = {"none": 0, "low": 1, "medium": 2, "high": 3}

# Default latency buckets in seconds: 50 us .. 10 s (trading round trips live at the bottom).
BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


def connection_label(metadata: Mapping[str, Any]) -> str:
    """Identify the connection an event belongs to, never exposing a secret.

    Uses ``name``/``client`` from the metadata, else the URL with its secrets removed,
    else ``""``.
    """
    for key in ("name", "client"):
        v = metadata.get(key)
        if isinstance(v, str) and v:
            return v
    url = metadata.get("url")
    return redact_url(url) if isinstance(url, str) and url else ""


def gauge_values(
    event: str, measurements: Mapping[str, Any], metadata: Mapping[str, Any]
) -> list[tuple[str, float]]:
    """The ``(measurement key, value)`` gauge updates carried by one event."""
    out: list[tuple[str, float]] = []
    for key in GAUGES:
        v = measurements.get(key)
        if key == "pressure":
            if v is None:
                v = metadata.get("level") if event == "ratelimit.pressure" else None
            if isinstance(v, str):
                v = PRESSURE_LEVELS.get(v)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append((key, float(v)))
    return out


def seconds(measurements: Mapping[str, Any], key: str) -> float | None:
    """A nanosecond measurement in seconds, or None when absent/negative/not a number."""
    v = measurements.get(key)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0:
        return float(v) / 1e9
    return None
