"""Failures the API reports as ``{"Code": .., "Desc": ..}``.

Each class carries the Stream Telecom error code; the HTTP status belongs to the API layer.
"""

from __future__ import annotations

# An error text repeats at most this many characters of a client's value.
ECHO_LENGTH = 60


def echoed(value: str) -> str:
    """``value`` as an error text repeats it: whole when short, else its beginning and "..."
    (a value of megabytes must not come back whole)."""
    return value if len(value) <= ECHO_LENGTH else f"{value[:ECHO_LENGTH]}..."


class ApiError(Exception):
    """A failure with an API error code and a client-facing description."""

    code: int = 9

    def __init__(self, desc: str) -> None:
        super().__init__(desc)
        self.desc = desc


class MissingArgument(ApiError):
    code = 1

    def __init__(self, name: str, text: str | None = None) -> None:
        super().__init__(text or f"{name} can not be null or empty")


class InvalidArgument(ApiError):
    code = 2


class InvalidSession(ApiError):
    code = 3


class Unauthorized(ApiError):
    code = 4


class NotEnoughCredits(ApiError):
    code = 5


class InvalidOperation(ApiError):
    code = 6


class Forbidden(ApiError):
    code = 7


class GatewayError(ApiError):
    code = 8


class InternalError(ApiError):
    code = 9


class FloodDetected(ApiError):
    code = 10
