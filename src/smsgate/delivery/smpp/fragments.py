"""Multi-part incoming messages joined durably, for the inbound events to call in their commit.

Each part is stored (``incoming_fragments``) in the transaction that precedes its
``deliver_sm_resp``; the transaction that stores the last part turns the parts into the
joined message. A message whose parts stopped coming ``STALE_AFTER`` ago is joined from the
parts there are, when the next part of any message of its connector arrives.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Final

from sqlalchemy import Connection

from smsgate.delivery.connector import IncomingPart, IncomingSms
from smsgate.delivery.smpp.text import decode_body
from smsgate.store.fragments import (
    Fragment,
    FragmentedMessage,
    MessageKey,
    add_fragment,
    take_stale,
)

log = logging.getLogger(__name__)

STALE_AFTER: Final = timedelta(minutes=10)


def whole_messages(connection: Connection, part: IncomingPart) -> list[IncomingSms]:
    """Store ``part``; return the messages to record now: the one it completes, if any, and
    any of its connector whose parts stopped coming."""
    key = MessageKey(part.connector, part.source, part.destination, part.reference, part.total)
    done = take_stale(connection, part.connector, part.received_at - STALE_AFTER)
    whole = add_fragment(
        connection, key, Fragment(part.seqnum, part.data_coding, part.body), part.received_at
    )
    if whole is not None:
        done.append(whole)
    return [joined(message) for message in done]


def joined(message: FragmentedMessage) -> IncomingSms:
    """The text of the parts in order (decoded after joining their octets)."""
    key = message.key
    if not message.complete:
        log.warning(
            "incoming message from %s to %s joined from %d of its %d parts: the rest never came",
            key.source,
            key.destination,
            len(message.fragments),
            key.total,
        )
    body = b"".join(fragment.body for fragment in message.fragments)
    text = decode_body(body, message.fragments[0].data_coding)
    return IncomingSms(key.connector, key.source, key.destination, text, message.received_at)
