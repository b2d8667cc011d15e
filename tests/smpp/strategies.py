"""Hypothesis strategies for SMPP PDUs, with field limits restated from the SMPP 3.4 spec."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import strategies as st

from smsgate.delivery.smpp.pdu import DataSm, Pdu, Tlvs, TlvTag

# Maximum C-octet string sizes (the NUL included), SMPP 3.4 §4.
CSTRING_MAX = {
    "system_id": 16,
    "password": 9,
    "system_type": 13,
    "address_range": 41,
    "service_type": 6,
    "source_addr": 21,
    "destination_addr": 21,
    "schedule_delivery_time": 17,
    "validity_period": 17,
    "message_id": 65,
}
DATA_SM_CSTRING_MAX = CSTRING_MAX | {"source_addr": 65, "destination_addr": 65}

octets = st.integers(0, 0xFF)


def cstrings(max_length: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(min_codepoint=1, max_codepoint=0xFF), max_size=max_length - 1)


KNOWN_TAGS = frozenset(TlvTag)
# Tag 0 is no TLV: a body ending in NULs is padding.
unknown_tags = st.integers(1, 0xFFFF).filter(lambda tag: tag not in KNOWN_TAGS)

tlvs = st.builds(
    Tlvs,
    receipted_message_id=st.none() | cstrings(65),
    message_state=st.none() | octets,
    sar_msg_ref_num=st.none() | st.integers(0, 0xFFFF),
    sar_total_segments=st.none() | octets,
    sar_segment_seqnum=st.none() | octets,
    message_payload=st.none() | st.binary(max_size=300),
    user_message_reference=st.none() | st.integers(0, 0xFFFF),
    unknown=st.lists(st.tuples(unknown_tags, st.binary(max_size=20)), max_size=3).map(tuple),
)


def pdus(pdu_class: type[Pdu]) -> st.SearchStrategy[Pdu]:
    """Any valid instance of ``pdu_class``, fields drawn by their annotated type."""
    limits = DATA_SM_CSTRING_MAX if pdu_class is DataSm else CSTRING_MAX
    by_type: dict[str, Any] = {"int": octets, "bytes": st.binary(max_size=254), "Tlvs": tlvs}
    fields = {
        f.name: cstrings(limits[f.name]) if f.type == "str" else by_type[str(f.type)]
        for f in dataclasses.fields(pdu_class)
    }
    return st.builds(pdu_class, **fields)
