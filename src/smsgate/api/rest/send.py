"""``Send/SendSms``, ``Send/SendByTime``, ``Send/SendBulk`` and ``Send/SendBulkPacket``."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from smsgate.api.rest.call import ApiCall
from smsgate.api.rest.params import Params, indexed_values
from smsgate.domain.dates import parse_api_datetime, parse_validity
from smsgate.domain.errors import InvalidArgument, MissingArgument
from smsgate.domain.phone import split_phone_list
from smsgate.services.auth import AccountProfile
from smsgate.services.numbering import local_times
from smsgate.services.sending import DueFor

T = TypeVar("T")

# When a request's messages are due: reads ``sendDate`` as the endpoint means it.
Schedule = Callable[[ApiCall, AccountProfile], Awaitable[datetime | DueFor | None]]


def at_most(recipients: Iterable[T], most: int) -> list[T]:
    """The ``recipients``, but Code 2 as soon as there are more than ``most``, before the rest
    is read: 32 MB of "1,1,1..." made 11 M numbers (1.7 GB, the event loop held 7 s) only to
    be refused."""
    taken = list(itertools.islice(recipients, most + 1))
    if len(taken) > most:
        raise InvalidArgument(f"Too many recipients: more than {most:,}")
    return taken


def phone_list(params: Params, name: str, most: int) -> list[str]:
    """A parameter holding one number, a comma-separated list, or repeated/``[]`` values; at
    most ``most`` numbers."""
    phones = at_most(
        (phone for value in params.get_all(name) for phone in split_phone_list(value)), most
    )
    if not phones:
        raise MissingArgument(name)
    return phones


async def utc_send_date(call: ApiCall, _account: AccountProfile) -> datetime | None:
    """Optional ``sendDate`` in UTC, the same for every recipient."""
    raw = call.params.get("sendDate")
    return parse_api_datetime(raw).replace(tzinfo=UTC) if raw is not None else None


async def local_send_date(call: ApiCall, account: AccountProfile) -> DueFor:
    """Required ``sendDate`` as each recipient's wall-clock time, in the zone of its number."""
    local = parse_api_datetime(call.params.require("sendDate"), zoned=False)
    numbering = await call.platform.numbering.current()
    return local_times(
        numbering.registry, local, account.timezone, call.platform.settings.default_timezone
    )


async def _send(
    call: ApiCall,
    account: AccountProfile,
    recipients: list[tuple[str, str]],
    schedule: Schedule = utc_send_date,
) -> list[str]:
    params = call.params
    numbering = await call.platform.numbering.current()
    order = call.platform.orders.build(
        account,
        params.require("sourceAddress"),
        recipients,
        send_at=await schedule(call, account),
        validity_minutes=parse_validity(params.get("validity")),
        callback_url=params.get("callback_url"),
        assigned=numbering.registry.assigns,
    )
    return [str(part_id) for part_id in await call.platform.accept(order)]


def _one_text(call: ApiCall, phones_parameter: str) -> list[tuple[str, str]]:
    phones = phone_list(call.params, phones_parameter, call.platform.settings.max_recipients)
    text = call.params.require("data")
    return [(phone, text) for phone in phones]


async def send_sms(call: ApiCall) -> list[str]:
    account = await call.account()
    return await _send(call, account, _one_text(call, "destinationAddress"))


async def send_by_time(call: ApiCall) -> list[str]:
    account = await call.account()
    return await _send(call, account, _one_text(call, "destinationAddress"), local_send_date)


async def send_bulk(call: ApiCall) -> list[str]:
    account = await call.account()
    return await _send(call, account, _one_text(call, "destinationAddresses"))


async def send_bulk_packet(call: ApiCall) -> list[str]:
    account = await call.account()
    most = call.platform.settings.max_recipients
    return await _send(call, account, at_most(packet_recipients(call.params, most), most))


def packet_recipients(params: Params, most: int) -> Iterator[tuple[str, str]]:
    """(phone, text) pairs of ``phone_data``: JSON text, or PHP bracket parameters."""
    raw = params.get("phone_data")
    if raw is not None:
        # Each entry's key "phone" (a text holds that quoted word only escaped, or as the
        # whole text), counted before parsing: 32 MB of small entries made 11 M objects and
        # held the event loop 18 s, only to be refused.
        if raw.lower().count('"phone"') > 2 * most:
            raise InvalidArgument(f"Too many recipients: more than {most:,}")
        try:
            data: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidArgument("phone_data is not valid JSON") from None
    else:
        data = params.nested("phone_data")
    if data is None:
        raise MissingArgument("phone_data")
    entries = _field(data, "sms") if isinstance(data, dict) else None
    if isinstance(entries, dict):
        entries = indexed_values(entries)
    if not isinstance(entries, list) or not entries:
        raise InvalidArgument('phone_data must be {"sms":[{"phone":..,"text":..}]}')
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise InvalidArgument(f"phone_data sms[{index}] must be an object")
        phones = _field(entry, "phone")
        text = _field(entry, "text")
        if isinstance(text, int | float) and not isinstance(text, bool):
            text = str(text)  # PHP's json_encode writes a numeric string as a number
        # Blank is absent, as for every parameter (``Params.get``).
        if text is None or (isinstance(text, str) and not text.strip()):
            raise MissingArgument(f"phone_data.sms[{index}].text")
        if not isinstance(text, str):  # a list, an object or a boolean: given, but no text
            raise InvalidArgument(f"phone_data sms[{index}] has an invalid text")
        if isinstance(phones, str | int):
            phones = [phones]
        if phones is not None and not isinstance(phones, list):
            raise InvalidArgument(f"phone_data sms[{index}] has an invalid phone")
        given = False
        for phone in phones or ():
            if not isinstance(phone, str | int):
                raise InvalidArgument(f"phone_data sms[{index}] has an invalid phone")
            for single in split_phone_list(str(phone)):
                given = True
                yield single, text
        if not given:
            raise MissingArgument(f"phone_data.sms[{index}].phone")


def _field(data: dict[Any, Any], name: str) -> Any:
    """The value of ``data``'s key ``name`` in any case, the first such key's; None without one.
    Parameter names are not case-sensitive, nor are those of phone_data's bracket form, so
    ``{"SMS":[{"Phone":..,"Text":..}]}`` is read too."""
    if name in data:
        return data[name]
    return next(
        (value for key, value in data.items() if isinstance(key, str) and key.lower() == name),
        None,
    )
