"""The flood rule: at most ``limit`` messages from one account to one number per window."""

from __future__ import annotations

from collections.abc import Mapping


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
