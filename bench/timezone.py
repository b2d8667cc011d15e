"""Time zone by number: look-ups per second of the registry and of the whole zone chain.

Run: ``.venv/bin/python bench/timezone.py [count]`` (default 1,000,000 random 79XXXXXXXXX).
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from collections.abc import Callable

from smsgate.domain.timezones import ZoneStep, resolve_zone
from smsgate.services.numbering_data import load_packaged_registry

TARGET = 300_000  # look-ups per second
PLATFORM_ZONE = "Europe/Moscow"


def timed(label: str, count: int, run: Callable[[], object]) -> None:
    started = time.perf_counter()
    run()
    elapsed = time.perf_counter() - started
    rate = count / elapsed
    print(f"{label:<14} {elapsed:7.3f} s  {rate:12,.0f}/s  {rate / TARGET:5.2f}x target")


def main(count: int) -> None:
    started = time.perf_counter()
    registry = load_packaged_registry()
    print(f"registry: {len(registry):,} ranges built in {time.perf_counter() - started:.3f} s")
    rng = random.Random(20300110)  # the same numbers every run
    numbers = [f"79{rng.randrange(1_000_000_000):09d}" for _ in range(count)]

    find = registry.find

    def find_all() -> None:
        for number in numbers:
            find(number)

    def resolve_all() -> None:
        for number in numbers:
            resolve_zone(number, registry, None, PLATFORM_ZONE)

    print(f"{count:,} random Russian mobile numbers, target {TARGET:,}/s")
    timed("registry.find", count, find_all)
    timed("resolve_zone", count, resolve_all)
    steps = Counter(resolve_zone(n, registry, None, PLATFORM_ZONE).step for n in numbers)
    print("decided by: " + ", ".join(f"{step} {steps[step] / count:.1%}" for step in ZoneStep))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
