"""Multi-part incoming messages joined durably, for the inbound events to call in their commit.

Each part is stored (``incoming_fragments``) in the transaction that precedes its
``deliver_sm_resp``; the transaction that stores the last part turns the parts into the
joined message. Its parts are kept ``STALE_AFTER`` more, marked joined, so that a copy the
SMSC sends again (its acknowledgement lost) is dropped instead of starting a message of its
own. A message whose parts stopped coming ``STALE_AFTER`` ago is joined from the parts there
are: when the next part of a message of its connector arrives, or by the periodic
``stale_messages``, whichever comes first. Such a message counts as received when it is
joined, so that a client reading recent incoming messages finds it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import Connection

from smsgate.delivery.connector import IncomingPart, IncomingSms
from smsgate.delivery.smpp.text import decode_body
from smsgate.store.fragments import (
    Fragment,
    FragmentedMessage,
    MessageKey,
    add_fragment,
    has_fragment,
    take_stale,
)

log = logging.getLogger(__name__)

STALE_AFTER: Final = timedelta(minutes=10)


def whole_messages(connection: Connection, part: IncomingPart) -> list[IncomingSms]:
    """Store ``part``; return the messages to record now: the one it completes, if any, and
    any of its connector whose parts stopped coming."""
    key = MessageKey(part.connector, part.source, part.destination, part.reference, part.total)
    # A part that fills a gap of its stale message completes it, late; one whose number is
    # stored already belongs to a new message that reuses the reference.
    keep = None if has_fragment(connection, key, part.seqnum) else key
    done = take_stale(
        connection,
        part.received_at - STALE_AFTER,
        part.received_at,
        connector=part.connector,
        keep=keep,
    )
    whole = add_fragment(
        connection, key, Fragment(part.seqnum, part.data_coding, part.body), part.received_at
    )
    if whole is not None:
        done.append(whole)
    return [joined(message, part.received_at) for message in done]


def stale_messages(connection: Connection, now: datetime) -> list[IncomingSms]:
    """The messages of every connector whose parts stopped coming, joined from what came."""
    return [joined(message, now) for message in take_stale(connection, now - STALE_AFTER, now)]


def joined(message: FragmentedMessage, received_at: datetime) -> IncomingSms:
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
    return IncomingSms(key.connector, key.source, key.destination, text, received_at)
