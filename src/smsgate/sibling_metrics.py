"""The counters (and connector gauges) of every process of one data folder, summed at scrape
time.

Each process counts for itself: the requests it answered, the parts it accepted, submitted or
saw reported. With ``serve --workers N`` (or API nodes and workers started apart on one host
with one data folder) a scrape reaches one API process, and the worker has no HTTP listener at
all. So every process writes its counts to a file of its own in ``<data_dir>/metrics/``
(Prometheus text, ``smsgate.process_files``), and ``/metrics`` of any of them adds the files
of the others to its own live counts.

The files of processes that ended keep counting: their counts are part of the totals, which
must never go back (a scraper takes a drop for a restart from zero, and counts the whole rest
again). Their gauges stop counting once the process has ended. A day later their counters are
added into ``retired.prom``, kept for good, and the files deleted. Gauges add up because only
the process that runs a connector shows it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from smsgate.process_files import LIVE_SECONDS, delete_files, own_file, publish, replace_file

log = logging.getLogger(__name__)

METRICS_DIR: Final = "metrics"
METRICS_SUFFIX: Final = ".prom"
# The counters of the processes retired, and the names of their files (deleted once this is
# written: a name still there was counted in already).
RETIRED_FILE: Final = "retired.prom"
_FOLDED: Final = "# retired: "
# Families whose values only grow: those go on counting when their process has gone.
_COUNTING: Final = frozenset({"counter", "histogram", "summary"})
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


async def publish_counts(collectors: Iterable[Collector], data_dir: Path) -> None:
    """Write this process's counts every second until cancelled (see ``process_files``)."""
    collectors = tuple(collectors)
    await publish(
        metrics_dir(data_dir),
        METRICS_SUFFIX,
        lambda _running: _counts(collectors),
        retire_counts,
    )


class _Families(Collector):
    """Metric families as read, to be written again."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = tuple(families)

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def retire_counts(files: Sequence[Path]) -> None:
    """Add the counters of these processes' ``files`` to the folder's retired counts, then
    delete them. Under a lock: two processes starting together would add them twice."""
    if not files:
        return
    folder = files[0].parent
    with open(folder / f".{RETIRED_FILE}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        retired = folder / RETIRED_FILE
        families: dict[str, Metric] = {}
        sums: dict[str, dict[SampleKey, float]] = defaultdict(lambda: defaultdict(float))
        counted: set[str] = set()
        with contextlib.suppress(FileNotFoundError):
            text = retired.read_text()
            if text.startswith(_FOLDED):
                counted = set(text.partition("\n")[0].removeprefix(_FOLDED).split())
            _add(text, families, sums)
        for path in files:
            if path.name in counted:
                continue  # counted in, but the file outlived the last retirement
            try:
                _add(path.read_text(), families, sums)
            except FileNotFoundError:  # retired meanwhile
                continue
            except ValueError:
                log.warning("%s is not a metrics file; deleted", path)
        summed = []
        for name, family in families.items():
            metric = Metric(name, family.documentation, family.type)
            metric.samples = [Sample(n, dict(labels), v) for (n, labels), v in sums[name].items()]
            summed.append(metric)
        folded = _FOLDED + " ".join(path.name for path in files) + "\n"
        replace_file(retired, folded.encode() + _counts([_Families(summed)]))
        delete_files(files)


def _add(text: str, families: dict[str, Metric], sums: dict[str, dict[SampleKey, float]]) -> None:
    """Add the counters of a metrics file's ``text`` to ``sums`` (and their families)."""
    for family in list(text_string_to_metric_families(text)):  # all read, or none added
        if family.type not in _COUNTING:
            continue
        families.setdefault(family.name, family)
        _add_samples(family, sums[family.name])


def _add_samples(family: Metric, family_sums: dict[SampleKey, float]) -> None:
    """Add the family's sample values to ``family_sums``; not its series' creation times,
    which are each process's own."""
    for sample in family.samples:
        if not sample.name.endswith("_created"):
            family_sums[_key(sample)] += sample.value


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
        own = own_file(self.folder, METRICS_SUFFIX)
        live_since = time.time() - LIVE_SECONDS
        for path in self.folder.glob(f"*{METRICS_SUFFIX}"):
            if path == own:
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
                _add_samples(family, sums[family.name])
        return sums
