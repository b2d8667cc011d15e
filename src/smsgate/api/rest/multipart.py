"""``multipart/form-data`` bodies read into parameters, each value strictly text.

Starlette's form parser decodes a field whose octets are not text in the body's charset as
Latin-1: a cp1251 client's "Привет" went out, billed, as "Ïðèâåò". Here such a field is Code 2,
as in a urlencoded body.
"""

from __future__ import annotations

import asyncio

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from smsgate.api.rest.params import not_text, without_lone_surrogates
from smsgate.domain.errors import InvalidArgument

INVALID_BODY = "Invalid multipart/form-data body"
# Larger bodies are parsed in a thread. python-multipart's parser is Python, about 15 µs a
# field here: a body of 520,000 one-byte fields held the event loop 8 s, and with it every
# other request and the delivery lease.
INLINE_BYTES = 64 * 1024


class _FieldReader:
    """Collects the parts the parser finds as (name, text) pairs."""

    def __init__(self, charset: str, max_fields: int, max_part_size: int) -> None:
        self.charset = charset
        self.max_fields = max_fields
        self.max_part_size = max_part_size
        self.fields: list[tuple[str, str]] = []
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""
        self._name = ""
        self._is_file = False
        self._data = bytearray()
        self.ended = False  # the closing delimiter was read

    def on_end(self) -> None:
        self.ended = True

    def on_part_begin(self) -> None:
        self._disposition = b""
        self._data = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise InvalidArgument(f"{INVALID_BODY}: a part without a name")
        if len(self.fields) >= self.max_fields:
            raise InvalidArgument(f"Invalid request: more than {self.max_fields:,} parameters")
        try:
            self._name = without_lone_surrogates(options[b"name"].decode(self.charset))
        except UnicodeDecodeError:
            raise InvalidArgument(
                f"Invalid request: the parameters are not {self.charset} text"
            ) from None
        # Python's requests with files= makes every part a file; a file's content is UTF-8.
        self._is_file = b"filename" in options

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if len(self._data) + end - start > self.max_part_size:
            raise InvalidArgument(f"{INVALID_BODY}: a part over {self.max_part_size:,} bytes")
        self._data += data[start:end]

    def on_part_end(self) -> None:
        encoding = "utf-8" if self._is_file else self.charset
        try:
            value = self._data.decode(encoding)
        except UnicodeDecodeError:
            raise not_text(self._name, encoding) from None
        self.fields.append((self._name, without_lone_surrogates(value)))


async def multipart_fields(
    body: bytes, content_type: bytes, charset: str, *, max_fields: int, max_part_size: int
) -> list[tuple[str, str]]:
    """The (name, value) fields of a ``multipart/form-data`` body whose Content-Type is
    ``content_type``; names and values in ``charset``, but a file's content in UTF-8."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidArgument(f"{INVALID_BODY}: no boundary")
    # Counted before any is parsed, as a urlencoded body's are (``parse_form``): each part
    # follows a delimiter, and the last delimiter closes the body.
    if body.count(b"--" + boundary) - 1 > max_fields:
        raise InvalidArgument(f"Invalid request: more than {max_fields:,} parameters")
    reader = _FieldReader(charset, max_fields, max_part_size)
    if len(body) <= INLINE_BYTES:
        _parse(body, boundary, reader)
    else:
        await asyncio.to_thread(_parse, body, boundary, reader)
    return reader.fields


def _parse(body: bytes, boundary: bytes, reader: _FieldReader) -> None:
    try:
        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": reader.on_part_begin,
                "on_header_field": reader.on_header_field,
                "on_header_value": reader.on_header_value,
                "on_header_end": reader.on_header_end,
                "on_headers_finished": reader.on_headers_finished,
                "on_part_data": reader.on_part_data,
                "on_part_end": reader.on_part_end,
                "on_end": reader.on_end,
            },
        )
        parser.write(body)
        parser.finalize()
    except FormParserError:
        raise InvalidArgument(INVALID_BODY) from None
    if not reader.ended:
        # Cut short: the parser ends no part it is in, and the request would be carried out
        # without its last field (a sendDate: a message scheduled went at once).
        raise InvalidArgument(f"{INVALID_BODY}: no closing delimiter")
