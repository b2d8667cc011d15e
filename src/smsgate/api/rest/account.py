"""Session, balance, price list and sender names."""

from __future__ import annotations

from typing import Any

from smsgate.api.rest.call import ApiCall
from smsgate.domain.money import decimal_text
from smsgate.services import reading


async def session(call: ApiCall) -> str:
    login = call.params.require("login")
    password = call.params.require("password")
    return await call.platform.authenticator.open_session(login, password)


async def balance(call: ApiCall) -> Any:
    account = await call.account()
    return await reading.balance(call.platform.database, account.id)


async def price_list(call: ApiCall) -> Any:
    account = await call.account()
    tariff = account.tariff
    directions = {
        prefix: {"R": decimal_text(price)} for prefix, price in sorted(tariff.prefixes.items())
    }
    directions["default"] = {"R": decimal_text(tariff.default_price)}
    return {"sms": directions}


async def originator(call: ApiCall) -> Any:
    account = await call.account()
    return sorted(account.sender_names)
