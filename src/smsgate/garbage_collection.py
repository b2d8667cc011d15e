"""How smsgate's long-running processes use CPython's cyclic garbage collector.

Their heap is mostly long-lived (the loaded modules, the numbering plan, caches) and their
garbage is nearly all freed by reference counting. With CPython's default thresholds a young
collection starts at every 700 new objects, and every hundredth walks the whole heap to find
nothing there: a server sending 50,000 parts over SMPP spent 0.85 s of its 5.3 s of CPU in the
collector (the full collections alone 0.62 s, freeing nothing).
"""

from __future__ import annotations

import gc

# New objects between young collections, young collections between middle ones, middle
# ones between full ones. Garbage in cycles waits at most one young collection's worth.
THRESHOLDS = (50_000, 50, 1000)


def collect_rarely() -> None:
    """Put every object made so far out of the collector's sight (``gc.freeze``) and collect
    far less often; call it once the process has loaded what it keeps."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
