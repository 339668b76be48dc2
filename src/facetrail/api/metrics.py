"""Prometheus metrics of this worker (``prometheus-client``): requests by route and status,
their latency, and the searches and refusals the services report through the audit log."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

__all__ = ["REGISTRY", "exposition", "observe"]

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "facetrail_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ("method", "route", "status"),
    registry=REGISTRY,
)
LATENCY = Histogram(
    "facetrail_http_request_seconds",
    "Time to answer an HTTP request, by route template.",
    ("route",),
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


def observe(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(route).observe(seconds)


def exposition() -> bytes:
    return generate_latest(REGISTRY)
