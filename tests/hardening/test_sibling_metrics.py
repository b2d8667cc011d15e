"""The counts of the other processes of a data folder are added to this process's own."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from smsgate.metrics import RequestMetrics
from smsgate.process_files import KEPT_SECONDS, own_file
from smsgate.sibling_metrics import (
    RETIRED_FILE,
    SiblingCounts,
    metrics_dir,
    publish_counts,
    retire_counts,
)


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


def test_the_counts_of_processes_retired_a_day_later_stay_in_the_totals(tmp_path: Path) -> None:
    """A scraper takes a total that drops for a restart from zero, and counts it all again."""
    folder = metrics_dir(tmp_path)
    folder.mkdir()
    a_day_ago = time.time() - KEPT_SECONDS - 60
    for pid, count in ((1_000_001, 5), (1_000_002, 7)):
        requests, parts = _instruments()
        requests.observe("balance", "0", 0.001)
        parts.labels("delivered").inc(count)
        _publish(folder, pid, requests, parts)
        os.utime(folder / f"{pid}.prom", (a_day_ago, a_day_ago))
    own_requests, own_parts = _instruments()
    counts = SiblingCounts((own_requests, own_parts), tmp_path)
    before = _samples(counts)

    # A retirement that counted the first file in, and died before deleting it.
    first = folder / "1000001.prom"
    content = first.read_bytes()
    retire_counts([first])
    first.write_bytes(content)
    os.utime(first, (a_day_ago, a_day_ago))
    # A process starting retires both: the first is not counted in twice.
    asyncio.run(_publish_once(tmp_path))

    left = {path.name for path in folder.glob("*.prom")}
    assert left == {RETIRED_FILE, own_file(folder, ".prom").name}
    after = _samples(counts)
    delivered = ("smsgate_parts_total", frozenset({("outcome", "delivered")}))
    assert after[delivered] == before[delivered] == 12
    balance = ("smsgate_requests_total", frozenset({("endpoint", "balance"), ("code", "0")}))
    assert after[balance] == before[balance] == 2


async def _publish_once(data_dir: Path) -> None:
    """A process starting: it retires the old files, and publishes its own counts."""
    task = asyncio.create_task(publish_counts(_instruments(), data_dir))
    await asyncio.sleep(0.2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
