"""The flood rule: at most ``limit`` messages from one account to one number per window."""

from __future__ import annotations

from collections.abc import Mapping

# Bounds of the rule's settings: a count a database integer holds, and a window of ten years
# (longer ones overflowed the dates they are subtracted from).
MAX_FLOOD_LIMIT = 2**31 - 1
MAX_FLOOD_WINDOW_SECONDS = 10 * 365 * 24 * 3600


def flooded_destination(
    recent: Mapping[str, int], requested: Mapping[str, int], limit: int
) -> str | None:
    """The first destination that would exceed ``limit`` with this request, else None.

    ``recent`` counts messages already sent in the window, ``requested`` those this request adds.
    """
    for destination, count in requested.items():
        if recent.get(destination, 0) + count > limit:
            return destination
    return None
