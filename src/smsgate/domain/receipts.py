"""Which part a delivery report ends, among the parts that carry its operator id."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from smsgate.domain.states import MessageState, report_date

# A delivery report: (operator id, final state, done at, error).
Receipt = tuple[str, MessageState, datetime, str | None]


@dataclass(frozen=True, slots=True)
class PartUnderId:
    """A part an operator id was given to: awaiting its report (``reported_at`` None), or
    ended at ``reported_at``."""

    part_id: int
    submitted_at: datetime | None
    reported_at: datetime | None = None


@dataclass(slots=True)
class Matching:
    """What the reports do: the final state of each part they end, and the reports that wait
    for their part to be recorded as sent (``early``)."""

    ended: dict[int, tuple[MessageState, datetime, str | None]] = field(default_factory=dict)
    early: list[Receipt] = field(default_factory=list)


def match_receipts(
    receipts: Sequence[Receipt], parts: Iterable[tuple[str, PartUnderId]]
) -> Matching:
    """Match ``receipts`` to the ``parts`` under their operator ids.

    Only parts awaiting their report take one. An SMSC may give an id again (it restarted its
    count; or "1A" in hex and "26" are one number) while the part of the new one is not yet
    recorded as sent: that receipt waits for it (``early``). One for a part that ended by that
    very receipt is a repeat, and is dropped.

    One receipt ends one part, and a part's first receipt wins. Parts awaiting a report under
    one id (given again while an earlier part still awaited its report) take its receipts in
    the order they were submitted, and a repeat of a receipt takes none: one receipt ending
    them all would report parts delivered that never were.
    """
    awaiting: dict[str, list[PartUnderId]] = defaultdict(list)
    ended: dict[str, list[tuple[datetime | None, datetime]]] = defaultdict(list)
    for smsc_id, part in parts:
        if part.reported_at is None:
            awaiting[smsc_id].append(part)
        else:
            ended[smsc_id].append((part.submitted_at, part.reported_at))

    def repeated(smsc_id: str, done_at: datetime) -> bool:
        return any(
            report_date(done_at, submitted_at) == reported_at
            for submitted_at, reported_at in ended[smsc_id]
        )

    unmatched = {
        smsc_id: sorted(parts, key=_submitted_first) for smsc_id, parts in awaiting.items()
    }
    matching = Matching()
    for receipt in dict.fromkeys(receipts):
        smsc_id, state, done_at, error = receipt
        waiting = unmatched.get(smsc_id)
        if waiting and not repeated(smsc_id, done_at):
            part = waiting.pop(0)
            reported_at = report_date(done_at, part.submitted_at)
            matching.ended[part.part_id] = (state, reported_at, error)
            ended[smsc_id].append((part.submitted_at, reported_at))
    matching.early = [
        receipt
        for receipt in receipts
        if receipt[0] not in awaiting and not repeated(receipt[0], receipt[2])
    ]
    return matching


def _submitted_first(part: PartUnderId) -> tuple[datetime, int]:
    return (part.submitted_at or datetime.min.replace(tzinfo=UTC), part.part_id)
