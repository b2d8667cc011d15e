"""Settings of SMPP connectors and of routes, as the TOML settings file writes them::

smsc = "smpp"

[connectors.mts]
host = "smpp.mts.example"
port = 3550
tls = true
ca_file = "/etc/smsgate/mts-ca.pem"   # a private CA; the system's CAs without it
system_id = "gateway"
password = "secret"
window = 50
tps = 200

[connectors.backup]
host = "smpp.backup.example"
system_id = "gw"
password = "pw"
bind = "transmitter+receiver"

[[routes]]
prefix = "7916"
connectors = ["mts", "backup"]   # in order: the first one that is up carries the part

[[routes]]
prefix = ""                      # every other destination
connectors = ["backup"]
"""

from __future__ import annotations

import enum
import ssl
from dataclasses import replace
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from smsgate.delivery.smpp.session import BindType, SessionConfig
from smsgate.delivery.smpp.text import DefaultAlphabet
from smsgate.domain.timezones import check_zone

# The connector column of a part holds the name.
MAX_NAME_LENGTH = 64


class BindMode(enum.StrEnum):
    TRANSCEIVER = "transceiver"
    TRANSMITTER_RECEIVER = "transmitter+receiver"


class Concatenation(enum.StrEnum):
    """How the parts of a long message say so: a UDH with an 8-bit reference, or SAR TLVs.

    A 16-bit-reference UDH is not offered: it is an octet longer, and the 153-septet and
    67-character parts the messages are billed by would no longer fit 140 octets.
    """

    UDH = "udh"
    SAR = "sar"


TonNpi = tuple[int, int]


class SmppConnectorSettings(BaseModel):
    """One operator SMSC: where it is, how to bind, and how it wants messages written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    port: int = Field(default=2775, ge=1, le=65535)
    tls: bool = False
    ca_file: Path | None = Field(
        default=None, description="PEM file of the CA that signed the SMSC's certificate."
    )
    system_id: str = Field(max_length=15)
    password: str = Field(max_length=8)
    system_type: str = Field(default="", max_length=12)
    bind: BindMode = BindMode.TRANSCEIVER
    binds: int = Field(
        default=1, ge=1, le=32, description="Sessions that submit (transceivers or transmitters)."
    )
    window: int = Field(default=10, ge=1, le=1000)
    tps: float | None = Field(default=None, gt=0, description="Submits per second, per bind.")
    response_timeout: float = Field(default=10.0, gt=0)
    enquire_link_interval: float = Field(default=30.0, gt=0)
    connect_timeout: float = Field(default=10.0, gt=0)
    reconnect_delay: float = Field(default=1.0, gt=0)
    reconnect_max_delay: float = Field(default=60.0, gt=0)
    throttle_delay: float = Field(default=0.1, gt=0)
    throttle_max_delay: float = Field(default=5.0, gt=0)
    submit_deadline: float = Field(
        default=40.0, gt=0, description="Throttled this long, a part goes back to the queue."
    )
    alphanumeric_source_ton_npi: TonNpi = (5, 0)
    numeric_source_ton_npi: TonNpi = (1, 1)
    destination_ton_npi: TonNpi = (1, 1)
    concatenation: Concatenation = Concatenation.UDH
    gsm_packed: bool = Field(default=False, description="GSM text packed 7-bit, both ways.")
    default_alphabet: DefaultAlphabet = Field(
        default=DefaultAlphabet.GSM,
        description="What the SMSC takes data_coding 0 to be, both ways: gsm, latin-1 or ascii.",
    )
    submit_ids_hex: bool = Field(default=False, description="submit_sm_resp ids are hex.")
    receipt_ids_hex: bool = Field(default=False, description="Receipt text ids are hex.")
    receipt_timezone: str = Field(
        default="UTC", description="The time zone of the dates in the SMSC's receipt texts."
    )
    short_code_source_ton_npi: TonNpi = (3, 0)
    short_code_digits: int = Field(
        default=8, ge=0, le=15, description="Senders of at most this many digits are short codes."
    )
    temporary_statuses: frozenset[int] = Field(
        default=frozenset(),
        description="submit_sm_resp statuses (vendor codes) after which a part is sent again "
        "later rather than failed; ESME_RSYSERR and ESME_RX_T_APPN always are.",
    )

    @field_validator("ca_file")
    @classmethod
    def _readable_ca(cls, ca_file: Path | None) -> Path | None:
        # Read when the binds start, long after the settings: a file that cannot serve fails
        # the start with the file named, not with a traceback from the connector.
        if ca_file is not None:
            try:
                ssl.create_default_context(cafile=ca_file)
            except (OSError, ssl.SSLError) as error:
                raise ValueError(f"cannot use {ca_file} as a CA file: {error}") from None
        return ca_file

    @field_validator("receipt_timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        return check_zone(name)

    @field_validator(
        "alphanumeric_source_ton_npi",
        "numeric_source_ton_npi",
        "short_code_source_ton_npi",
        "destination_ton_npi",
    )
    @classmethod
    def _octets(cls, value: TonNpi) -> TonNpi:
        if not all(0 <= octet <= 0xFF for octet in value):
            raise ValueError("TON and NPI are octets (0-255)")
        return value

    @property
    def short_code_ton_npi(self) -> TonNpi:
        """The TON and NPI of short-code senders: an operator's own ``numeric_source_ton_npi``
        covers them too, unless short codes are given theirs."""
        chosen = self.model_fields_set
        if "numeric_source_ton_npi" in chosen and "short_code_source_ton_npi" not in chosen:
            return self.numeric_source_ton_npi
        return self.short_code_source_ton_npi

    def ssl_context(self) -> ssl.SSLContext | None:
        """Verifying the SMSC's certificate and host name, against ``ca_file`` when given."""
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=self.ca_file)

    @property
    def longest_submit(self) -> float:
        """Seconds a part may stay with a bind before its answer: queued and resubmitted while
        throttled (``submit_deadline``), then awaiting its last submit's resp."""
        return self.submit_deadline + self.response_timeout

    def session_configs(self) -> list[SessionConfig]:
        """One per bind: the submitting sessions first, then a receiver if the mode has one."""
        submitter = SessionConfig(
            host=self.host,
            port=self.port,
            system_id=self.system_id,
            password=self.password,
            system_type=self.system_type,
            bind_type=(
                BindType.TRANSCEIVER if self.bind is BindMode.TRANSCEIVER else BindType.TRANSMITTER
            ),
            window=self.window,
            tps=self.tps,
            response_timeout=self.response_timeout,
            enquire_link_interval=self.enquire_link_interval,
            connect_timeout=self.connect_timeout,
            reconnect_delay=self.reconnect_delay,
            reconnect_max_delay=self.reconnect_max_delay,
            throttle_delay=self.throttle_delay,
            throttle_max_delay=self.throttle_max_delay,
            submit_deadline=self.submit_deadline,
            ssl=self.ssl_context(),
        )
        configs = [submitter] * self.binds
        if self.bind is BindMode.TRANSMITTER_RECEIVER:
            configs.append(replace(submitter, bind_type=BindType.RECEIVER))
        return configs


class RouteSettings(BaseModel):
    """Destinations starting with ``prefix`` go to the first of ``connectors`` that is up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prefix: str = Field(default="", pattern=r"^[0-9]*$")
    connectors: tuple[str, ...] = Field(min_length=1)
