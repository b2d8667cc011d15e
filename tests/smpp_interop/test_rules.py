"""The SMPP connector's rules that need no peer: PDUs built from parts, answers mapped to
results, incoming PDUs read, settings checked, and the session's counters and clocks."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import TypedDict, Unpack

import pytest
from pydantic import ValidationError

from smsgate.config import CONFIG_FILE_VARIABLE, Settings, load_settings
from smsgate.delivery.connector import (
    DeliveryReport,
    Encoding,
    IncomingPart,
    IncomingSms,
    OutboundPart,
    ReportStatus,
    SubmitOutcome,
    SubmitResult,
)
from smsgate.delivery.connectors.settings import BindMode, SmppConnectorSettings
from smsgate.delivery.connectors.smpp import (
    AddressError,
    SmppConnector,
    absolute_time,
    read_incoming,
    submit_result,
    submit_sm_for,
)
from smsgate.delivery.smpp.pdu import (
    ESM_CLASS_UDHI,
    NO_TLVS,
    CommandStatus,
    DataSm,
    DeliverSm,
    Tlvs,
    decode,
    encode,
)
from smsgate.delivery.smpp.session import (
    MAX_SEQUENCE,
    BindType,
    RateMeter,
    SequenceNumbers,
    SubmitReply,
    tps_bucket,
)
from smsgate.delivery.smpp.text import (
    DataCoding,
    DefaultAlphabet,
    TextError,
    decode_body,
    encode_text,
    message_body,
)
from smsgate.delivery.smpp.udh import Concat, concat_udh, find_concat, split_udh
from smsgate.domain.inbound_routing import MAX_ADDRESS_LENGTH
from smsgate.token_bucket import TokenBucket
from tests.tls import make_test_ca

NOW = datetime(2026, 3, 1, 12, 30, 45, 678_000, tzinfo=UTC)
SETTINGS = SmppConnectorSettings(host="smsc", system_id="gw", password="pw")


def part(text: str = "Hello", **changes: object) -> OutboundPart:
    fields: dict[str, object] = {
        "message_id": 77,
        "sender_name": "SMS Info",
        "destination": "79161234567",
        "text": text,
        "encoding": Encoding.GSM7,
        "part_number": 1,
        "part_count": 1,
        "concat_reference": 0x1234,
        "expires_at": NOW,
    } | changes
    return OutboundPart(**fields)  # type: ignore[arg-type]


# --- submit_sm from a part ---------------------------------------------------------------------


def test_a_single_part_is_a_plain_submit_sm_asking_for_the_final_receipt() -> None:
    pdu = submit_sm_for(part(), SETTINGS)
    assert (pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi) == ("SMS Info", 5, 0)
    assert (pdu.destination_addr, pdu.dest_addr_ton, pdu.dest_addr_npi) == ("79161234567", 1, 1)
    assert (pdu.esm_class, pdu.registered_delivery, pdu.data_coding) == (0, 1, 0)
    assert pdu.short_message == b"Hello" and pdu.tlvs is NO_TLVS
    assert pdu.validity_period == "260301123045600+"
    # and the codec takes it
    assert decode(encode(pdu, 1))[1] == pdu


def test_numeric_and_alphanumeric_senders_get_their_own_ton_npi() -> None:
    assert submit_sm_for(part(sender_name="79001112233"), SETTINGS).source_addr_ton == 1
    custom = SETTINGS.model_copy(
        update={"numeric_source_ton_npi": (2, 9), "alphanumeric_source_ton_npi": (5, 9)}
    )
    numeric = submit_sm_for(part(sender_name="79001112233"), custom)
    assert (numeric.source_addr_ton, numeric.source_addr_npi) == (2, 9)
    # an operator's own numeric TON/NPI covers short codes too, unless they have theirs
    short = submit_sm_for(part(sender_name="1234"), custom)
    assert (short.source_addr_ton, short.source_addr_npi) == (2, 9)
    alphanumeric = submit_sm_for(part(sender_name="Shop 24"), custom)
    assert (alphanumeric.source_addr_ton, alphanumeric.source_addr_npi) == (5, 9)


@pytest.mark.parametrize(
    ("sender_name", "ton_npi"),
    [("900", (3, 0)), ("12345678", (3, 0)), ("123456789", (1, 1)), ("0911", (3, 0))],
)
def test_short_codes_are_not_international_numbers(
    sender_name: str, ton_npi: tuple[int, int]
) -> None:
    pdu = submit_sm_for(part(sender_name=sender_name), SETTINGS)
    assert (pdu.source_addr_ton, pdu.source_addr_npi) == ton_npi
    custom = SETTINGS.model_copy(
        update={"short_code_digits": 4, "short_code_source_ton_npi": (0, 1)}
    )
    assert submit_sm_for(part(sender_name="1234"), custom).source_addr_ton == 0
    assert submit_sm_for(part(sender_name="12345"), custom).source_addr_ton == 1


def test_absolute_time_is_utc_with_tenths() -> None:
    moscow = timezone(timedelta(hours=3))
    assert absolute_time(datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=moscow)) == (
        "261231205959900+"
    )


def test_a_part_of_a_long_message_carries_a_udh_with_the_8_bit_reference() -> None:
    text = "x" * 153
    pdu = submit_sm_for(part(text, part_number=2, part_count=3), SETTINGS)
    assert pdu.esm_class == ESM_CLASS_UDHI
    udh, body = split_udh(pdu.short_message)
    assert find_concat(udh) == Concat(0x34, 3, 2)
    assert body == text.encode()
    assert len(pdu.short_message) == 6 + 153


@pytest.mark.parametrize(
    ("text", "encoding", "packed"),
    [("x" * 153, Encoding.GSM7, True), ("ж" * 67, Encoding.UCS2, False)],
)
def test_a_full_part_fits_140_octets_on_the_air(
    text: str, encoding: Encoding, packed: bool
) -> None:
    settings = SETTINGS.model_copy(update={"gsm_packed": packed})
    pdu = submit_sm_for(part(text, encoding=encoding, part_count=2), settings)
    assert len(pdu.short_message) == 140


def test_sar_tlvs_replace_the_udh_when_configured() -> None:
    settings = SETTINGS.model_copy(update={"concatenation": "sar"})
    pdu = submit_sm_for(part("Hi", part_number=3, part_count=4, concat_reference=70_000), settings)
    assert pdu.esm_class == 0 and pdu.short_message == b"Hi"
    assert pdu.tlvs == Tlvs(sar_msg_ref_num=70_000 & 0xFFFF, sar_total_segments=4,
                            sar_segment_seqnum=3)  # fmt: skip


def test_ucs2_and_packed_gsm_text() -> None:
    ucs2 = submit_sm_for(part("Привет 😀", encoding=Encoding.UCS2), SETTINGS)
    assert (ucs2.data_coding, ucs2.short_message) == (8, "Привет 😀".encode("utf-16-be"))
    packed = submit_sm_for(part("hello"), SETTINGS.model_copy(update={"gsm_packed": True}))
    assert packed.short_message == bytes.fromhex("e8329bfd06")


def test_text_outside_its_encoding_cannot_be_encoded() -> None:
    with pytest.raises(TextError):
        submit_sm_for(part("Привет", encoding=Encoding.GSM7), SETTINGS)


# --- answers to results ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "result"),
    [
        (SubmitReply(0, "00FF"), SubmitResult(1, SubmitOutcome.ACCEPTED, "255")),
        (SubmitReply(0, "000123"), SubmitResult(1, SubmitOutcome.ACCEPTED, "123")),
        (SubmitReply(None, reason="not bound"), SubmitResult(1, SubmitOutcome.RETRY,
                                                             error="not bound")),
        # on a link lost before its resp: again soon, as the SMSC may have it
        (SubmitReply(None, reason="connection lost", lost_in_flight=True),
         SubmitResult(1, SubmitOutcome.RETRY, error="connection lost", maybe_taken=True)),
        # the SMSC got it and never answered: again later, later each time, as it may have it
        (SubmitReply(None, reason="no submit_sm_resp", unanswered=True),
         SubmitResult(1, SubmitOutcome.DEFERRED, error="no submit_sm_resp", maybe_taken=True)),
        (SubmitReply(CommandStatus.ESME_RINVDSTADR), SubmitResult(1, SubmitOutcome.REJECTED,
                                                                  error="ESME_RINVDSTADR")),
        (SubmitReply(0x400), SubmitResult(1, SubmitOutcome.REJECTED, error="0x00000400")),
        (SubmitReply(CommandStatus.ESME_RINVMSGLEN, reason="too long"),
         SubmitResult(1, SubmitOutcome.REJECTED, error="ESME_RINVMSGLEN: too long")),
        # the SMSC's own trouble: sent again later
        (SubmitReply(CommandStatus.ESME_RSYSERR), SubmitResult(1, SubmitOutcome.DEFERRED,
                                                               error="ESME_RSYSERR")),
        (SubmitReply(CommandStatus.ESME_RX_T_APPN), SubmitResult(1, SubmitOutcome.DEFERRED,
                                                                 error="ESME_RX_T_APPN")),
    ],
)  # fmt: skip
def test_submit_results(reply: SubmitReply, result: SubmitResult) -> None:
    assert submit_result(1, reply, SETTINGS) == result


def test_a_connector_names_its_smscs_temporary_statuses() -> None:
    settings = SETTINGS.model_copy(update={"temporary_statuses": frozenset({0x400})})
    assert submit_result(1, SubmitReply(0x400), settings).outcome is SubmitOutcome.DEFERRED
    assert submit_result(1, SubmitReply(0x401), settings).outcome is SubmitOutcome.REJECTED


def test_hex_submit_ids_are_read_as_hex() -> None:
    settings = SETTINGS.model_copy(update={"submit_ids_hex": True})
    assert submit_result(1, SubmitReply(0, "10"), settings).smsc_id == "16"


# --- incoming PDUs -----------------------------------------------------------------------------


class DeliverFields(TypedDict, total=False):
    """The fields of a ``deliver_sm`` the tests set, besides the addresses and the message."""

    esm_class: int
    data_coding: int
    tlvs: Tlvs


def deliver(short_message: bytes, **fields: Unpack[DeliverFields]) -> DeliverSm:
    return DeliverSm(
        source_addr="79115687451", destination_addr="1234", short_message=short_message, **fields
    )


def test_a_single_incoming_message_is_decoded() -> None:
    message = read_incoming(deliver("Ёлка".encode("utf-16-be"), data_coding=8), "op", NOW)
    assert message == IncomingSms("op", "79115687451", "1234", "Ёлка", NOW)


def test_an_incoming_part_keeps_its_octets_for_joining() -> None:
    udh = concat_udh(Concat(9, 2, 2))
    data_coding, short_message = encode_text("héllo", Encoding.GSM7, udh=udh, gsm_packed=True)
    pdu = deliver(short_message, esm_class=ESM_CLASS_UDHI, data_coding=data_coding)
    found = read_incoming(pdu, "op", NOW, gsm_packed=True)
    assert isinstance(found, IncomingPart)
    assert (found.reference, found.total, found.seqnum) == (9, 2, 2)
    assert decode_body(found.body, found.data_coding) == "héllo"
    assert found.body == message_body(short_message, 0, udh_length=len(udh), gsm_packed=True)


@pytest.mark.parametrize(
    ("alphabet", "octets"),
    [(DefaultAlphabet.LATIN_1, b"a@b_c$ \xe9"), (DefaultAlphabet.ASCII, None)],
)
def test_an_smsc_whose_default_alphabet_is_8_bit_gets_and_gives_8_bit_text(
    alphabet: DefaultAlphabet, octets: bytes | None
) -> None:
    # Such an SMSC reads data_coding 0 as Latin-1 (or ASCII): GSM septets there, '@' a NUL,
    # would be cut off or garbled.
    settings = SETTINGS.model_copy(update={"default_alphabet": alphabet})
    if octets is None:  # 'é' is no ASCII: the part cannot go, and says why
        with pytest.raises(TextError, match="not in the SMSC's ascii alphabet"):
            submit_sm_for(part("a@b_c$ é", encoding=Encoding.GSM7), settings)
        return
    pdu = submit_sm_for(part("a@b_c$ é", encoding=Encoding.GSM7), settings)
    assert (pdu.data_coding, pdu.short_message) == (0, octets)
    # and an incoming part with data_coding 0 is read, and kept, in that alphabet
    udh = concat_udh(Concat(9, 2, 1))
    incoming = deliver(udh + b"caf\xe9 @", esm_class=ESM_CLASS_UDHI, data_coding=0)
    found = read_incoming(incoming, "op", NOW, default_alphabet=alphabet)
    assert isinstance(found, IncomingPart)
    assert found.data_coding == DataCoding.LATIN_1
    assert decode_body(found.body, found.data_coding) == "café @"


def test_a_ucs2_part_padded_with_a_stray_octet_keeps_the_next_parts_aligned() -> None:
    udh = concat_udh(Concat(9, 2, 1))
    pdu = deliver(udh + "Hi".encode("utf-16-be") + b"\x00", esm_class=ESM_CLASS_UDHI, data_coding=8)
    found = read_incoming(pdu, "op", NOW)
    assert isinstance(found, IncomingPart)
    assert found.body == "Hi".encode("utf-16-be")
    assert decode_body(found.body + "!".encode("utf-16-be"), 8) == "Hi!"


def test_sar_tlvs_mark_an_incoming_part_and_data_sm_carries_a_payload() -> None:
    pdu = DataSm(
        source_addr="79115687451",
        destination_addr="1234",
        tlvs=Tlvs(
            message_payload=b"abc", sar_msg_ref_num=500, sar_total_segments=3, sar_segment_seqnum=1
        ),
    )
    found = read_incoming(pdu, "op", NOW)
    assert isinstance(found, IncomingPart)
    assert (found.reference, found.total, found.seqnum, found.body) == (500, 3, 1, b"abc")


@pytest.mark.parametrize(("total", "seqnum"), [(0, 0), (2, 5), (3, 0)])
def test_impossible_sar_tlvs_are_ignored_as_a_udh_s_are(total: int, seqnum: int) -> None:
    pdu = deliver(
        b"hi", tlvs=Tlvs(sar_msg_ref_num=7, sar_total_segments=total, sar_segment_seqnum=seqnum)
    )
    assert read_incoming(pdu, "op", NOW) == IncomingSms("op", "79115687451", "1234", "hi", NOW)


def test_a_one_part_concatenation_is_a_whole_message() -> None:
    pdu = deliver(concat_udh(Concat(1, 1, 1)) + b"hi", esm_class=ESM_CLASS_UDHI)
    assert read_incoming(pdu, "op", NOW) == IncomingSms("op", "79115687451", "1234", "hi", NOW)


def test_an_incoming_address_longer_than_the_store_keeps_is_refused() -> None:
    # data_sm allows 64 characters: refused for good, not failed at the insert on PostgreSQL
    # (a temporary error, offered again forever).
    longest = "7" * MAX_ADDRESS_LENGTH
    kept = DataSm(source_addr=longest, destination_addr=longest, tlvs=Tlvs(message_payload=b"hi"))
    assert read_incoming(kept, "op", NOW) == IncomingSms("op", longest, longest, "hi", NOW)
    for source, destination, status in (
        ("7" * (MAX_ADDRESS_LENGTH + 8), "1234", CommandStatus.ESME_RINVSRCADR),
        ("79115687451", "1" * (MAX_ADDRESS_LENGTH + 1), CommandStatus.ESME_RINVDSTADR),
    ):
        pdu = DataSm(
            source_addr=source, destination_addr=destination, tlvs=Tlvs(message_payload=b"hi")
        )
        with pytest.raises(AddressError) as refused:
            read_incoming(pdu, "op", NOW)
        assert refused.value.status == status


def test_an_incoming_binary_message_is_not_text() -> None:
    with pytest.raises(TextError):
        read_incoming(deliver(b"\x01\x02", data_coding=4), "op", NOW)


# --- settings ----------------------------------------------------------------------------------


def test_a_transmitter_receiver_pair_binds_each_way() -> None:
    pair = SETTINGS.model_copy(update={"bind": BindMode.TRANSMITTER_RECEIVER, "binds": 2})
    assert [c.bind_type for c in pair.session_configs()] == [
        BindType.TRANSMITTER,
        BindType.TRANSMITTER,
        BindType.RECEIVER,
    ]
    assert [c.bind_type for c in SETTINGS.session_configs()] == [BindType.TRANSCEIVER]


def test_tls_settings_verify_the_smsc() -> None:
    assert SETTINGS.ssl_context() is None
    context = SETTINGS.model_copy(update={"tls": True}).ssl_context()
    assert context is not None and context.check_hostname


def test_a_claim_outlives_the_longest_submit() -> None:
    """A part still with a bind when its claim lapses would be claimed and sent again."""
    connector = {"host": "smsc", "system_id": "gw", "password": "pw"}
    # The defaults fit: 40 s throttled, 10 s for the resp, 5 s margin, a 60 s claim.
    Settings(smsc="smpp", connectors={"a": connector})
    with pytest.raises(ValidationError, match=r"must exceed connector a's .* \(70\)"):
        Settings(smsc="smpp", connectors={"a": connector | {"submit_deadline": 60}})
    with pytest.raises(ValidationError, match=r"dispatch_lease_seconds \(50\) must exceed"):
        Settings(smsc="smpp", connectors={"a": connector}, dispatch_lease_seconds=50)
    Settings(
        smsc="smpp",
        connectors={"a": connector | {"submit_deadline": 60}},
        dispatch_lease_seconds=76,
    )


def test_settings_the_connectors_would_not_use_are_refused(tmp_path: Path) -> None:
    connector = {"host": "smsc", "system_id": "gw", "password": "pw"}
    # With the simulator they were ignored: every message reported delivered, none sent.
    with pytest.raises(ValidationError, match="used with smsc = smpp only"):
        Settings(connectors={"a": connector})
    with pytest.raises(ValidationError, match="routes with the same prefix: '7'"):
        Settings(
            smsc="smpp",
            connectors={"a": connector},
            routes=[{"prefix": "7", "connectors": ["a"]}, {"prefix": "7", "connectors": ["a"]}],
        )
    # Read when the binds start, long after: named at once instead of a traceback then.
    with pytest.raises(ValidationError, match=r"cannot use .*missing\.pem as a CA file"):
        SmppConnectorSettings(**connector, tls=True, ca_file=tmp_path / "missing.pem")
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Settings.model_validate({"flood_limt": 20})  # a misspelt key of the settings file


def test_a_settings_file_named_in_the_environment_must_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CONFIG_FILE_VARIABLE, str(tmp_path / "missing.toml"))
    with pytest.raises(FileNotFoundError, match=r"config file not found: .*missing\.toml"):
        load_settings()


def test_the_settings_file_keeps_decimals_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "smsgate.toml"
    monkeypatch.setenv(CONFIG_FILE_VARIABLE, str(config))
    config.write_text(
        "default_price = 0.35\nsimulator_delay = 0.25\n"
        '[connectors.a]\nhost = "smsc"\nsystem_id = "gw"\npassword = "pw"\n'
        "response_timeout = 7.5\n"
    )
    settings = load_settings(smsc="smpp", routes=[{"prefix": "", "connectors": ["a"]}])
    assert settings.default_price == Decimal("0.35")
    assert settings.simulator_delay == 0.25  # a float setting takes the Decimal too
    assert settings.connectors["a"].response_timeout == 7.5
    # As a float it would read 0.35, the digits past the fourth place lost without a word.
    config.write_text("default_price = 0.35000000000000001\n")
    with pytest.raises(ValidationError, match="default_price"):
        load_settings()


def test_smpp_needs_connectors_and_routes_name_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="needs at least one"):
        Settings(smsc="smpp")
    connector = {"host": "smsc", "system_id": "gw", "password": "pw"}
    with pytest.raises(ValidationError, match="unknown connectors: b"):
        Settings(
            smsc="smpp",
            connectors={"a": connector},
            routes=[{"prefix": "7", "connectors": ["a", "b"]}],
        )
    with pytest.raises(ValidationError, match="at most 8 characters"):
        SmppConnectorSettings(host="smsc", system_id="gw", password="longer than 8")
    with pytest.raises(ValidationError, match="TON and NPI are octets"):
        SmppConnectorSettings(
            host="smsc", system_id="gw", password="pw", destination_ton_npi=(1, 256)
        )


# --- the session's clocks and counters ---------------------------------------------------------


def test_sequence_numbers_wrap_to_1() -> None:
    numbers = SequenceNumbers(MAX_SEQUENCE - 1)
    assert [numbers.next() for _ in range(3)] == [MAX_SEQUENCE, 1, 2]


def test_token_bucket_keeps_the_rate() -> None:
    bucket = TokenBucket(rate=10, burst=2, now=0.0)
    assert [bucket.take(0.0) for _ in range(2)] == [0.0, 0.0]  # the burst
    assert bucket.take(0.0) == pytest.approx(0.1)
    assert bucket.take(0.05) == pytest.approx(0.05)
    assert bucket.take(0.1) == 0.0
    # over any long stretch: rate times the time, plus the burst
    bucket = tps_bucket(100, now=0.0)
    now, sent = 0.0, 0
    while now < 10.0:
        wait = bucket.take(now)
        if wait:
            now += wait
        else:
            sent += 1
    assert 1000 <= sent <= 1000 + 5


def test_rate_meter_counts_the_last_whole_second() -> None:
    meter = RateMeter()
    for moment in (10.1, 10.5, 10.9, 11.2):
        meter.add(moment)
    assert meter.rate(11.5) == 3
    assert meter.rate(12.1) == 1
    assert meter.rate(14.0) == 0


def test_the_readme_example_is_a_valid_settings_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    blocks = [block.split("```")[0] for block in readme.split("```toml\n")[1:]]
    (example,) = [block for block in blocks if 'smsc = "smpp"' in block]
    # The CA file it names is read at start: here, one of a test CA.
    ca_file = make_test_ca(tmp_path).ca_file
    config = tmp_path / "smsgate.toml"
    config.write_text(example.replace("/etc/smsgate/mts-ca.pem", str(ca_file)))
    monkeypatch.setenv(CONFIG_FILE_VARIABLE, str(config))
    settings = Settings()
    assert settings.smsc == "smpp"
    assert list(settings.connectors) == ["mts", "backup"]
    assert [(r.prefix, r.connectors) for r in settings.routes] == [
        ("7916", ("mts", "backup")),
        ("", ("backup",)),
    ]
    assert settings.connectors["backup"].bind is BindMode.TRANSMITTER_RECEIVER


class StalledStore:
    """Events whose receipts' commit never ends, as with a database that hangs."""

    def __init__(self) -> None:
        self.committing = asyncio.Event()

    async def delivery_reports(self, reports: Sequence[DeliveryReport]) -> None:
        self.committing.set()
        await asyncio.Event().wait()

    async def incoming(self, message: IncomingSms) -> None:
        raise AssertionError("not used")

    async def incoming_part(self, part: IncomingPart) -> None:
        raise AssertionError("not used")


class RecordingStore(StalledStore):
    def __init__(self) -> None:
        super().__init__()
        self.reports: list[DeliveryReport] = []

    async def delivery_reports(self, reports: Sequence[DeliveryReport]) -> None:
        self.reports.extend(reports)


def test_receipt_dates_are_read_in_the_connectors_receipt_timezone() -> None:
    text = b"id:26 sub:001 dlvrd:001 submit date:2403151230 done date:2403151231 stat:DELIVRD"

    async def scenario() -> list[DeliveryReport]:
        settings = SETTINGS.model_copy(update={"receipt_timezone": "Europe/Moscow"})
        connector = SmppConnector("op", settings)
        store = RecordingStore()
        await connector.start(store)
        try:
            status = await connector._inbound(DeliverSm(esm_class=4, short_message=text))
        finally:
            await connector.stop()
        assert status == CommandStatus.ESME_ROK
        return store.reports

    (report,) = asyncio.run(scenario())
    assert report.done_at == datetime(2024, 3, 15, 9, 31, tzinfo=UTC)


def test_an_unknown_receipt_timezone_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        SmppConnectorSettings(host="h", system_id="s", password="p", receipt_timezone="Mars/Base")


def test_receipts_in_hand_when_the_connector_stops_are_left_unanswered() -> None:
    # Their futures pending forever, each session counted them in hand: at 10,000 it stopped
    # reading its socket for good.
    async def scenario() -> list[asyncio.Future[int]]:
        connector = SmppConnector("op", SETTINGS)
        store = StalledStore()
        await connector.start(store)
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in range(3)]
        report = DeliveryReport("op", "26", ReportStatus.DELIVERED, NOW)
        connector._receipts.add(report, futures[0])
        await store.committing.wait()  # the first in a commit that hangs
        connector._receipts.add(report, futures[1])  # the next waiting for its turn
        await connector.stop()
        connector._receipts.add(report, futures[2])  # one that comes after the stop
        return futures

    futures = asyncio.run(scenario())
    assert all(future.cancelled() for future in futures)
