"""Mappings kept to a size in memory: caches and counters whose keys come from clients."""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def keep_newest(entries: dict[K, V], key: K, value: V, limit: int) -> None:
    """Set ``entries[key]`` to ``value`` as its newest entry (dicts keep insertion order), and
    drop the oldest entry once there are more than ``limit``: the memory a flood of new keys
    can take stays bounded, and what was touched last stays."""
    entries.pop(key, None)
    entries[key] = value
    if len(entries) > limit:
        del entries[next(iter(entries))]
