"""The SMPP 3.4 connector: parts out as ``submit_sm`` over one or more binds to an operator
SMSC, delivery receipts and incoming messages back in.

Each part is one ``submit_sm``: UDH concatenation (8-bit reference) or SAR TLVs, GSM 03.38
(data_coding 0, packed or not) or UCS-2 (8), validity as an absolute time, and a request for
the final receipt. The SMSC's answer becomes the part's result: ESME_ROK is ACCEPTED with the
normalized message id; throttling, a full queue or a link that drops are RETRY (the session
has already backed off and resubmitted for a while); any other status is REJECTED.

``deliver_sm`` (and ``data_sm``) are acknowledged only after the events committed them.
Receipts that arrive together are committed together, and a receipt that overtakes its
submit_sm_resp is reported like any other (the store keeps it until the part is recorded).
Incoming messages in one part are recorded as they are; the parts of a longer one are kept by
``ConnectorEvents.incoming_part`` and recorded joined. An incoming message whose data_coding
is not text (binary, 8-bit data) is refused with ESME_RX_P_APPN: the API carries text only,
and a permanent error tells the SMSC not to offer it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import Final

from smsgate.delivery.connector import (
    ConnectorEvents,
    DeliveryReport,
    IncomingPart,
    IncomingSms,
    OnAnswer,
    OutboundPart,
    SubmitOutcome,
    SubmitResult,
)
from smsgate.delivery.connectors.settings import (
    Concatenation,
    RouteSettings,
    SmppConnectorSettings,
    TonNpi,
)
from smsgate.delivery.routing import Route, Router
from smsgate.delivery.smpp.pdu import (
    ESM_CLASS_TYPE_MASK,
    ESM_CLASS_UDHI,
    NO_TLVS,
    REGISTERED_DELIVERY_FINAL,
    CommandStatus,
    DeliverSm,
    SubmitSm,
    Tlvs,
)
from smsgate.delivery.smpp.receipt import ReceiptError, delivery_report, normalize_message_id
from smsgate.delivery.smpp.session import Inbound, Session, SubmitReply, status_name
from smsgate.delivery.smpp.text import (
    DataCoding,
    DefaultAlphabet,
    TextError,
    decode_body,
    encode_text,
    message_body,
)
from smsgate.delivery.smpp.udh import Concat, UdhError, concat_udh, find_concat, split_udh
from smsgate.domain.inbound_routing import MAX_ADDRESS_LENGTH
from smsgate.domain.sender import is_numeric_sender
from smsgate.domain.timezones import zone_info

log = logging.getLogger(__name__)

# Receipts committed in one call at most; more wait for the next.
RECEIPT_BATCH: Final = 1000
RECEIPT_PAUSE: Final = 0.005
# Receipts are held for the results of their submit call this long at most (see ``_receipt``),
# so a batch slowed down by throttling never keeps an SMSC waiting for its deliver_sm_resp.
RECEIPT_HOLD: Final = 1.0


@lru_cache(maxsize=64)  # the parts of one request share their expiry
def absolute_time(moment: datetime) -> str:
    """SMPP absolute time ``YYMMDDhhmmsstnnp`` (§7.1.1) in UTC."""
    utc = moment.astimezone(UTC)
    return f"{utc:%y%m%d%H%M%S}{utc.microsecond // 100_000}00+"


def source_ton_npi(sender_name: str, settings: SmppConnectorSettings) -> TonNpi:
    """A sender name of digits is a short code, or a number when longer than one; any other
    is alphanumeric."""
    if is_numeric_sender(sender_name):
        if len(sender_name) <= settings.short_code_digits:
            return settings.short_code_ton_npi
        return settings.numeric_source_ton_npi
    return settings.alphanumeric_source_ton_npi


def submit_sm_for(part: OutboundPart, settings: SmppConnectorSettings) -> SubmitSm:
    """The ``submit_sm`` of one part; raises ``TextError`` for text its encoding cannot carry."""
    udh = b""
    esm_class = 0
    tlvs = NO_TLVS
    if part.part_count > 1:
        if settings.concatenation is Concatenation.UDH:
            concat = Concat(part.concat_reference & 0xFF, part.part_count, part.part_number)
            udh = concat_udh(concat)
            esm_class = ESM_CLASS_UDHI
        else:
            tlvs = Tlvs(
                sar_msg_ref_num=part.concat_reference & 0xFFFF,
                sar_total_segments=part.part_count,
                sar_segment_seqnum=part.part_number,
            )
    data_coding, short_message = encode_text(
        part.text,
        part.encoding,
        udh=udh,
        gsm_packed=settings.gsm_packed,
        default_alphabet=settings.default_alphabet,
    )
    source_ton, source_npi = source_ton_npi(part.sender_name, settings)
    dest_ton, dest_npi = settings.destination_ton_npi
    return SubmitSm(
        source_addr_ton=source_ton,
        source_addr_npi=source_npi,
        source_addr=part.sender_name,
        dest_addr_ton=dest_ton,
        dest_addr_npi=dest_npi,
        destination_addr=part.destination,
        esm_class=esm_class,
        validity_period=absolute_time(part.expires_at),
        registered_delivery=REGISTERED_DELIVERY_FINAL,
        data_coding=data_coding,
        short_message=short_message,
        tlvs=tlvs,
    )


# An SMSC's own trouble, not a verdict on the message: it goes back to the queue (as Kannel
# takes them). A connector's settings may name more (``temporary_statuses``, vendor codes).
TEMPORARY_STATUSES: Final = frozenset({CommandStatus.ESME_RSYSERR, CommandStatus.ESME_RX_T_APPN})


def submit_result(
    part_id: int, reply: SubmitReply, settings: SmppConnectorSettings
) -> SubmitResult:
    """The dispatcher's view of the SMSC's answer to one part."""
    if reply.status is None:
        # A PDU the SMSC got and never answered is sent again later and later: one it drops
        # every time (its content, say) would otherwise cost the bind a drain each time.
        outcome = SubmitOutcome.DEFERRED if reply.unanswered else SubmitOutcome.RETRY
        maybe_taken = reply.unanswered or reply.lost_in_flight
        return SubmitResult(part_id, outcome, error=reply.reason, maybe_taken=maybe_taken)
    if reply.status == CommandStatus.ESME_ROK:
        smsc_id = normalize_message_id(reply.message_id, digits_are_hex=settings.submit_ids_hex)
        return SubmitResult(part_id, SubmitOutcome.ACCEPTED, smsc_id)
    error = status_name(reply.status)
    if reply.reason:
        error = f"{error}: {reply.reason}"
    if reply.status in TEMPORARY_STATUSES or reply.status in settings.temporary_statuses:
        return SubmitResult(part_id, SubmitOutcome.DEFERRED, error=error)
    return SubmitResult(part_id, SubmitOutcome.REJECTED, error=error)


def _content(pdu: Inbound) -> bytes:
    """The message octets: short_message, or the message_payload TLV when that is empty."""
    short_message = pdu.short_message if isinstance(pdu, DeliverSm) else b""
    return short_message or pdu.tlvs.message_payload or b""


class AddressError(ValueError):
    """An incoming message's address longer than the store keeps; ``status`` refuses it."""

    def __init__(self, status: CommandStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def read_incoming(
    pdu: Inbound,
    connector: str,
    received_at: datetime,
    *,
    gsm_packed: bool = False,
    default_alphabet: DefaultAlphabet = DefaultAlphabet.GSM,
) -> IncomingSms | IncomingPart:
    """A mobile-originated message, or one part of it (UDH or SAR TLVs say which). A part
    keeps the data_coding that names its alphabet to anyone: the SMSC's default made explicit.

    Raises ``TextError`` when its data_coding is not text, ``UdhError`` for a bad header and
    ``AddressError`` for an address over ``MAX_ADDRESS_LENGTH`` (data_sm allows 64 characters).
    """
    for address, status in (
        (pdu.source_addr, CommandStatus.ESME_RINVSRCADR),
        (pdu.destination_addr, CommandStatus.ESME_RINVDSTADR),
    ):
        if len(address) > MAX_ADDRESS_LENGTH:
            raise AddressError(status, f"address {address!r} over {MAX_ADDRESS_LENGTH} characters")
    content = _content(pdu)
    udh = b""
    concat = None
    if pdu.esm_class & ESM_CLASS_UDHI:
        udh, _ = split_udh(content)
        concat = find_concat(udh)
    tlvs = pdu.tlvs
    reference, total, seqnum = (
        tlvs.sar_msg_ref_num,
        tlvs.sar_total_segments,
        tlvs.sar_segment_seqnum,
    )
    if concat is None and reference is not None and total is not None and seqnum is not None:
        concat = Concat.if_possible(reference, total, seqnum)
    data_coding = pdu.data_coding
    if data_coding == DataCoding.SMSC_DEFAULT:
        data_coding = default_alphabet.data_coding
    body = message_body(content, data_coding, udh_length=len(udh), gsm_packed=gsm_packed)
    text = decode_body(body, data_coding)  # also refuses a non-text coding for a part
    source, destination = pdu.source_addr, pdu.destination_addr
    if concat is None or concat.total == 1:
        return IncomingSms(connector, source, destination, text, received_at)
    return IncomingPart(
        connector,
        source,
        destination,
        concat.reference,
        concat.total,
        concat.seqnum,
        data_coding,
        body,
        received_at,
    )


def _answered(status: int) -> asyncio.Future[int]:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    future.set_result(status)
    return future


@dataclass
class InboundCounters:
    receipts: int = 0
    receipts_not_final: int = 0
    receipts_unreadable: int = 0
    incoming: int = 0
    incoming_refused: int = 0


class _ReceiptBatcher:
    """Commits receipts in batches, one commit at a time: those that arrive while one commits
    make the next (a commit costs about the same for one receipt as for hundreds)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._batch: list[tuple[DeliveryReport, asyncio.Future[int]]] = []
        self._waiting = asyncio.Event()
        self._committer: asyncio.Task[None] | None = None

    def start(self, events: ConnectorEvents) -> None:
        self._committer = asyncio.create_task(self._commit_loop(events))

    def add(self, report: DeliveryReport, answered: asyncio.Future[int]) -> None:
        """``answered`` gets the status to acknowledge the receipt with, after the commit (it
        is cancelled, and the receipt left unanswered, when the batcher has stopped)."""
        if self._committer is None or self._committer.done():
            answered.cancel()
            return
        self._batch.append((report, answered))
        self._waiting.set()

    async def _commit_loop(self, events: ConnectorEvents) -> None:
        while True:
            await self._waiting.wait()
            # A moment for the receipts of the next read or two to join.
            await asyncio.sleep(RECEIPT_PAUSE)
            batch = self._batch[:RECEIPT_BATCH]
            del self._batch[:RECEIPT_BATCH]
            if not self._batch:
                self._waiting.clear()
            status: int = CommandStatus.ESME_ROK
            try:
                await events.delivery_reports([report for report, _ in batch])
            except asyncio.CancelledError:
                # Stopping: unanswered, the SMSC offers them again; the session counts them
                # out (else its count of receipts in hand only grows, till it stops reading).
                _cancel(future for _, future in batch)
                raise
            except Exception:
                # Not acknowledged as taken: the SMSC offers them again later.
                log.exception("%s: committing %d receipts failed", self.name, len(batch))
                status = CommandStatus.ESME_RX_T_APPN
            for _, future in batch:
                if not future.done():
                    future.set_result(status)

    async def stop(self) -> None:
        if self._committer is not None:
            self._committer.cancel()
            await asyncio.gather(self._committer, return_exceptions=True)
        _cancel(future for _, future in self._batch)
        self._batch.clear()


def _cancel(futures: Iterable[asyncio.Future[int]]) -> None:
    for future in futures:
        future.cancel()


class SmppConnector:
    """A ``Connector`` over the binds that ``settings`` describes."""

    def __init__(self, name: str, settings: SmppConnectorSettings) -> None:
        self.name = name
        self.settings = settings
        self._receipt_zone = zone_info(settings.receipt_timezone)
        self.sessions = [
            Session(config, self._inbound, name=f"{name}#{number} {config.bind_type}")
            for number, config in enumerate(settings.session_configs(), start=1)
        ]
        self._submitters = [s for s in self.sessions if s.config.bind_type.submits]
        self._turn = 0
        self._events: ConnectorEvents | None = None
        self._receipts = _ReceiptBatcher(name)
        # Parts accepted in a submit call that has not returned yet, by smsc id, with the
        # receipts that came for them meanwhile (see ``_receipt``).
        self._unrecorded: dict[str, list[tuple[DeliveryReport, asyncio.Future[int]]]] = {}
        self.counters = InboundCounters()

    @property
    def is_up(self) -> bool:
        return any(session.is_bound for session in self._submitters)

    async def start(self, events: ConnectorEvents) -> None:
        self._events = events
        self._receipts.start(events)
        for session in self.sessions:
            session.start()

    async def stop(self) -> None:
        await asyncio.gather(*(session.stop() for session in self.sessions))
        await self._receipts.stop()
        _cancel(future for held in self._unrecorded.values() for _, future in held)
        self._unrecorded.clear()

    async def submit(
        self, parts: Sequence[OutboundPart], on_answer: OnAnswer | None = None
    ) -> list[SubmitResult]:
        bound = [session for session in self._submitters if session.is_bound]
        if not bound:
            return [
                SubmitResult(p.message_id, SubmitOutcome.RETRY, error="no bind up") for p in parts
            ]
        results: dict[int, SubmitResult] = {}
        # Round robin: the binds share the load and each keeps its own window and TPS.
        shares: list[list[tuple[int, SubmitSm]]] = [[] for _ in bound]
        for part in parts:
            try:
                pdu = submit_sm_for(part, self.settings)
            except (TextError, UdhError) as error:
                results[part.message_id] = SubmitResult(
                    part.message_id, SubmitOutcome.REJECTED, error=f"cannot encode: {error}"
                )
                continue
            self._turn = (self._turn + 1) % len(bound)
            shares[self._turn].append((part.message_id, pdu))
        accepted: list[str] = []
        holding = True

        def settle(part_id: int, reply: asyncio.Future[SubmitReply]) -> None:
            if reply.cancelled():
                return
            result = submit_result(part_id, reply.result(), self.settings)
            results[part_id] = result
            if on_answer is not None:
                on_answer(result)
            if holding and result.smsc_id is not None:
                self._unrecorded.setdefault(result.smsc_id, [])
                accepted.append(result.smsc_id)

        def release() -> None:
            nonlocal holding
            holding = False
            for smsc_id in accepted:
                for report, answered in self._unrecorded.pop(smsc_id, ()):
                    self._receipts.add(report, answered)

        replies = []
        for session, share in zip(bound, shares, strict=True):
            futures = session.submit([pdu for _, pdu in share])
            for (part_id, _), future in zip(share, futures, strict=True):
                future.add_done_callback(partial(settle, part_id))
            replies += futures
        hold = asyncio.get_running_loop().call_later(RECEIPT_HOLD, release)
        try:
            await asyncio.gather(*replies)
        finally:
            # The dispatcher records the results as this returns, before these commit.
            hold.cancel()
            release()
        return [results[part.message_id] for part in parts]

    # --- incoming --------------------------------------------------------------------------

    def _inbound(self, pdu: Inbound) -> Awaitable[int]:
        if pdu.esm_class & ESM_CLASS_TYPE_MASK:
            return self._receipt(pdu)
        return self._incoming(pdu)

    def _receipt(self, pdu: Inbound) -> Awaitable[int]:
        counters = self.counters
        counters.receipts += 1
        content = _content(pdu)
        try:
            report = delivery_report(
                self.name,
                content,
                pdu.data_coding,
                received_at=datetime.now(UTC),
                receipted_message_id=pdu.tlvs.receipted_message_id,
                message_state=pdu.tlvs.message_state,
                submit_ids_hex=self.settings.submit_ids_hex,
                receipt_ids_hex=self.settings.receipt_ids_hex,
                tz=self._receipt_zone,
            )
        except ReceiptError as error:
            # Nothing can ever match it: taken, so the SMSC does not offer it forever.
            counters.receipts_unreadable += 1
            log.warning("%s: receipt acknowledged unused, %s: %r", self.name, error, content)
            return _answered(CommandStatus.ESME_ROK)
        if report is None:
            counters.receipts_not_final += 1
            log.info("%s: receipt without a final state acknowledged: %r", self.name, content)
            return _answered(CommandStatus.ESME_ROK)
        answered: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        waiting = self._unrecorded.get(report.smsc_id)
        if waiting is None:
            self._receipts.add(report, answered)
        else:
            # Its part's result is about to be recorded: committed after that, the receipt
            # finds the part at once instead of waiting in the store's early receipts.
            waiting.append((report, answered))
        return answered

    async def _incoming(self, pdu: Inbound) -> int:
        assert self._events is not None, "started"
        try:
            message = read_incoming(
                pdu,
                self.name,
                datetime.now(UTC),
                gsm_packed=self.settings.gsm_packed,
                default_alphabet=self.settings.default_alphabet,
            )
        except (TextError, UdhError, AddressError) as error:
            self.counters.incoming_refused += 1
            log.warning(
                "%s: incoming message from %r refused: %s", self.name, pdu.source_addr, error
            )
            if isinstance(error, AddressError):
                return error.status
            return CommandStatus.ESME_RX_P_APPN
        if isinstance(message, IncomingSms):
            await self._events.incoming(message)
        else:
            await self._events.incoming_part(message)
        self.counters.incoming += 1
        return CommandStatus.ESME_ROK

    def status(self) -> dict[str, object]:
        return {
            "name": self.name,
            "up": self.is_up,
            "host": f"{self.settings.host}:{self.settings.port}",
            "tls": self.settings.tls,
            **vars(self.counters),
            "sessions": [session.status() for session in self.sessions],
        }


def smpp_router(
    connectors: Mapping[str, SmppConnectorSettings], routes: Sequence[RouteSettings]
) -> Router:
    """The connectors of the settings file and its routes (without routes: every destination
    goes to the connectors in the order they are written)."""
    built = {name: SmppConnector(name, settings) for name, settings in connectors.items()}
    table = [Route(route.prefix, route.connectors) for route in routes]
    return Router(built, table or [Route("", tuple(built))])
