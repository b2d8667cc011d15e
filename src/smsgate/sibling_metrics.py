"""The counters (and connector gauges) of every process of one data folder, summed at scrape
time.

Each process counts for itself: the requests it answered, the parts it accepted, submitted or
saw reported. With ``serve --workers N`` (or API nodes and workers started apart on one host
with one data folder) a scrape reaches one API process, and the worker has no HTTP listener at
all. So every process writes its counts to ``<data_dir>/metrics/<pid>.prom`` (Prometheus text,
replaced whole) every ``INTERVAL`` and once more as it stops, and ``/metrics`` of any of them
adds the files of the others to its own live counts. The files of processes that ended stay
(their counts are part of the totals, which must never go back) for ``KEPT_SECONDS``; their
gauges stop counting once the file is ``LIVE_SECONDS`` old. Gauges add up because only the
process that runs a connector shows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

log = logging.getLogger(__name__)

METRICS_DIR: Final = "metrics"
INTERVAL: Final = 1.0
KEPT_SECONDS: Final = 24 * 3600.0
# A file not rewritten for this long is of a process that ended: its counts still add up, but
# its gauges (a bind it had up) no longer hold.
LIVE_SECONDS: Final = 5.0
# A sample's identity: its name and its labels, in order.
SampleKey = tuple[str, tuple[tuple[str, str], ...]]


def metrics_dir(data_dir: Path) -> Path:
    return data_dir / METRICS_DIR


def _key(sample: Sample) -> SampleKey:
    return sample.name, tuple(sorted(sample.labels.items()))


def _counts(collectors: Iterable[Collector]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry)


def _write(path: Path, text: bytes) -> None:
    """Replace the file whole, so a reader never sees half of it."""
    written = path.with_name(f".{path.name}.tmp")
    written.write_bytes(text)
    written.replace(path)


async def publish_counts(collectors: Iterable[Collector], data_dir: Path) -> None:
    """Write this process's counts every ``INTERVAL`` until cancelled, and once at the end."""
    collectors = tuple(collectors)
    folder = metrics_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    _delete_old(folder)
    path = folder / f"{os.getpid()}.prom"
    try:
        while True:
            _write(path, _counts(collectors))
            await asyncio.sleep(INTERVAL)
    finally:
        _write(path, _counts(collectors))


def _delete_old(folder: Path) -> None:
    cutoff = time.time() - KEPT_SECONDS
    for path in folder.glob("*.prom"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()


class SiblingCounts(Collector):
    """``collectors`` (this process's counters), each sample plus the last counts the other
    processes of ``data_dir`` published for it."""

    def __init__(self, collectors: Iterable[Collector], data_dir: Path) -> None:
        self.collectors = tuple(collectors)
        self.folder = metrics_dir(data_dir)

    def collect(self) -> Iterator[Metric]:
        own = [family for collector in self.collectors for family in collector.collect()]
        others = self._published({family.name for family in own})
        for family in own:
            merged = Metric(family.name, family.documentation, family.type)
            extra = others.get(family.name, {})
            seen = set()
            for sample in family.samples:
                key = _key(sample)
                seen.add(key)
                # A series' creation time is this process's: the others' cannot be added.
                if not sample.name.endswith("_created"):
                    sample = sample._replace(value=sample.value + extra.get(key, 0.0))
                merged.samples.append(sample)
            # Series that only other processes have (an endpoint this one never served).
            merged.samples += [
                Sample(name, dict(labels), value)
                for (name, labels), value in extra.items()
                if (name, labels) not in seen
            ]
            yield merged

    def _published(self, names: set[str]) -> dict[str, dict[SampleKey, float]]:
        """The sums of the other processes' files: family name -> sample -> value."""
        sums: dict[str, dict[SampleKey, float]] = defaultdict(lambda: defaultdict(float))
        own = f"{os.getpid()}.prom"
        live_since = time.time() - LIVE_SECONDS
        for path in self.folder.glob("*.prom"):
            if path.name == own:
                continue
            try:
                live = path.stat().st_mtime >= live_since
                families = list(text_string_to_metric_families(path.read_text()))
            except FileNotFoundError:  # deleted meanwhile
                continue
            except ValueError:  # not written by smsgate: no count to take from it
                log.warning("%s is not a metrics file; left out", path)
                continue
            for family in families:
                if family.name not in names or (family.type == "gauge" and not live):
                    continue
                family_sums = sums[family.name]
                for sample in family.samples:
                    if not sample.name.endswith("_created"):
                        family_sums[_key(sample)] += sample.value
        return sums
