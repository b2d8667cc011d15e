"""Reading a request's parameters: its query, and its body (urlencoded, multipart or raw) in
the charset it declares, refused past the size limit before it is read."""

from __future__ import annotations

import codecs
import sys

from python_multipart.multipart import parse_options_header
from starlette.types import Receive, Scope

from smsgate.api.rest.multipart import multipart_fields
from smsgate.api.rest.params import Params, field_limit, parse_form
from smsgate.domain.digits import MAX_ID_DIGITS
from smsgate.domain.errors import InvalidArgument, echoed

# A multipart field may hold a bulk list of 100,000 numbers, or a file of them.
MAX_FORM_PART = 64 * 1024 * 1024
# Text codecs Python has that are no charset of a body. Punycode's decoder takes time
# quadratic in its input (640 KB of it held the event loop 16 s) and raises plain
# UnicodeErrors; idna runs it per label; the escapes read backslash sequences.
NOT_CHARSETS = frozenset({"punycode", "idna", "unicode-escape", "raw-unicode-escape"})


class BodyTooLarge(InvalidArgument):
    def __init__(self, limit: int) -> None:
        super().__init__(f"Request body over {limit} bytes")


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole body, but ``BodyTooLarge`` as soon as more than ``limit`` bytes came."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError("client went away")
        body = message.get("body", b"")
        size += len(body)
        if size > limit:
            raise BodyTooLarge(limit)
        if not message.get("more_body", False):
            if not chunks:  # the usual case: the whole body in one message
                return bytes(body)
            chunks.append(body)
            return b"".join(chunks)
        chunks.append(body)


def body_headers(scope: Scope) -> tuple[int | None, bytes]:
    """The declared body length (None: chunked, counted as it comes; 0: no body) and type."""
    length = 0
    chunked = False
    kind = b""
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = _declared_length(value)
        elif name == b"transfer-encoding":
            chunked = True
        elif name == b"content-type" and not kind:
            kind = bytes(value)
    return None if chunked else length, kind


def _declared_length(value: bytes) -> int:
    # Leading zeros are digits like any: 25 digits of which 23 are zeros declare 11 octets
    # (read as none, the body was lost), and a length past any number is past any limit.
    digits = value.lstrip(b"0")
    if not value.isdigit():
        return 0  # httptools refuses such a request before it gets here
    return int(digits or b"0") if len(digits) <= MAX_ID_DIGITS else sys.maxsize


async def read_params(scope: Scope, receive: Receive, limit: int) -> Params:
    """Query and body parameters; a body over ``limit`` bytes is refused before it is read."""
    length, kind = body_headers(scope)
    if length is not None and length > limit:
        raise BodyTooLarge(limit)
    query = parse_form(scope["query_string"])
    if length == 0:  # HTTP/1.1: no Content-Length and no Transfer-Encoding, no body
        return Params(query)
    if kind.lower().startswith(b"multipart/form-data"):
        charset = declared_charset(kind)
        fields = await multipart_fields(
            await read_body(receive, limit),
            kind,
            charset,
            max_fields=field_limit(limit),
            max_part_size=MAX_FORM_PART,
        )
        return Params(query, fields)
    raw = await read_body(receive, limit)
    if not raw:
        return Params(query)
    return Params(query, parse_form(raw, declared_charset(kind), field_limit(limit)))


def declared_charset(content_type: bytes) -> str:
    """The ``charset`` of a Content-Type (UTF-8 when none); ``InvalidArgument`` for one that
    Python does not know as a charset."""
    # Parsed as Starlette's multipart parser reads it, which decodes the fields in it.
    _, options = parse_options_header(content_type)
    if b"charset" not in options:
        return "utf-8"
    name = options[b"charset"].strip(b" \t'").decode("latin-1")
    try:
        codec = codecs.lookup(name).name
        b"a".decode(codec, "ignore")  # refuses codecs that are no text encodings (base64)
    except (LookupError, UnicodeError):  # UnicodeError: "undefined" decodes nothing
        raise InvalidArgument(f"Unsupported charset {echoed(name)}") from None
    if codec in NOT_CHARSETS:
        raise InvalidArgument(f"Unsupported charset {echoed(name)}")
    return codec
