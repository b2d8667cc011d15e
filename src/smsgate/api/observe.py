"""What is kept of each API request: an id, then its metrics and one log line."""

from __future__ import annotations

import itertools
import secrets
from time import perf_counter

from starlette.types import Scope

from smsgate.logs import access_lines
from smsgate.metrics import REQUESTS

# A path is logged up to this long: a client chooses it.
MAX_LOGGED_PATH = 200


class RequestObserver:
    """Hands out request ids and records each request's outcome.

    An id is a random per-process prefix and a counter: unique in practice across processes and
    restarts, and far cheaper than a UUID per request.
    """

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(4)
        self._count = itertools.count(1)

    def request_id(self) -> str:
        return f"{self._prefix}{next(self._count):08x}"

    def done(
        self,
        scope: Scope,
        request_id: str,
        endpoint: str,
        code: str,
        status: int,
        started: float,
    ) -> None:
        """Count the request by ``endpoint`` and API ``code``, time it, and log its line."""
        elapsed = perf_counter() - started
        REQUESTS.observe(endpoint, code, elapsed)
        client = scope.get("client")
        access_lines.write(
            (
                request_id,
                scope["method"],
                scope["path"][:MAX_LOGGED_PATH],
                endpoint,
                code,
                status,
                round(elapsed * 1000, 3),
                client[0] if client else None,
            )
        )
