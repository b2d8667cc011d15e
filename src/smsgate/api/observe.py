"""What is kept of each API request: an id, then its metrics and one log line."""

from __future__ import annotations

import itertools
import secrets
from time import perf_counter

from prometheus_client import Counter, Histogram
from starlette.types import Scope

from smsgate.logs import ACCESS_FORMAT, access_log
from smsgate.metrics import LATENCY, REQUESTS

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
        self._series: dict[tuple[str, str], tuple[Counter, Histogram]] = {}

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
        series = self._series.get((endpoint, code))
        if series is None:
            series = (REQUESTS.labels(endpoint, code), LATENCY.labels(endpoint))
            self._series[endpoint, code] = series
        series[0].inc()
        series[1].observe(elapsed)
        client = scope.get("client")
        access_log.info(
            ACCESS_FORMAT,
            request_id,
            scope["method"],
            scope["path"][:MAX_LOGGED_PATH],
            endpoint,
            code,
            status,
            round(elapsed * 1000, 3),
            client[0] if client else None,
        )
