"""Statistic's figures computed from the counts by state."""

from __future__ import annotations

import pytest

from smsgate.services.reading import Statistic


@pytest.mark.parametrize(
    ("delivered", "sent", "ratio"),
    [(0, 0, 0), (1, 8, 12), (5, 8, 62), (3, 8, 38), (1, 200, 0), (3, 200, 2), (2, 3, 67)],
)
def test_the_delivery_ratio_is_round_of_the_share_delivered(
    delivered: int, sent: int, ratio: int
) -> None:
    # API.md: round(100 * Delivered / Sent), whose halves go to the even number.
    figures = Statistic(sent, delivered, 0, sent - delivered, 0)
    assert figures.delivery_ratio == ratio == (round(100 * delivered / sent) if sent else 0)
