"""The collector settings of the long-running processes (``smsgate.garbage_collection``)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from smsgate.garbage_collection import THRESHOLDS, collect_rarely


class _Node:
    def __init__(self) -> None:
        self.peer: _Node | None = None


@pytest.fixture
def rare_collection() -> Iterator[None]:
    before = gc.get_threshold()
    collect_rarely()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_what_is_loaded_is_frozen_and_collections_are_rare(rare_collection: None) -> None:
    assert gc.get_threshold() == THRESHOLDS
    assert gc.get_freeze_count() > 10_000  # this process's modules, at least


def test_a_cycle_is_still_freed_within_one_young_collection(rare_collection: None) -> None:
    first, second = _Node(), _Node()
    first.peer, second.peer = second, first
    gone = weakref.ref(first)
    del first, second
    assert gone() is not None  # reference counting alone cannot free a cycle
    # New objects kept alive, as a busy server makes them: a young collection comes.
    kept: list[list[object]] = [[] for _ in range(THRESHOLDS[0] + 1_000)]
    assert gone() is None
    del kept
