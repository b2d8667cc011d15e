"""Time zone by number: look-ups per second, and what SendByTime adds to a bulk over SendSms.

Run: ``.venv/bin/python -m bench.timezone [count] [recipients]`` (defaults 1,000,000 random
79XXXXXXXXX look-ups and 100,000 recipients). Targets: at least 300,000 look-ups/s; under 0.5 s
extra for SendByTime over SendSms.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from bench.harness import bench_account, bench_server, report
from bench.loadgen import post_request, request_once
from smsgate.domain.errors import InvalidArgument
from smsgate.domain.numbering import NumberingRegistry
from smsgate.domain.phone import normalize_phone
from smsgate.domain.timezones import ZoneStep, resolve_zone
from smsgate.services.numbering_data import load_packaged_registry

TARGET = 300_000  # look-ups per second
EXTRA_TARGET = 0.5  # seconds SendByTime may add to a bulk
PLATFORM_ZONE = "Europe/Moscow"
ROUNDS = 5  # requests per endpoint, alternating, each from a fresh account
# UTC for SendSms, local time for SendByTime: in the future either way, so every part is
# scheduled and the dispatcher stays idle in both.
SEND_DATE = "2030-01-10T10:00:00"


def timed(label: str, count: int, run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    elapsed = time.perf_counter() - started
    rate = count / elapsed
    print(f"{label:<14} {elapsed:7.3f} s  {rate:12,.0f}/s  {rate / TARGET:5.2f}x target")
    return rate


def lookups(registry: NumberingRegistry, count: int) -> float:
    """Look-ups per second of the whole zone chain over random Russian mobile numbers."""
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
    rate = timed("resolve_zone", count, resolve_all)
    steps = Counter(resolve_zone(n, registry, None, PLATFORM_ZONE).step for n in numbers)
    print("decided by: " + ", ".join(f"{step} {steps[step] / count:.1%}" for step in ZoneStep))
    return rate


def assigned_numbers(registry: NumberingRegistry, count: int) -> list[str]:
    """Distinct numbers from random ranges that the API accepts: recipients across all zones."""
    rng = random.Random(20300111)
    ranges = registry.ranges
    numbers: set[str] = set()
    while len(numbers) < count:
        found = rng.choice(ranges)
        number = f"7{rng.randint(found.first, found.last)}"
        try:
            numbers.add(normalize_phone(number))
        except InvalidArgument:  # a few ranges lie outside phonenumbers' metadata
            continue
    return sorted(numbers)


def server_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far: less disturbed by other load than wall
    time, which on a busy machine varies by more than the difference measured here."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


@dataclass
class Timings:
    """Seconds per request, in round order: wall clock at the client, CPU of the server."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def bulk_timings(recipients: int, registry: NumberingRegistry) -> dict[str, Timings]:
    """One SendSms and one SendByTime of ``recipients``, alternating, ROUNDS times each."""
    numbers = assigned_numbers(registry, recipients)
    # Round 0 warms caches and the server's registry with a few recipients.
    lists = [",".join(numbers[:100])] + [",".join(numbers)] * ROUNDS
    timings = {"SendSms": Timings(), "SendByTime": Timings()}
    with bench_server() as (server, admin):
        assert server.process is not None
        pid = server.process.pid
        for round_number, destinations in enumerate(lists):
            for endpoint, timing in timings.items():
                _, session_id = bench_account(server, admin)  # a fresh flood window each
                request = post_request(
                    f"/rest/Send/{endpoint}/",
                    {
                        "sessionId": session_id,
                        "sourceAddress": "SMS Info",
                        "destinationAddress": destinations,
                        "data": "Sale! 20% off everything this weekend only.",
                        "sendDate": SEND_DATE,
                    },
                )
                cpu = server_cpu_seconds(pid)
                started = time.perf_counter()
                status, body = asyncio.run(request_once(server.port, request))
                wall = time.perf_counter() - started
                cpu = server_cpu_seconds(pid) - cpu
                assert status == 200, body[:300]
                if round_number:
                    assert len(orjson.loads(body)) == recipients
                    timing.wall.append(wall)
                    timing.cpu.append(cpu)
    return timings


def extra(by_sms: list[float], by_time: list[float]) -> str:
    """The median of each round's SendByTime minus SendSms (neighbours in time share the
    machine's load), against the target."""
    seconds = statistics.median(b - a for a, b in zip(by_sms, by_time, strict=True))
    return f"{seconds:+.2f} s ({seconds / EXTRA_TARGET:.2f}x the {EXTRA_TARGET} s allowed)"


def main(count: int, recipients: int) -> None:
    started = time.perf_counter()
    registry = load_packaged_registry()
    print(f"registry: {len(registry):,} ranges built in {time.perf_counter() - started:.3f} s")
    rate = lookups(registry, count)
    timings = bulk_timings(recipients, registry)
    sms, by_time = timings["SendSms"], timings["SendByTime"]

    def rounds(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} s (" + " ".join(f"{v:.2f}" for v in values) + ")"

    report(
        f"Time zones: look-ups, and SendByTime vs SendSms of {recipients:,} (embedded default)",
        [
            ("resolve_zone look-ups/s", f"{rate:,.0f} ({rate / TARGET:.2f}x target {TARGET:,})"),
            ("SendSms wall", rounds(sms.wall)),
            ("SendByTime wall", rounds(by_time.wall)),
            ("SendSms server CPU", rounds(sms.cpu)),
            ("SendByTime server CPU", rounds(by_time.cpu)),
            ("SendByTime extra, wall", extra(sms.wall, by_time.wall)),
            ("SendByTime extra, server CPU", extra(sms.cpu, by_time.cpu)),
        ],
    )


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 100_000,
    )
