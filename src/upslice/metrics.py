"""Prometheus metrics: what the engine and the front ends count, and how `/metrics` reads it.

With several workers each process writes its samples to files in `PROMETHEUS_MULTIPROC_DIR`
(prometheus-client's multiprocess mode, chosen when the variable is set before this module is
imported; `upslice serve` manages the directory) and a scrape of any worker sums them all.

Other parts of upslice record through the small functions below, never through the metric
objects, so that names and labels stay in one place.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

UPLOADS_CREATED = Counter("upslice_uploads_created", "Uploads created", ["protocol"])
UPLOADS_COMPLETED = Counter(
    "upslice_uploads_completed", "Uploads verified and published", ["protocol"]
)
UPLOADS_FAILED = Counter(
    "upslice_uploads_failed", "Completions refused (hash mismatch, corrupted chunks)", ["protocol"]
)
UPLOADS_EXPIRED = Counter("upslice_uploads_expired", "Unfinished uploads expired", ["protocol"])
BYTES_RECEIVED = Counter("upslice_bytes_received", "Body bytes stored", ["protocol"])
REQUEST_DURATION = Histogram(
    "upslice_request_duration_seconds",
    "Time to the end of the response, by route template",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
CHUNKS_IN_FLIGHT = Gauge(
    "upslice_chunk_requests_in_flight",
    "Chunk requests (tasks PUT, tus/draft PATCH) being received",
    multiprocess_mode="livesum",
)
HASH_LAG = Gauge(
    "upslice_hash_lag_bytes",
    "Bytes handed to the whole-file hash but not hashed yet",
    multiprocess_mode="livesum",
)
STORE_ERRORS = Counter(
    "upslice_store_errors", "Requests that failed in the data or metadata store", ["kind"]
)
HOOK_DELIVERIES = Counter(
    "upslice_hook_deliveries", "Hook deliveries by event and outcome", ["event", "outcome"]
)


def upload_created(protocol: str) -> None:
    UPLOADS_CREATED.labels(protocol).inc()


def upload_completed(protocol: str) -> None:
    UPLOADS_COMPLETED.labels(protocol).inc()


def upload_failed(protocol: str) -> None:
    UPLOADS_FAILED.labels(protocol).inc()


def upload_expired(protocol: str) -> None:
    UPLOADS_EXPIRED.labels(protocol).inc()


def bytes_received(protocol: str, count: int) -> None:
    BYTES_RECEIVED.labels(protocol).inc(count)


def hash_lag(lag: int) -> None:
    HASH_LAG.set(lag)


def store_error(kind: str) -> None:
    """`kind`: "disk_full", "unavailable", or the exception's class name."""
    STORE_ERRORS.labels(kind).inc()


def hook_delivery(event: str, outcome: str) -> None:
    """For hook senders: `outcome` is "delivered", "failed" or "refused"."""
    HOOK_DELIVERIES.labels(event, outcome).inc()


def registry() -> CollectorRegistry:
    """What a scrape reads: every worker's samples in multiprocess mode, else this process's."""
    if os.environ.get(MULTIPROC_ENV):
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return merged
    return REGISTRY


def exposition() -> bytes:
    return generate_latest(registry())
