"""URLs clients give the platform to call: status callbacks and incoming-message pushes."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

import idna

from smsgate.domain.text import NUL

# A host name's labels as resolvers take them: underscores too (service names in containers).
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_MAX_NAME_LENGTH = 253
# Four numbers with dots: read as an IPv4 address by HTTP clients (httpx among them), which
# refuse one that is none, on every attempt of a day.
_DOTTED_QUAD = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
# IPv6 ranges that lead to IPv4 addresses, or to a network's own.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")


def http_url(raw: str) -> str | None:
    """``raw`` stripped, when it is an absolute http or https URL whose host could be called;
    None otherwise (one accepted that no call can reach would fail for a day of retries)."""
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
            and _callable_host(parts.hostname or "", bracketed="[" in parts.netloc)
        )
    except ValueError:  # also a bracketed host that is no IPv6 address
        valid = False
    return url if valid else None


def _callable_host(host: str, *, bracketed: bool) -> bool:
    """An IP address (in brackets an IPv6 one: not the IPvFuture ``[v1.x]``), or a name whose
    labels a resolver takes (an international one once IDNA-encoded, as a client sends it)."""
    try:
        return ipaddress.ip_address(host).version == 6 or not bracketed
    except ValueError:
        if bracketed:
            return False
    if not host.isascii() or "xn--" in host:
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            return False
    if _DOTTED_QUAD.fullmatch(host):
        return False  # not an IPv4 address (256.1.1.1, 0177.0.0.1), which it reads as
    labels = host.removesuffix(".").split(".")
    return len(host) <= _MAX_NAME_LENGTH and all(_LABEL.fullmatch(label) for label in labels)


def is_public_address(address: str) -> bool:
    """Whether pushes may go to ``address`` without ``private_addresses``."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # a scoped IPv6 address (fe80::1%eth0): link-local
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        # Python takes these for global whatever they lead to: behind a NAT64 or 6to4
        # gateway 64:ff9b::a00:1 is 10.0.0.1.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and (ip in _NAT64 or ip in _IPV4_COMPATIBLE):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
        if embedded is not None:
            return embedded.is_global
        if ip in _LOCAL_NAT64 or ip in _SITE_LOCAL:
            return False
    return ip.is_global
