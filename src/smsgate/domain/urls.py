"""URLs clients give the platform to call: status callbacks and incoming-message pushes."""

from __future__ import annotations

from urllib.parse import urlsplit

from smsgate.domain.text import NUL


def http_url(raw: str) -> str | None:
    """``raw`` stripped, when it is an absolute http or https URL; None otherwise."""
    url = raw.strip()
    if NUL in url:  # urlsplit keeps a NUL in the host or path; the store could not
        return None
    try:
        parts = urlsplit(url)
        # Reading the port raises for one that is no number or out of range.
        valid = (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and (parts.port is None or parts.port > 0)
        )
    except ValueError:  # also a bracketed host that is no IPv6 address
        valid = False
    return url if valid else None
