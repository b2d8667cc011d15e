"""A Python client of the Stream Telecom REST SMS API, as smsgate serves it: sync and async.

It imports nothing of the server, so it is usable alone against any server of the API::

    with SmsClient("http://127.0.0.1:8080", login="demo", password="...") as sms:
        ids = sms.send_sms("SMS Info", "79001234567", "Your code is 1234")
        print(sms.state(ids[0]).description)
"""

from smsgate.client.calls import (
    Call,
    IncomingMessage,
    PartState,
    SmsApiError,
    Statistic,
)
from smsgate.client.clients import AsyncSmsClient, SmsClient

__all__ = [
    "AsyncSmsClient",
    "Call",
    "IncomingMessage",
    "PartState",
    "SmsApiError",
    "SmsClient",
    "Statistic",
]
