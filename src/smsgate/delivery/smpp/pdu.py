"""SMPP 3.4 PDUs as typed frozen dataclasses, and their binary codec.

Each PDU body is described once, by its dataclass fields: field order is wire order and each
field's metadata names its kind (C-octet string, octet, short message, TLV block). From these
descriptions each PDU class gets a compiled codec: the fixed fields encode with one ``%``
format and one latin-1 encode, and decode with one ``find`` per string and one precompiled
``Struct`` per run of octets, never a per-octet Python loop.

Decoding never trusts the peer: a malformed frame raises ``PduError`` carrying the
command_status to answer and, when the header was readable, the command id and sequence number,
so the session can reply (``generic_nack`` or the matching ``*_resp``) and keep the link up.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import struct
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, ClassVar, Final, NamedTuple, Protocol, TypeAlias, get_args

HEADER_LENGTH: Final = 16
MAX_COMMAND_LENGTH: Final = 64 * 1024
MAX_SHORT_MESSAGE_LENGTH: Final = 254
INTERFACE_VERSION: Final = 0x34
RESPONSE_BIT: Final = 0x80000000

# esm_class and registered_delivery bits a gateway acts on
ESM_CLASS_UDHI: Final = 0x40
ESM_CLASS_TYPE_MASK: Final = 0x3C
ESM_CLASS_DELIVERY_RECEIPT: Final = 0x04
REGISTERED_DELIVERY_FINAL: Final = 0x01


class CommandId(enum.IntEnum):
    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103
    # Never decoded: it has no response, and a gateway that asks for no alerts has no use for it.
    ALERT_NOTIFICATION = 0x00000102


class CommandStatus(enum.IntEnum):
    """SMPP 3.4 §5.1.3 error codes (SMSCs may also send vendor codes outside this set)."""

    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RINVPRTFLG = 0x06
    ESME_RINVREGDLVFLG = 0x07
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RCANCELFAIL = 0x11
    ESME_RREPLACEFAIL = 0x13
    ESME_RMSGQFUL = 0x14
    ESME_RINVSERTYP = 0x15
    ESME_RINVNUMDESTS = 0x33
    ESME_RINVDLNAME = 0x34
    ESME_RINVDESTFLAG = 0x40
    ESME_RINVSUBREP = 0x42
    ESME_RINVESMCLASS = 0x43
    ESME_RCNTSUBDL = 0x44
    ESME_RSUBMITFAIL = 0x45
    ESME_RINVSRCTON = 0x48
    ESME_RINVSRCNPI = 0x49
    ESME_RINVDSTTON = 0x50
    ESME_RINVDSTNPI = 0x51
    ESME_RINVSYSTYP = 0x53
    ESME_RINVREPFLAG = 0x54
    ESME_RINVNUMMSGS = 0x55
    ESME_RTHROTTLED = 0x58
    ESME_RINVSCHED = 0x61
    ESME_RINVEXPIRY = 0x62
    ESME_RINVDFTMSGID = 0x63
    ESME_RX_T_APPN = 0x64
    ESME_RX_P_APPN = 0x65
    ESME_RX_R_APPN = 0x66
    ESME_RQUERYFAIL = 0x67
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF


class TlvTag(enum.IntEnum):
    RECEIPTED_MESSAGE_ID = 0x001E
    USER_MESSAGE_REFERENCE = 0x0204
    SAR_MSG_REF_NUM = 0x020C
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    MESSAGE_PAYLOAD = 0x0424
    MESSAGE_STATE = 0x0427


class PduError(Exception):
    """A PDU that cannot be decoded or encoded; ``status`` is the command_status to answer."""

    def __init__(
        self,
        status: CommandStatus,
        reason: str,
        *,
        command_id: int | None = None,
        sequence_number: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.command_id = command_id
        self.sequence_number = sequence_number

    def __str__(self) -> str:
        return f"{self.status.name}: {self.reason}"


class Header(NamedTuple):
    command_length: int
    command_id: CommandId
    command_status: int  # not a CommandStatus: SMSCs send vendor-specific codes too
    sequence_number: int


_HEADER = struct.Struct(">IIII")
_TLV_HEAD = struct.Struct(">HH")
_OCTET = struct.Struct(">B")
_Status = CommandStatus


def _cstring_bytes(value: str, max_length: int) -> bytes:
    """``value`` NUL-terminated, in at most ``max_length`` octets (the NUL included)."""
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"{value!r} has characters outside Latin-1") from None
    if len(raw) >= max_length:
        raise ValueError(f"{value!r} is longer than {max_length - 1} characters")
    if b"\0" in raw:
        raise ValueError(f"{value!r} contains NUL")
    return raw + b"\0"


# --- TLV value kinds -------------------------------------------------------------------------


class _TlvKind(Protocol):
    def pack(self, value: Any) -> bytes: ...

    def unpack(self, raw: bytes) -> Any: ...


class _TlvInt:
    __slots__ = ("_struct",)

    def __init__(self, fmt: str) -> None:
        self._struct = struct.Struct(fmt)

    def pack(self, value: int) -> bytes:
        return self._struct.pack(value)

    def unpack(self, raw: bytes) -> int:
        if len(raw) != self._struct.size:
            raise ValueError(f"{len(raw)} octets, expected {self._struct.size}")
        value: int = self._struct.unpack(raw)[0]
        return value


class _TlvCString:
    __slots__ = ("_max_length",)

    def __init__(self, max_length: int) -> None:
        self._max_length = max_length

    def pack(self, value: str) -> bytes:
        return _cstring_bytes(value, self._max_length)

    def unpack(self, raw: bytes) -> str:
        # Many SMSCs omit the NUL that SMPP asks for here; the value ends at a NUL or the TLV end.
        value = raw.split(b"\0", 1)[0]
        if len(value) >= self._max_length:
            raise ValueError(f"{len(value)} characters, at most {self._max_length - 1}")
        return value.decode("latin-1")


class _TlvOctets:
    __slots__ = ()

    def pack(self, value: bytes) -> bytes:
        return bytes(value)

    def unpack(self, raw: bytes) -> bytes:
        return raw


def _tlv(tag: TlvTag, kind: _TlvKind) -> Any:
    return field(default=None, metadata={"tag": tag, "kind": kind})


@dataclass(frozen=True, slots=True)
class Tlvs:
    """The optional parameters a gateway reads; any other TLV is kept raw in ``unknown``.

    A known tag that repeats keeps its first value; the repeats, and a value that cannot be
    read as its tag's kind, go to ``unknown`` untouched.
    """

    receipted_message_id: str | None = _tlv(TlvTag.RECEIPTED_MESSAGE_ID, _TlvCString(65))
    message_state: int | None = _tlv(TlvTag.MESSAGE_STATE, _TlvInt(">B"))
    sar_msg_ref_num: int | None = _tlv(TlvTag.SAR_MSG_REF_NUM, _TlvInt(">H"))
    sar_total_segments: int | None = _tlv(TlvTag.SAR_TOTAL_SEGMENTS, _TlvInt(">B"))
    sar_segment_seqnum: int | None = _tlv(TlvTag.SAR_SEGMENT_SEQNUM, _TlvInt(">B"))
    message_payload: bytes | None = _tlv(TlvTag.MESSAGE_PAYLOAD, _TlvOctets())
    user_message_reference: int | None = _tlv(TlvTag.USER_MESSAGE_REFERENCE, _TlvInt(">H"))
    unknown: tuple[tuple[int, bytes], ...] = ()


NO_TLVS: Final = Tlvs()

_KNOWN_TLVS: Final = tuple(
    (f.name, f.metadata["tag"], f.metadata["kind"])
    for f in dataclasses.fields(Tlvs)
    if "tag" in f.metadata
)
_KNOWN_TLV_BY_TAG: Final = {tag: (name, kind) for name, tag, kind in _KNOWN_TLVS}


def _append_tlv(out: list[bytes], tag: int, raw: bytes, name: str) -> None:
    try:
        out.append(_TLV_HEAD.pack(tag, len(raw)))
    except struct.error:
        raise PduError(
            _Status.ESME_RINVPARLEN, f"{name}: tag or {len(raw)}-octet value does not fit a TLV"
        ) from None
    out.append(raw)


def _encode_tlvs(tlvs: Tlvs, out: list[bytes]) -> None:
    if tlvs is NO_TLVS:
        return
    for name, tag, kind in _KNOWN_TLVS:
        value = getattr(tlvs, name)
        if value is not None:
            try:
                raw = kind.pack(value)
            except (ValueError, struct.error) as exc:
                raise PduError(_Status.ESME_RINVOPTPARAMVAL, f"{name}: {exc}") from None
            _append_tlv(out, tag, raw, name)
    for tag, raw in tlvs.unknown:
        _append_tlv(out, tag, raw, f"TLV {tag:#06x}")


def _decode_tlvs(frame: bytes, pos: int, end: int) -> Tlvs:
    if pos == end:
        return NO_TLVS
    known: dict[str, Any] = {}
    unknown: list[tuple[int, bytes]] = []
    while pos < end:
        # Some SMSCs pad the body with NULs: no TLV has tag 0.
        if end - pos < _TLV_HEAD.size:
            if any(frame[pos:end]):
                raise PduError(
                    _Status.ESME_RINVOPTPARSTREAM, f"{end - pos} stray octets after TLVs"
                )
            break
        tag, length = _TLV_HEAD.unpack_from(frame, pos)
        if tag == 0 and not any(frame[pos:end]):
            break
        pos += _TLV_HEAD.size
        if pos + length > end:
            raise PduError(
                _Status.ESME_RINVOPTPARSTREAM,
                f"TLV {tag:#06x} claims {length} octets, {end - pos} left",
            )
        raw = frame[pos : pos + length]
        pos += length
        spec = _KNOWN_TLV_BY_TAG.get(tag)
        if spec is None or spec[0] in known:
            unknown.append((tag, raw))
            continue
        name, kind = spec
        try:
            known[name] = kind.unpack(raw)
        except ValueError:
            # Kept raw, as an unsupported parameter is (§3.2.3): a receipt then falls back to
            # its text, a message part to its UDH.
            unknown.append((tag, raw))
    return Tlvs(**known, unknown=tuple(unknown))


# --- body field kinds ------------------------------------------------------------------------


class _Kind(enum.Enum):
    CSTRING = enum.auto()
    OCTET = enum.auto()
    SHORT_MESSAGE = enum.auto()
    TLVS = enum.auto()


def _cstring(max_length: int, status: CommandStatus) -> Any:
    """A C-octet string field; ``max_length`` counts the NUL, ``status`` answers a bad value."""
    return field(
        default="", metadata={"kind": _Kind.CSTRING, "max_length": max_length, "status": status}
    )


def _octet(default: int = 0) -> Any:
    return field(default=default, metadata={"kind": _Kind.OCTET})


def _short_message() -> Any:
    return field(default=b"", metadata={"kind": _Kind.SHORT_MESSAGE})


_TLVS: Final = {"kind": _Kind.TLVS}


@dataclass(frozen=True, slots=True)
class _CStringField:
    index: int
    name: str
    max_length: int  # the NUL included
    status: CommandStatus

    def missing_nul(self, truncated: bool) -> PduError:
        if truncated:
            return PduError(_Status.ESME_RINVCMDLEN, f"body ends inside {self.name}")
        return PduError(self.status, f"{self.name}: no NUL within {self.max_length} octets")


class _OctetRun(struct.Struct):
    """Consecutive one-octet fields, read by one unpack."""

    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__(">" + "B" * len(names))
        self.names = names


def _is_octet(value: object) -> bool:
    return isinstance(value, int) and 0 <= value <= 0xFF


def _decode_short_message(frame: bytes, pos: int, end: int, out: list[Any]) -> int:
    if pos >= end:
        raise PduError(_Status.ESME_RINVCMDLEN, "body ends before sm_length")
    length = frame[pos]
    pos += 1
    stop = pos + length
    if length > MAX_SHORT_MESSAGE_LENGTH or stop > end:
        raise PduError(_Status.ESME_RINVMSGLEN, f"sm_length {length} with {end - pos} octets left")
    out.append(frame[pos:stop])
    return stop


# --- PDUs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Bind:
    """The body shared by the three bind requests."""

    system_id: str = _cstring(16, _Status.ESME_RINVSYSID)
    password: str = _cstring(9, _Status.ESME_RINVPASWD)
    system_type: str = _cstring(13, _Status.ESME_RINVSYSTYP)
    interface_version: int = _octet(INTERFACE_VERSION)
    addr_ton: int = _octet()
    addr_npi: int = _octet()
    address_range: str = _cstring(41, _Status.ESME_RINVPARLEN)
    tlvs: Tlvs = field(default=NO_TLVS, metadata=_TLVS)


@dataclass(frozen=True, slots=True)
class BindTransmitter(_Bind):
    """Opens a session that submits messages."""

    command_id: ClassVar[CommandId] = CommandId.BIND_TRANSMITTER


@dataclass(frozen=True, slots=True)
class BindReceiver(_Bind):
    """Opens a session that receives messages and receipts."""

    command_id: ClassVar[CommandId] = CommandId.BIND_RECEIVER


@dataclass(frozen=True, slots=True)
class BindTransceiver(_Bind):
    """Opens a session that does both."""

    command_id: ClassVar[CommandId] = CommandId.BIND_TRANSCEIVER


@dataclass(frozen=True, slots=True)
class _BindResp:
    """The body shared by the three bind responses (sc_interface_version stays in the TLVs)."""

    system_id: str = _cstring(16, _Status.ESME_RINVSYSID)
    tlvs: Tlvs = field(default=NO_TLVS, metadata=_TLVS)


@dataclass(frozen=True, slots=True)
class BindTransmitterResp(_BindResp):
    """Answers bind_transmitter; ``system_id`` names the SMSC."""

    command_id: ClassVar[CommandId] = CommandId.BIND_TRANSMITTER_RESP


@dataclass(frozen=True, slots=True)
class BindReceiverResp(_BindResp):
    """Answers bind_receiver; ``system_id`` names the SMSC."""

    command_id: ClassVar[CommandId] = CommandId.BIND_RECEIVER_RESP


@dataclass(frozen=True, slots=True)
class BindTransceiverResp(_BindResp):
    """Answers bind_transceiver; ``system_id`` names the SMSC."""

    command_id: ClassVar[CommandId] = CommandId.BIND_TRANSCEIVER_RESP


@dataclass(frozen=True, slots=True)
class _ShortMessagePdu:
    """The body shared by submit_sm and deliver_sm."""

    service_type: str = _cstring(6, _Status.ESME_RINVSERTYP)
    source_addr_ton: int = _octet()
    source_addr_npi: int = _octet()
    source_addr: str = _cstring(21, _Status.ESME_RINVSRCADR)
    dest_addr_ton: int = _octet()
    dest_addr_npi: int = _octet()
    destination_addr: str = _cstring(21, _Status.ESME_RINVDSTADR)
    esm_class: int = _octet()
    protocol_id: int = _octet()
    priority_flag: int = _octet()
    schedule_delivery_time: str = _cstring(17, _Status.ESME_RINVSCHED)
    validity_period: str = _cstring(17, _Status.ESME_RINVEXPIRY)
    registered_delivery: int = _octet()
    replace_if_present_flag: int = _octet()
    data_coding: int = _octet()
    sm_default_msg_id: int = _octet()
    short_message: bytes = _short_message()
    tlvs: Tlvs = field(default=NO_TLVS, metadata=_TLVS)


@dataclass(frozen=True, slots=True)
class SubmitSm(_ShortMessagePdu):
    """A message to send; long text goes in ``tlvs.message_payload`` or in UDH parts."""

    command_id: ClassVar[CommandId] = CommandId.SUBMIT_SM


@dataclass(frozen=True, slots=True)
class DeliverSm(_ShortMessagePdu):
    """An incoming message, or a delivery receipt when ``esm_class`` says so."""

    command_id: ClassVar[CommandId] = CommandId.DELIVER_SM


@dataclass(frozen=True, slots=True)
class DataSm:
    """submit_sm or deliver_sm without a short_message: the text is in the TLVs."""

    service_type: str = _cstring(6, _Status.ESME_RINVSERTYP)
    source_addr_ton: int = _octet()
    source_addr_npi: int = _octet()
    source_addr: str = _cstring(65, _Status.ESME_RINVSRCADR)
    dest_addr_ton: int = _octet()
    dest_addr_npi: int = _octet()
    destination_addr: str = _cstring(65, _Status.ESME_RINVDSTADR)
    esm_class: int = _octet()
    registered_delivery: int = _octet()
    data_coding: int = _octet()
    tlvs: Tlvs = field(default=NO_TLVS, metadata=_TLVS)

    command_id: ClassVar[CommandId] = CommandId.DATA_SM


@dataclass(frozen=True, slots=True)
class _MessageIdResp:
    """The body shared by the responses that carry a message id."""

    message_id: str = _cstring(65, _Status.ESME_RINVMSGID)
    tlvs: Tlvs = field(default=NO_TLVS, metadata=_TLVS)


@dataclass(frozen=True, slots=True)
class SubmitSmResp(_MessageIdResp):
    """Answers submit_sm; ``message_id`` is how receipts will name the message."""

    command_id: ClassVar[CommandId] = CommandId.SUBMIT_SM_RESP


@dataclass(frozen=True, slots=True)
class DeliverSmResp(_MessageIdResp):
    """Answers deliver_sm; ``message_id`` is unused and empty."""

    command_id: ClassVar[CommandId] = CommandId.DELIVER_SM_RESP


@dataclass(frozen=True, slots=True)
class DataSmResp(_MessageIdResp):
    """Answers data_sm."""

    command_id: ClassVar[CommandId] = CommandId.DATA_SM_RESP


@dataclass(frozen=True, slots=True)
class EnquireLink:
    """A keep-alive either side may send."""

    command_id: ClassVar[CommandId] = CommandId.ENQUIRE_LINK


@dataclass(frozen=True, slots=True)
class EnquireLinkResp:
    """Answers enquire_link."""

    command_id: ClassVar[CommandId] = CommandId.ENQUIRE_LINK_RESP


@dataclass(frozen=True, slots=True)
class Unbind:
    """Asks to close the session."""

    command_id: ClassVar[CommandId] = CommandId.UNBIND


@dataclass(frozen=True, slots=True)
class UnbindResp:
    """Answers unbind."""

    command_id: ClassVar[CommandId] = CommandId.UNBIND_RESP


@dataclass(frozen=True, slots=True)
class GenericNack:
    """Answers a PDU that could not be read; the header status says why."""

    command_id: ClassVar[CommandId] = CommandId.GENERIC_NACK


Pdu: TypeAlias = (
    BindTransmitter
    | BindReceiver
    | BindTransceiver
    | BindTransmitterResp
    | BindReceiverResp
    | BindTransceiverResp
    | SubmitSm
    | SubmitSmResp
    | DeliverSm
    | DeliverSmResp
    | DataSm
    | DataSmResp
    | EnquireLink
    | EnquireLinkResp
    | Unbind
    | UnbindResp
    | GenericNack
)


class _Codec:
    """The encoder and decoder of one PDU class, compiled from its field descriptions.

    A body is a head of C-octet strings and octets, then short_message if any, then TLVs. The
    head encodes as a single ``%`` format of the field values (``%s\\0`` per string, ``%c`` per
    octet) and one latin-1 encode; the per-field checks run only to name a value that failed.
    """

    def __init__(self, pdu_class: type[Pdu]) -> None:
        fields = dataclasses.fields(pdu_class)
        head_kinds = (_Kind.CSTRING, _Kind.OCTET)
        head = tuple(itertools.takewhile(lambda f: f.metadata["kind"] in head_kinds, fields))
        tail = [f.metadata["kind"] for f in fields[len(head) :]]
        if tail not in ([], [_Kind.TLVS], [_Kind.SHORT_MESSAGE, _Kind.TLVS]):
            raise TypeError(f"{pdu_class.__name__}: no codec for a body laid out as {tail}")
        self._pdu_class = pdu_class
        self.command_id = pdu_class.command_id
        self._head_size = len(head)
        self._has_short_message = _Kind.SHORT_MESSAGE in tail
        self._has_tlvs = bool(tail)
        self._template = "".join(
            "%s\0" if f.metadata["kind"] is _Kind.CSTRING else "%c" for f in head
        )
        self._cstrings = tuple(
            _CStringField(index, f.name, f.metadata["max_length"], f.metadata["status"])
            for index, f in enumerate(head)
            if f.metadata["kind"] is _Kind.CSTRING
        )
        self._octets = tuple(
            (index, f.name) for index, f in enumerate(head) if f.metadata["kind"] is _Kind.OCTET
        )
        by_index = {spec.index: spec for spec in self._cstrings}
        steps: list[_CStringField | _OctetRun] = []
        runs = itertools.groupby(enumerate(head), key=lambda item: item[1].metadata["kind"])
        for kind, run in runs:
            items = list(run)
            if kind is _Kind.OCTET:
                steps.append(_OctetRun(tuple(f.name for _, f in items)))
            else:
                steps.extend(by_index[index] for index, _ in items)
        self._head_steps = tuple(steps)
        # Every body ends with ``tlvs``, so it has at least two fields and attrgetter gives a tuple.
        self._values = attrgetter(*(f.name for f in fields)) if fields else None
        # SMSCs answer errors, and often deliver_sm, with a bare header: the body keeps defaults.
        bare_ok = not fields or self.command_id & RESPONSE_BIT
        self._empty = pdu_class() if bare_ok else None
        # A response's verdict is its header's command_status: a body that breaks the rules (a
        # message_id without its NUL, padding after it, a rejection carrying odd TLVs) is read
        # leniently rather than lose that verdict. Every response head is strings alone.
        self.lenient = bool(self.command_id & RESPONSE_BIT) and len(self._cstrings) == len(head)

    def _invalid(self, values: tuple[Any, ...]) -> PduError:
        """The error naming the head value that failed the fast path."""
        for spec in self._cstrings:
            try:
                _cstring_bytes(values[spec.index], spec.max_length)
            except ValueError as exc:
                return PduError(spec.status, f"{spec.name}: {exc}")
        bad = ", ".join(
            f"{name}={values[i]!r}" for i, name in self._octets if not _is_octet(values[i])
        )
        return PduError(_Status.ESME_RSYSERR, f"not an octet: {bad}")

    def encode_body(self, pdu: Pdu) -> bytes:
        if self._values is None:
            return b""
        values = self._values(pdu)
        for spec in self._cstrings:
            value = values[spec.index]
            if len(value) >= spec.max_length or "\0" in value:
                raise self._invalid(values)
        try:
            parts = [(self._template % values[: self._head_size]).encode("latin-1")]
        except (UnicodeEncodeError, OverflowError, TypeError):
            raise self._invalid(values) from None
        if self._has_short_message:
            message: bytes = values[self._head_size]
            if len(message) > MAX_SHORT_MESSAGE_LENGTH:
                raise PduError(
                    _Status.ESME_RINVMSGLEN,
                    f"short_message has {len(message)} octets, at most {MAX_SHORT_MESSAGE_LENGTH}"
                    " (longer text goes in message_payload)",
                )
            parts += (_OCTET.pack(len(message)), message)
        _encode_tlvs(values[-1], parts)
        return b"".join(parts)

    def decode_body(self, frame: bytes) -> Pdu:
        end = len(frame)
        if end == HEADER_LENGTH and self._empty is not None:
            return self._empty
        values: list[Any] = []
        pos = HEADER_LENGTH
        for step in self._head_steps:
            if isinstance(step, _OctetRun):
                stop = pos + step.size
                if stop > end:
                    raise PduError(_Status.ESME_RINVCMDLEN, f"body ends inside {step.names[0]}")
                values.extend(step.unpack_from(frame, pos))
                pos = stop
            else:
                limit = pos + step.max_length
                nul = frame.find(b"\0", pos, min(limit, end))
                if nul < 0:
                    raise step.missing_nul(truncated=limit > end)
                values.append(frame[pos:nul].decode("latin-1"))
                pos = nul + 1
        if self._has_short_message:
            pos = _decode_short_message(frame, pos, end, values)
        if self._has_tlvs:
            values.append(_decode_tlvs(frame, pos, end))
        elif pos != end:
            raise PduError(_Status.ESME_RINVCMDLEN, f"{end - pos} octets after the body")
        return self._pdu_class(*values)

    def decode_body_leniently(self, frame: bytes) -> Pdu:
        """A response body read without its rules: each string up to its NUL or the end of
        the frame (cut to its size), the rest, TLVs included, ignored."""
        end = len(frame)
        values: list[Any] = []
        pos = HEADER_LENGTH
        for spec in self._cstrings:
            nul = frame.find(b"\0", pos, end)
            stop = end if nul < 0 else nul
            values.append(frame[pos:stop][: spec.max_length - 1].decode("latin-1"))
            pos = min(stop + 1, end)
        if self._has_tlvs:
            values.append(NO_TLVS)
        return self._pdu_class(*values)


_CODEC_BY_CLASS: Final[dict[type[Pdu], _Codec]] = {cls: _Codec(cls) for cls in get_args(Pdu)}
_CODEC_BY_ID: Final = {codec.command_id.value: codec for codec in _CODEC_BY_CLASS.values()}


def encode(pdu: Pdu, sequence_number: int, command_status: int = _Status.ESME_ROK) -> bytes:
    """The wire frame of ``pdu``; raises ``PduError`` for a value that cannot be encoded."""
    codec = _CODEC_BY_CLASS[type(pdu)]
    try:
        body = codec.encode_body(pdu)
        length = HEADER_LENGTH + len(body)
        if length > MAX_COMMAND_LENGTH:
            raise PduError(_Status.ESME_RINVMSGLEN, f"{length} octets exceed {MAX_COMMAND_LENGTH}")
        try:
            header = _HEADER.pack(length, codec.command_id, command_status, sequence_number)
        except struct.error:
            raise PduError(
                _Status.ESME_RSYSERR,
                f"sequence_number {sequence_number!r} and command_status {command_status!r} "
                "must be 32-bit unsigned",
            ) from None
    except PduError as exc:
        exc.command_id = codec.command_id
        exc.sequence_number = sequence_number
        raise
    return header + body


def decode(frame: bytes) -> tuple[Header, Pdu]:
    """Split one complete frame into its header and PDU; raises only ``PduError``.

    A response whose body is malformed still decodes (see ``_Codec.lenient``).
    """
    if len(frame) < HEADER_LENGTH:
        raise PduError(_Status.ESME_RINVCMDLEN, f"{len(frame)} octets cannot hold a header")
    length, command_id, command_status, sequence_number = _HEADER.unpack_from(frame)
    try:
        if length != len(frame):
            raise PduError(
                _Status.ESME_RINVCMDLEN, f"command_length {length}, frame of {len(frame)} octets"
            )
        codec = _CODEC_BY_ID.get(command_id)
        if codec is None:
            raise PduError(_Status.ESME_RINVCMDID, f"command_id {command_id:#010x} not supported")
        try:
            pdu = codec.decode_body(frame)
        except PduError:
            if not codec.lenient:
                raise
            pdu = codec.decode_body_leniently(frame)
    except PduError as exc:
        exc.command_id = command_id
        exc.sequence_number = sequence_number
        raise
    return Header(length, codec.command_id, command_status, sequence_number), pdu


class FrameReader:
    """Cuts a byte stream into complete frames.

    A command_length outside ``HEADER_LENGTH..max_length`` leaves no way to find the next
    frame, so it raises ``PduError`` (with the header's command id and sequence number, for the
    ``generic_nack``) and the reader stays failed: the session must close the connection.
    """

    __slots__ = ("_buffer", "_error", "_max_length")

    def __init__(self, max_length: int = MAX_COMMAND_LENGTH) -> None:
        self._buffer = bytearray()
        self._max_length = max_length
        self._error: PduError | None = None

    def feed(self, data: bytes) -> list[bytes]:
        """Append ``data``; return the frames it completed, in order."""
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        buffer += data
        frames: list[bytes] = []
        pos = 0
        available = len(buffer)
        # A whole header is awaited before checking, so the error always carries its sequence.
        while available - pos >= HEADER_LENGTH:
            length, command_id, _, sequence_number = _HEADER.unpack_from(buffer, pos)
            if not HEADER_LENGTH <= length <= self._max_length:
                self._error = PduError(
                    _Status.ESME_RINVCMDLEN,
                    f"command_length {length} outside {HEADER_LENGTH}..{self._max_length}",
                    command_id=command_id,
                    sequence_number=sequence_number,
                )
                del buffer[:]
                raise self._error
            if available - pos < length:
                break
            frames.append(bytes(buffer[pos : pos + length]))
            pos += length
        if pos:
            del buffer[:pos]
        return frames
