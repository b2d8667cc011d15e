"""Concatenation user data headers (3GPP TS 23.040 §9.2.3.24.1 and .8) and part reassembly."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

IEI_CONCAT_8BIT: Final = 0x00
IEI_CONCAT_16BIT: Final = 0x08

T = TypeVar("T")


class UdhError(ValueError):
    """A user data header that cannot be built or does not parse."""


@dataclass(frozen=True, slots=True)
class Concat:
    """Where one part sits in a concatenated message; ``seqnum`` counts from 1."""

    reference: int
    total: int
    seqnum: int

    def __post_init__(self) -> None:
        if not (0 <= self.reference <= 0xFFFF and 1 <= self.seqnum <= self.total <= 0xFF):
            raise UdhError(f"invalid concatenation {self.reference}: {self.seqnum}/{self.total}")


def concat_udh(concat: Concat, *, wide: bool = False) -> bytes:
    """The UDH, length octet first, with an 8-bit (or, if ``wide``, 16-bit) reference."""
    if wide:
        high, low = divmod(concat.reference, 0x100)
        return bytes((6, IEI_CONCAT_16BIT, 4, high, low, concat.total, concat.seqnum))
    if concat.reference > 0xFF:
        raise UdhError(f"reference {concat.reference} needs the 16-bit header")
    return bytes((5, IEI_CONCAT_8BIT, 3, concat.reference, concat.total, concat.seqnum))


def split_udh(short_message: bytes) -> tuple[bytes, bytes]:
    """(UDH including its length octet, the rest) of a short_message sent with UDHI set."""
    if not short_message or short_message[0] + 1 > len(short_message):
        raise UdhError("the UDH length octet overruns the message")
    end = short_message[0] + 1
    return short_message[:end], short_message[end:]


def find_concat(udh: bytes) -> Concat | None:
    """The concatenation element of ``udh`` (from ``split_udh``), among any others.

    Following 23.040, an element with impossible values is ignored and, when the element
    repeats, the last valid one counts.
    """
    found = None
    pos, end = 1, len(udh)
    while pos < end:
        if end - pos < 2:
            raise UdhError("truncated information element")
        iei, length = udh[pos], udh[pos + 1]
        data = udh[pos + 2 : pos + 2 + length]
        pos += 2 + length
        if len(data) != length:
            raise UdhError(f"element {iei:#04x} overruns the UDH")
        if iei == IEI_CONCAT_8BIT and length == 3:
            reference, total, seqnum = data
        elif iei == IEI_CONCAT_16BIT and length == 4:
            reference, total, seqnum = (data[0] << 8) | data[1], data[2], data[3]
        else:
            continue
        try:
            found = Concat(reference, total, seqnum)
        except UdhError:
            continue
    return found


@dataclass(frozen=True)  # no slots: a generic slotted dataclass breaks Assembled[X](...) in 3.11
class Assembled(Generic[T]):
    """A joined message; ``parts[i]`` is part i + 1, None if it never came (then incomplete)."""

    source: str
    destination: str
    reference: int
    parts: tuple[T | None, ...]
    complete: bool


class _Pending(Generic[T]):
    __slots__ = ("last_seen", "parts", "received")

    def __init__(self, total: int, now: float) -> None:
        self.parts: list[T | None] = [None] * total
        self.received = 0
        self.last_seen = now


_Key = tuple[str, str, int, int]


class Reassembler(Generic[T]):
    """Joins incoming parts keyed by (source, destination, reference, total).

    Nothing is dropped: a message whose parts stop arriving for ``timeout`` seconds comes out
    of ``expire`` incomplete, and beyond ``max_pending`` open messages the least recently
    active comes out of ``add`` incomplete. ``clock`` is monotonic seconds.
    """

    def __init__(
        self, *, timeout: float, clock: Callable[[], float], max_pending: int = 10_000
    ) -> None:
        self._timeout = timeout
        self._clock = clock
        self._max_pending = max_pending
        # ordered by last activity, so expiry and eviction look only at the front
        self._pending: OrderedDict[_Key, _Pending[T]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, source: str, destination: str, concat: Concat, part: T) -> list[Assembled[T]]:
        """Store ``part``; return the messages this completes or evicts (usually none or one)."""
        if concat.total == 1:
            return [Assembled(source, destination, concat.reference, (part,), True)]
        key = (source, destination, concat.reference, concat.total)
        now = self._clock()
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(concat.total, now)
        else:
            pending.last_seen = now
            self._pending.move_to_end(key)
        if pending.parts[concat.seqnum - 1] is None:
            pending.received += 1
        pending.parts[concat.seqnum - 1] = part  # an SMSC resending a part replaces it
        ready = []
        if pending.received == concat.total:
            del self._pending[key]
            ready.append(_assembled(key, pending))
        while len(self._pending) > self._max_pending:
            ready.append(_assembled(*self._pending.popitem(last=False)))
        return ready

    def expire(self) -> list[Assembled[T]]:
        """Messages with no new part for ``timeout`` seconds, incomplete, oldest first."""
        horizon = self._clock() - self._timeout
        expired = []
        while self._pending:
            key, pending = next(iter(self._pending.items()))
            if pending.last_seen > horizon:
                break
            del self._pending[key]
            expired.append(_assembled(key, pending))
        return expired


def _assembled(key: _Key, pending: _Pending[T]) -> Assembled[T]:
    source, destination, reference, total = key
    complete = pending.received == total
    return Assembled(source, destination, reference, tuple(pending.parts), complete)
