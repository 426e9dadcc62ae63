"""Prometheus metrics of the ingest pipeline, one registry per installation (``Services``).

Served by ``beffroi serve`` at ``/metrics`` and by ``beffroi worker --metrics-port``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BATCH_BUCKETS = (1, 10, 100, 500, 1000, 5000, 20000, 50000)
SECONDS_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30)
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600)


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.accepted = Counter("beffroi_readings_accepted", "Readings that passed validation",
                                ["source"], registry=r)
        self.stored = Counter("beffroi_readings_stored",
                              "Readings written (replays of stored ones excluded)", ["source"],
                              registry=r)
        self.rejected = Counter("beffroi_ingest_rejected", "Rejected readings and messages",
                                ["source", "reason"], registry=r)
        self.batch_size = Histogram("beffroi_ingest_batch_readings", "Readings per written batch",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.write_seconds = Histogram("beffroi_ingest_write_seconds",
                                       "Time to validate and write a batch",
                                       buckets=SECONDS_BUCKETS, registry=r)
        self.lag_seconds = Histogram("beffroi_ingest_lag_seconds",
                                     "Per batch: reception of its oldest message to commit",
                                     buckets=LAG_BUCKETS, registry=r)
        self.queue_depth = Gauge("beffroi_ingest_queue_depth",
                                 "Messages received and not yet written (workers)", registry=r)
