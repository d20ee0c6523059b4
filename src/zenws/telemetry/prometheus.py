"""Export zenws telemetry events as Prometheus metrics (``pip install zenws[prometheus]``).

Metrics (with the default ``prefix="zenws"``):

- ``zenws_events_total{event, connection}``: counter, every event on the bus;
- ``zenws_request_rtt_seconds{method, connection}``, ``zenws_heartbeat_rtt_seconds{connection}``,
  ``zenws_connect_seconds{connection}``: histograms from ``rtt_ns``/``connect_ns``;
- ``zenws_pending_requests``, ``zenws_queue_depth``, ``zenws_ratelimit_pressure``
  (0 none .. 3 high), ``zenws_pool_health``: gauges ``{connection}``, set from any event carrying
  the measurement (``ratelimit.pressure`` also from its ``level`` metadata).

``connection`` is the event's ``name``/``client`` metadata or its URL with secrets removed.

Example::

    from prometheus_client import start_http_server
    from zenws.telemetry.prometheus import PrometheusExporter

    exporter = PrometheusExporter()     # default prometheus_client REGISTRY
    start_http_server(9108)
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from .. import telemetry
from ._exporting import BUCKETS, GAUGES, HISTOGRAMS, connection_label, gauge_values, seconds

try:
    import prometheus_client as _prom
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "zenws.telemetry.prometheus needs prometheus_client: pip install zenws[prometheus]"
    ) from exc

__all__ = ["PrometheusExporter"]


class PrometheusExporter:
    """Attach to the telemetry bus and maintain Prometheus metrics.

    Args:
        registry: a ``prometheus_client.CollectorRegistry`` (default: the global ``REGISTRY``).
        prefix: metric name prefix.
        buckets: histogram buckets in seconds (default 50 us .. 10 s).
        event_prefix: which events to export (default all).

    Raises:
        ValueError: from prometheus_client when the metric names are already registered in
            ``registry`` (use one exporter per registry, or another prefix).
    """

    def __init__(
        self,
        registry: Any = None,
        prefix: str = "zenws",
        *,
        buckets: Sequence[float] = BUCKETS,
        event_prefix: str = "",
    ) -> None:
        self.registry = registry if registry is not None else _prom.REGISTRY
        reg = self.registry
        self.events = _prom.Counter(
            f"{prefix}_events", "zenws telemetry events", ["event", "connection"], registry=reg
        )
        self.histograms: dict[str, Any] = {}
        for event, (_key, stem, doc) in HISTOGRAMS.items():
            labels = ["method", "connection"] if event == "request.resolved" else ["connection"]
            self.histograms[event] = _prom.Histogram(
                f"{prefix}_{stem}", doc, labels, registry=reg, buckets=tuple(buckets)
            )
        self.gauges = {
            key: _prom.Gauge(f"{prefix}_{stem}", doc, ["connection"], registry=reg)
            for key, (stem, doc) in GAUGES.items()
        }
        self._handle: telemetry.Handle | None = telemetry.attach(event_prefix, self._on_event)

    def _on_event(self, event: str, measurements: dict[str, Any], metadata: dict[str, Any]) -> None:
        conn = connection_label(metadata)
        self.events.labels(event, conn).inc()
        spec = HISTOGRAMS.get(event)
        if spec is not None:
            value = seconds(measurements, spec[0])
            if value is not None:
                hist = self.histograms[event]
                if event == "request.resolved":
                    hist.labels(str(metadata.get("method", "")), conn).observe(value)
                else:
                    hist.labels(conn).observe(value)
        for key, v in gauge_values(event, measurements, metadata):
            self.gauges[key].labels(conn).set(v)

    def close(self) -> None:
        """Detach from the bus (metrics stay registered with their last values)."""
        if self._handle is not None:
            telemetry.detach(self._handle)
            self._handle = None

    def unregister(self) -> None:
        """Detach and remove every metric of this exporter from its registry."""
        self.close()
        for metric in (self.events, *self.histograms.values(), *self.gauges.values()):
            with contextlib.suppress(KeyError):
                self.registry.unregister(metric)

    def __enter__(self) -> PrometheusExporter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unregister()
