"""Export zenws telemetry events as OpenTelemetry metrics (``pip install zenws[otel]``).

Instruments (meter ``"zenws"``, names with the default ``prefix="zenws"``):

- ``zenws.events`` counter, attributes ``event``, ``connection``;
- ``zenws.request.rtt`` / ``zenws.heartbeat.rtt`` / ``zenws.connect.duration`` histograms in
  seconds (``request.rtt`` also has the ``method`` attribute);
- ``zenws.pending_requests``, ``zenws.queue_depth``, ``zenws.ratelimit.pressure`` (0..3),
  ``zenws.pool.health`` observable gauges reporting the last value seen per ``connection``.

Example::

    from opentelemetry.sdk.metrics import MeterProvider
    from zenws.telemetry.otel import OtelExporter

    exporter = OtelExporter(MeterProvider(metric_readers=[reader]))
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from .. import telemetry
from ._exporting import BUCKETS, HISTOGRAMS, connection_label, gauge_values, seconds

try:
    from opentelemetry import metrics as _metrics
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "zenws.telemetry.otel needs opentelemetry-sdk: pip install zenws[otel]"
    ) from exc

__all__ = ["OtelExporter"]

_HIST_NAMES = {
    "request.resolved": "request.rtt",
    "heartbeat.received": "heartbeat.rtt",
    "connection.open": "connect.duration",
}
_GAUGE_NAMES = {
    "pending": ("pending_requests", "Requests awaiting a response"),
    "queue_depth": ("queue_depth", "Messages or requests waiting in a queue"),
    "pressure": ("ratelimit.pressure", "Rate-limit pressure: 0 none, 1 low, 2 medium, 3 high"),
    "health": ("pool.health", "Pool health score of a client, 0-100"),
}


class OtelExporter:
    """Attach to the telemetry bus and record OpenTelemetry metrics.

    Args:
        meter_provider: an OpenTelemetry ``MeterProvider`` (default: the global one).
        prefix: instrument name prefix.
        event_prefix: which events to export (default all).
    """

    def __init__(
        self, meter_provider: Any = None, *, prefix: str = "zenws", event_prefix: str = ""
    ) -> None:
        from .._version import __version__

        provider = meter_provider if meter_provider is not None else _metrics.get_meter_provider()
        self.meter = provider.get_meter("zenws", __version__)
        self.events = self.meter.create_counter(
            f"{prefix}.events", unit="1", description="zenws telemetry events"
        )
        self.histograms = {
            event: self._histogram(f"{prefix}.{name}", HISTOGRAMS[event][2])
            for event, name in _HIST_NAMES.items()
        }
        self._last: dict[str, dict[str, float]] = {key: {} for key in _GAUGE_NAMES}
        self._lock = threading.Lock()  # callbacks run on the reader's thread
        for key, (name, doc) in _GAUGE_NAMES.items():
            self.meter.create_observable_gauge(
                f"{prefix}.{name}", callbacks=[self._observer(key)], description=doc
            )
        self._handle: telemetry.Handle | None = telemetry.attach(event_prefix, self._on_event)

    def _histogram(self, name: str, doc: str) -> Any:
        try:  # bucket advice exists in opentelemetry-api >= 1.23
            return self.meter.create_histogram(
                name, unit="s", description=doc, explicit_bucket_boundaries_advisory=list(BUCKETS)
            )
        except TypeError:  # pragma: no cover - older API
            return self.meter.create_histogram(name, unit="s", description=doc)

    def _observer(self, key: str) -> Callable[[Any], Iterable[Any]]:
        def observe(options: Any) -> Iterable[Any]:
            with self._lock:
                values = list(self._last[key].items())
            return [_metrics.Observation(v, {"connection": c}) for c, v in values]

        return observe

    def _on_event(self, event: str, measurements: dict[str, Any], metadata: dict[str, Any]) -> None:
        conn = connection_label(metadata)
        self.events.add(1, {"event": event, "connection": conn})
        spec = HISTOGRAMS.get(event)
        if spec is not None:
            value = seconds(measurements, spec[0])
            if value is not None:
                attrs = {"connection": conn}
                if event == "request.resolved":
                    attrs["method"] = str(metadata.get("method", ""))
                self.histograms[event].record(value, attrs)
        updates = gauge_values(event, measurements, metadata)
        if updates:
            with self._lock:
                for key, v in updates:
                    self._last[key][conn] = v

    def close(self) -> None:
        """Detach from the bus (instruments keep their last values)."""
        if self._handle is not None:
            telemetry.detach(self._handle)
            self._handle = None

    def __enter__(self) -> OtelExporter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
