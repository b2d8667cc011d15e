"""The blocking and the async client: each runs the calls of ``calls.py`` over HTTP.

A client authenticates with a ``session_id``, or with ``login`` and ``password``, for which it
opens a session at its first call, and again when the server no longer takes it (unknown or
expired).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Generator
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import httpx

from smsgate.client import calls
from smsgate.client.calls import Call, SmsApiError, read_answer

P = ParamSpec("P")
T = TypeVar("T")

# The API's Codes for a session id it no longer takes: unknown (revoked, say) or expired.
_SESSION_REFUSED = frozenset({3, 4})


class _Session:
    """The session a client works in, and what running one of the API's calls takes."""

    def __init__(self, session_id: str | None, login: str | None, password: str | None) -> None:
        if session_id is None and (login is None or password is None):
            raise ValueError("give a session_id, or a login and a password")
        self.session_id = session_id
        self.login = login
        self.password = password

    def steps(self, call: Call[T]) -> Generator[Call[Any], Any, T]:
        """The requests to make for ``call``, each to be sent its answer or thrown its error:
        with a login and password, a session is opened first when none is held, and again
        when the server refuses the one held. Written once, for both clients to drive."""
        opening = None
        if self.login is not None and self.password is not None:
            opening = calls.session(self.login, self.password)
        if call.authenticated and self.session_id is None and opening is not None:
            self.session_id = yield opening
        answer: T
        try:
            answer = yield call
        except SmsApiError as error:
            if error.code not in _SESSION_REFUSED or not call.authenticated or opening is None:
                raise
            self.session_id = yield opening
            answer = yield call
        return answer

    def params(self, call: Call[T]) -> dict[str, str]:
        if not call.authenticated or self.session_id is None:
            return dict(call.params)
        return {**call.params, "sessionId": self.session_id}


def _path(call: Call[T]) -> str:
    return f"/rest/{call.path}"


def _blocking(build: Callable[P, Call[T]]) -> Callable[Concatenate[SmsClient, P], T]:
    """A method of the blocking client that runs the call ``build`` makes."""

    def method(client: SmsClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return client.call(build(*args, **kwargs))

    return functools.update_wrapper(method, build)


def _awaiting(
    build: Callable[P, Call[T]],
) -> Callable[Concatenate[AsyncSmsClient, P], Awaitable[T]]:
    """A method of the async client that runs the call ``build`` makes."""

    async def method(client: AsyncSmsClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await client.call(build(*args, **kwargs))

    return functools.update_wrapper(method, build)


class SmsClient:
    """A blocking client of the API at ``base_url`` (``http://127.0.0.1:8080``, say)."""

    def __init__(
        self,
        base_url: str,
        *,
        session_id: str | None = None,
        login: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._session = _Session(session_id, login, password)
        self._http = httpx.Client(base_url=base_url, timeout=timeout)

    def call(self, call: Call[T]) -> T:
        """Run ``call``; its answer, or ``SmsApiError``."""
        steps = self._session.steps(call)
        try:
            step = next(steps)
            while True:
                try:
                    answer = self._run(step)
                except SmsApiError as error:
                    step = steps.throw(error)
                else:
                    step = steps.send(answer)
        except StopIteration as done:
            return cast(T, done.value)

    def _run(self, call: Call[T]) -> T:
        response = self._http.post(_path(call), data=self._session.params(call))
        return read_answer(call, response.status_code, response.content)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SmsClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    balance = _blocking(calls.balance)
    send_sms = _blocking(calls.send_sms)
    send_bulk = _blocking(calls.send_bulk)
    send_bulk_packet = _blocking(calls.send_bulk_packet)
    send_by_time = _blocking(calls.send_by_time)
    state = _blocking(calls.state)
    statistic = _blocking(calls.statistic)
    incoming = _blocking(calls.incoming)


class AsyncSmsClient:
    """The async client of the API at ``base_url``: the blocking one's methods, awaited."""

    def __init__(
        self,
        base_url: str,
        *,
        session_id: str | None = None,
        login: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._session = _Session(session_id, login, password)
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout)

    async def call(self, call: Call[T]) -> T:
        """Run ``call``; its answer, or ``SmsApiError``."""
        steps = self._session.steps(call)
        try:
            step = next(steps)
            while True:
                try:
                    answer = await self._run(step)
                except SmsApiError as error:
                    step = steps.throw(error)
                else:
                    step = steps.send(answer)
        except StopIteration as done:
            return cast(T, done.value)

    async def _run(self, call: Call[T]) -> T:
        response = await self._http.post(_path(call), data=self._session.params(call))
        return read_answer(call, response.status_code, response.content)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncSmsClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.aclose()

    balance = _awaiting(calls.balance)
    send_sms = _awaiting(calls.send_sms)
    send_bulk = _awaiting(calls.send_bulk)
    send_bulk_packet = _awaiting(calls.send_bulk_packet)
    send_by_time = _awaiting(calls.send_by_time)
    state = _awaiting(calls.state)
    statistic = _awaiting(calls.statistic)
    incoming = _awaiting(calls.incoming)
