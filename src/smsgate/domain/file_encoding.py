"""The encoding of a file an operator gives the platform (a numbering plan, a contact base)."""

from __future__ import annotations

import codecs
from collections.abc import Iterable


def utf8_or_cp1251(chunks: Iterable[bytes]) -> str:
    """``utf-8-sig`` when the bytes of ``chunks`` decode as UTF-8 (a BOM dropped), else
    ``cp1251``: the encodings Russian files come in, from web tools and from Excel."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for chunk in chunks:
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1251"
    return "utf-8-sig"
