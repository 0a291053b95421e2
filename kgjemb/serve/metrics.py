"""Prometheus metrics of the service, on a registry of its own (one per app).

- ``kgjemb_http_requests_total{method,route,status}``: requests by route *template*
  (``/v1/similar/{kind}/{id}``, never the raw path, so ids do not explode the label set)
- ``kgjemb_http_request_duration_seconds{method,route}``: latency histogram
- ``kgjemb_http_requests_in_flight``: requests being served now
- ``kgjemb_bundle_info{path,version,checksum,model_checksum,format_version,created_at}`` and
  ``kgjemb_bundle_generation`` / ``kgjemb_bundle_loaded_timestamp_seconds``: what is served
- ``kgjemb_bundle_reloads_total{result}``, ``kgjemb_search_batch_size``: reloads, batching
"""
from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from kgjemb.serve.reload import BundleInfo

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "MetricsMiddleware"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_UNMATCHED = "<unmatched>"


class Metrics:
    """The service's metric families, registered on ``self.registry``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "kgjemb_http_requests", "HTTP requests by route template and status.", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "kgjemb_http_request_duration_seconds", "HTTP request latency by route template.",
            ["method", "route"], buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.in_flight = Gauge("kgjemb_http_requests_in_flight", "HTTP requests being served.", registry=r)
        self.bundle = Info("kgjemb_bundle", "The index bundle being served.", registry=r)
        self.generation = Gauge("kgjemb_bundle_generation", "How many bundle loads this process has done.", registry=r)
        self.loaded_at = Gauge("kgjemb_bundle_loaded_timestamp_seconds", "When the served bundle was loaded.", registry=r)
        self.reloads = Counter("kgjemb_bundle_reloads", "Bundle loads by result.", ["result"], registry=r)
        self.batch_size = Histogram(
            "kgjemb_search_batch_size", "Searches per engine batch (micro-batching).",
            buckets=(1, 2, 4, 8, 16, 32, 64), registry=r,
        )

    def set_bundle(self, info: BundleInfo) -> None:
        self.bundle.info({
            "path": info.path, "version": info.version, "checksum": info.checksum,
            "model_checksum": info.model_checksum or "", "format_version": info.format_version or "",
            "created_at": info.created_at or "",
        })
        self.generation.set(info.generation)
        self.loaded_at.set(info.loaded_at)

    def render(self) -> bytes:
        return generate_latest(self.registry)


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
