"""The counts of the other processes of a data folder are added to this process's own."""

from __future__ import annotations

import os
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from smsgate.metrics import RequestMetrics
from smsgate.sibling_metrics import SiblingCounts, metrics_dir


def _instruments() -> tuple[RequestMetrics, Counter]:
    parts = Counter("smsgate_parts", "Parts.", ["outcome"], registry=None)
    return RequestMetrics(), parts


def _publish(folder: Path, pid: int, requests: RequestMetrics, parts: Counter) -> None:
    registry = CollectorRegistry()
    registry.register(requests)
    registry.register(parts)
    (folder / f"{pid}.prom").write_bytes(generate_latest(registry))


def _samples(collector: SiblingCounts) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for sample in family.samples
    }


def test_counts_of_other_processes_are_added(tmp_path: Path) -> None:
    folder = metrics_dir(tmp_path)
    folder.mkdir()
    requests, parts = _instruments()
    requests.observe("balance", "0", 0.001)
    parts.labels("accepted").inc(3)

    worker_requests, worker_parts = _instruments()
    worker_parts.labels("delivered").inc(5)
    _publish(folder, 1_000_001, worker_requests, worker_parts)
    other_requests, other_parts = _instruments()
    other_requests.observe("balance", "0", 0.2)
    other_requests.observe("send_sms", "5", 0.002)
    other_parts.labels("accepted").inc(4)
    _publish(folder, 1_000_002, other_requests, other_parts)
    (folder / "1000003.prom").write_text("not { metrics")  # left out, with a warning

    samples = _samples(SiblingCounts((requests, parts), tmp_path))
    assert samples["smsgate_parts_total", frozenset({("outcome", "accepted")})] == 7
    assert samples["smsgate_parts_total", frozenset({("outcome", "delivered")})] == 5
    balance = frozenset({("endpoint", "balance"), ("code", "0")})
    assert samples["smsgate_requests_total", balance] == 2
    # A series only another process has.
    assert (
        samples["smsgate_requests_total", frozenset({("endpoint", "send_sms"), ("code", "5")})] == 1
    )
    # Histogram buckets add up bucket by bucket.
    fast = frozenset({("endpoint", "balance"), ("le", "0.001")})
    slow = frozenset({("endpoint", "balance"), ("le", "0.25")})
    assert samples["smsgate_request_seconds_bucket", fast] == 1
    assert samples["smsgate_request_seconds_bucket", slow] == 2
    assert samples["smsgate_request_seconds_count", frozenset({("endpoint", "balance")})] == 2


def test_the_gauges_of_a_process_that_ended_no_longer_count(tmp_path: Path) -> None:
    folder = metrics_dir(tmp_path)
    folder.mkdir()
    _, parts = _instruments()

    def connectors(up: int) -> Gauge:
        gauge = Gauge("smsgate_connector_up", "Up.", ["connector"], registry=None)
        gauge.labels("main").set(up)
        return gauge

    registry = CollectorRegistry()
    registry.register(parts)
    registry.register(connectors(1))
    ended = folder / "1000001.prom"
    parts.labels("delivered").inc(2)
    ended.write_bytes(generate_latest(registry))
    an_hour_ago = time.time() - 3600
    os.utime(ended, (an_hour_ago, an_hour_ago))

    own_requests, own_parts = _instruments()
    samples = _samples(SiblingCounts((own_requests, own_parts, connectors(1)), tmp_path))
    assert samples["smsgate_parts_total", frozenset({("outcome", "delivered")})] == 2
    assert samples["smsgate_connector_up", frozenset({("connector", "main")})] == 1


def test_without_a_folder_only_the_own_counts(tmp_path: Path) -> None:
    requests, parts = _instruments()
    parts.labels("accepted").inc(2)
    samples = _samples(SiblingCounts((requests, parts), tmp_path))
    assert samples["smsgate_parts_total", frozenset({("outcome", "accepted")})] == 2
