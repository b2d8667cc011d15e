"""One API call: its parameters, and who makes it."""

from __future__ import annotations

from dataclasses import dataclass

from smsgate.api.rest.params import Params
from smsgate.domain.errors import MissingArgument
from smsgate.platform import Platform
from smsgate.services.auth import AccountProfile


@dataclass(slots=True)
class ApiCall:
    params: Params
    platform: Platform

    async def account(self) -> AccountProfile:
        """Authenticate by ``sessionId``, or by ``login`` + ``pass`` (the API password)."""
        authenticator = self.platform.authenticator
        session_id = self.params.get("sessionId")
        if session_id is not None:
            return await authenticator.by_session(session_id)
        login = self.params.get("login")
        password = self.params.get("pass")
        if login is not None and password is not None:
            return await authenticator.by_api_password(login, password)
        raise MissingArgument("sessionId")
