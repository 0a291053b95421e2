"""Prometheus metrics of the service, on a registry of its own (one per app).

Under ``kgjemb serve --workers N`` the launcher points ``PROMETHEUS_MULTIPROC_DIR`` at a
fresh directory before the workers start: every worker then writes its samples there and
``/metrics``, whichever worker answers, renders all of them through prometheus_client's
``MultiProcessCollector`` (counters and histograms summed over workers; the in-flight
gauge summed over live workers; bundle gauges per worker, with a ``pid`` label).

- ``kgjemb_http_requests_total{method,route,status}``: requests by route *template*
  (``/v1/similar/{kind}/{id}``, never the raw path, so ids do not explode the label set)
- ``kgjemb_http_request_duration_seconds{method,route}``: latency histogram
- ``kgjemb_http_requests_in_flight``: requests being served now
- ``kgjemb_bundle_info{path,version,checksum,model_checksum,format_version,created_at}`` and
  ``kgjemb_bundle_generation`` / ``kgjemb_bundle_loaded_timestamp_seconds``: what is served
- ``kgjemb_bundle_reloads_total{result}``, ``kgjemb_search_batch_size``: reloads, batching
"""
from __future__ import annotations

import os
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from kgjemb.serve.reload import BundleInfo

__all__ = ["CONTENT_TYPE_LATEST", "MULTIPROC_ENV", "Metrics", "MetricsMiddleware"]

#: the variable prometheus_client reads (at import) to write samples for several processes
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_BUNDLE_LABELS = ("path", "version", "checksum", "model_checksum", "format_version", "created_at")

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_UNMATCHED = "<unmatched>"


class Metrics:
    """The service's metric families, registered on ``self.registry``; ``multiprocess_dir``
    (default: ``$PROMETHEUS_MULTIPROC_DIR``) switches rendering to every worker's samples."""

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir or os.environ.get(MULTIPROC_ENV) or None
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "kgjemb_http_requests", "HTTP requests by route template and status.", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "kgjemb_http_request_duration_seconds", "HTTP request latency by route template.",
            ["method", "route"], buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.in_flight = Gauge("kgjemb_http_requests_in_flight", "HTTP requests being served.", registry=r,
                               multiprocess_mode="livesum")
        # an Info metric cannot be shared between processes: a 0/1 gauge with the same labels
        self.bundle = Gauge("kgjemb_bundle_info", "The index bundle being served (1).", _BUNDLE_LABELS, registry=r,
                            multiprocess_mode="liveall")
        self._bundle_labels: tuple[str, ...] | None = None
        self.generation = Gauge("kgjemb_bundle_generation", "How many bundle loads this process has done.", registry=r,
                                multiprocess_mode="liveall")
        self.loaded_at = Gauge("kgjemb_bundle_loaded_timestamp_seconds", "When the served bundle was loaded.",
                               registry=r, multiprocess_mode="liveall")
        self.reloads = Counter("kgjemb_bundle_reloads", "Bundle loads by result.", ["result"], registry=r)
        self.batch_size = Histogram(
            "kgjemb_search_batch_size", "Searches per engine batch (micro-batching).",
            buckets=(1, 2, 4, 8, 16, 32, 64), registry=r,
        )

    def set_bundle(self, info: BundleInfo) -> None:
        labels = (info.path, info.version, info.checksum, info.model_checksum or "", info.format_version or "",
                  info.created_at or "")
        if self._bundle_labels is not None and self._bundle_labels != labels:
            self.bundle.labels(*self._bundle_labels).set(0)  # a worker's file keeps the last value
            self.bundle.remove(*self._bundle_labels)
        self.bundle.labels(*labels).set(1)
        self._bundle_labels = labels
        self.generation.set(info.generation)
        self.loaded_at.set(info.loaded_at)

    def render(self) -> bytes:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=self.multiprocess_dir)
        return generate_latest(merged)

    def close(self) -> None:
        """On worker shutdown: drop this process's live gauges from the shared directory."""
        if self.multiprocess_dir is not None:
            multiprocess.mark_process_dead(os.getpid(), self.multiprocess_dir)


class MetricsMiddleware:
    """Pure ASGI middleware: counts and times every HTTP request by its route template.

    It sits outside the router, which records the matched route in ``scope["route"]``
    (the scope dict is shared), so the template is known once the response is sent.
    """

    def __init__(self, app, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def send_wrapper(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        m = self.metrics
        m.in_flight.inc()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            m.in_flight.dec()
            route = scope.get("route")
            template = getattr(route, "path", None) or _UNMATCHED
            method = scope.get("method", "")
            m.requests.labels(method, template, str(status["code"])).inc()
            m.latency.labels(method, template).observe(time.perf_counter() - started)
