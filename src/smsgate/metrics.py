"""The platform's Prometheus instruments, counted where things happen.

They belong to no registry here: each app registers them, beside the figures read at scrape time
(``smsgate.api.metrics``), in a registry of its own, so that several apps in one process (tests)
do not clash.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Iterator, Mapping

from prometheus_client import Counter
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from smsgate.domain.states import MessageState

# Upper bounds of the request time buckets, in seconds; the last takes the rest.
SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
LATENCY_BUCKETS = (*SECONDS_BUCKETS, math.inf)
# Their ``le`` labels, written as prometheus_client writes a Histogram's.
_BUCKET_LABELS = (*(repr(float(bound)) for bound in SECONDS_BUCKETS), "+Inf")


class _Latency:
    """One endpoint's request times: a count per bucket (not cumulative), and their sum."""

    __slots__ = ("counts", "created", "total")

    def __init__(self) -> None:
        self.counts = [0] * len(LATENCY_BUCKETS)
        self.total = 0.0
        self.created = time.time()


class RequestMetrics(Collector):
    """``smsgate_requests`` by endpoint and answer code and ``smsgate_request_seconds`` by
    endpoint, exposed as prometheus_client's Counter and Histogram expose theirs.

    Requests are counted in plain numbers by the event loop that answers them, and turned into
    metric families at scrape time (on the same loop): a prometheus_client child takes a lock
    and a handful of calls for each change, several times the cost of this.
    """

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str], list[float]] = {}  # [count, created]
        self._latencies: dict[str, _Latency] = {}

    def observe(self, endpoint: str, code: str, seconds: float) -> None:
        """Count a request to ``endpoint`` answered with ``code`` in ``seconds``."""
        requests = self._requests.get((endpoint, code))
        if requests is None:
            requests = self._requests[endpoint, code] = [0, time.time()]
        requests[0] += 1
        latency = self._latencies.get(endpoint)
        if latency is None:
            latency = self._latencies[endpoint] = _Latency()
        latency.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        latency.total += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "smsgate_requests",
            "API requests by endpoint and answer code (0: success; aborted: the client went away).",
            labels=["endpoint", "code"],
        )
        for (endpoint, code), (count, created) in self._requests.items():
            requests.add_metric([endpoint, code], count, created=created)
        yield requests
        seconds = HistogramMetricFamily(
            "smsgate_request_seconds", "Time to answer an API request.", labels=["endpoint"]
        )
        for endpoint, latency in self._latencies.items():
            cumulative = 0
            buckets = []
            for label, count in zip(_BUCKET_LABELS, latency.counts, strict=True):
                cumulative += count
                buckets.append((label, float(cumulative)))
            seconds.add_metric([endpoint], buckets, latency.total)
            seconds.samples.append(
                Sample(f"{seconds.name}_created", {"endpoint": endpoint}, latency.created)
            )
        yield seconds


REQUESTS = RequestMetrics()
PARTS = Counter(
    "smsgate_parts",
    "Message parts by what happened to them: accepted (billed and queued), submitted (taken by "
    "the SMSC), delivered, failed (rejected at submit or not delivered) and expired.",
    ["outcome"],
    registry=None,
)
PARTS_ACCEPTED = PARTS.labels("accepted")
PARTS_SUBMITTED = PARTS.labels("submitted")
PARTS_DELIVERED = PARTS.labels("delivered")
PARTS_FAILED = PARTS.labels("failed")
PARTS_EXPIRED = PARTS.labels("expired")
_ENDED_AS = {
    MessageState.DELIVERED: PARTS_DELIVERED,
    MessageState.NOT_DELIVERED: PARTS_FAILED,
    MessageState.EXPIRED: PARTS_EXPIRED,
}


def count_ended(ended: Mapping[MessageState, int]) -> None:
    """Count the parts a committed write ended, by final state: by delivery reports (the parts,
    not the reports: an SMSC sends a receipt again, or one for an id no part has), or refused
    at submit."""
    for state, count in ended.items():
        _ENDED_AS[state].inc(count)


INSTRUMENTS = (REQUESTS, PARTS)
