"""Request parameters as the API reads them.

Query and body are merged (the body wins), names are case-insensitive, empty values count as
absent, and PHP bracket names (``phone_data[sms][0][phone]``, ``destinationAddress[]``) are kept
so a handler can read them as lists or nested structures.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from smsgate.domain.digits import is_ascii_number
from smsgate.domain.errors import InvalidArgument, MissingArgument, echoed

_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
# The deepest bracket name read: ``phone_data[sms][0][phone][0]`` is 4 deep.
MAX_NESTING = 8
# The most fields a query or body may hold (``field_limit``), counted before any is parsed: a
# body of 32 MB of "&0&1&2..." took 1.9 GB and 9 s of the event loop to parse. A SendBulkPacket
# of 100,000 recipients in PHP's bracket form holds 200,000; its fields take 45 bytes each.
MIN_FIELD_LIMIT = 250_000
BYTES_PER_FIELD = 64


def field_limit(body_limit: int) -> int:
    """The most fields a body of at most ``body_limit`` bytes may hold."""
    return max(MIN_FIELD_LIMIT, body_limit // BYTES_PER_FIELD)


def parse_form(
    raw: bytes, charset: str = "utf-8", max_fields: int = MIN_FIELD_LIMIT
) -> list[tuple[str, str]]:
    """Parse ``k=v&k=v`` octets: urlencoded, or raw unencoded text that clients also send.

    The pairs of ``parse_qsl(text, keep_blank_values=True)``, at a fraction of its cost: most
    names and values need no decoding at all. A field holding a raw space or a non-ASCII
    character was not urlencoded (the guide's own examples send ``sourceAddress=SMS Info``):
    its ``+`` and ``%`` are the client's text. Raises ``InvalidArgument`` for octets that are
    not ``charset`` text, rather than send what the client did not write.
    """
    if raw.count(b"&") >= max_fields:
        raise InvalidArgument(f"Invalid request: more than {max_fields:,} parameters")
    try:
        text = raw.decode(charset)
    except UnicodeError:
        raise InvalidArgument(f"Invalid request: the parameters are not {charset} text") from None
    # C#'s StreamWriter starts a UTF-8 body with a byte order mark.
    text = text.removeprefix("\ufeff")
    pairs = []
    for field in text.split("&"):
        if field:
            name, _, value = field.partition("=")
            if ("%" in field or "+" in field) and field.isascii() and " " not in field:
                name = _decoded(name, name, charset)
                value = _decoded(value, name, charset)
            pairs.append((name, value))
    if charset != "utf-8":
        pairs = [(without_lone_surrogates(n), without_lone_surrogates(v)) for n, v in pairs]
    return pairs


def without_lone_surrogates(text: str) -> str:
    """``text`` with any lone surrogate replaced: a request may declare any charset, and
    ``utf-7`` can make one, which no encoder takes further on."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _decoded(text: str, name: str, charset: str) -> str:
    if "+" in text:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    # %-escapes are UTF-8 as the guide asks, whatever charset the Content-Type names (Java's
    # HttpCore names ISO-8859-1 for UTF-8 escapes); else in that charset (cp1251 clients): a
    # cp1251 text is hardly ever valid UTF-8.
    for encoding in dict.fromkeys(("utf-8", charset)):
        try:
            return unquote(text, encoding=encoding, errors="strict")
        except UnicodeError:
            continue
    raise not_text(name, charset)


def not_text(name: str, charset: str) -> InvalidArgument:
    """The error of a parameter whose octets are not ``charset`` text."""
    return InvalidArgument(f"Invalid parameter {echoed(name)}: not {charset} text")


class Params:
    """Case-insensitive view of a request's parameters."""

    __slots__ = ("_values",)

    def __init__(
        self, query: Iterable[tuple[str, str]], body: Iterable[tuple[str, str]] = ()
    ) -> None:
        values: dict[str, list[str]] = {}
        for name, value in query:
            values.setdefault(name.lower(), []).append(value)
        from_body: dict[str, list[str]] = {}
        for name, value in body:
            from_body.setdefault(name.lower(), []).append(value)
        for name, found in from_body.items():
            # The body wins, but an empty value is absent: it hides none of the query's.
            if name not in values or any(value.strip() for value in found):
                values[name] = found
        self._values = values

    def get(self, name: str) -> str | None:
        """The last non-empty value of ``name``, or None."""
        for value in reversed(self._values.get(name.lower(), ())):
            if value.strip():
                return value
        return None

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise MissingArgument(name)
        return value

    def get_all(self, name: str) -> list[str]:
        """Every non-empty value of ``name``, ``name[]`` and then ``name[0]``, ``name[1]``..
        (PHP's ``http_build_query`` form), in order."""
        key = name.lower()
        found = self._values.get(key, []) + self._values.get(key + "[]", [])
        prefix = key + "["
        indexed = [
            (int(index), values[-1])
            for other, values in self._values.items()
            if other.startswith(prefix)
            and other.endswith("]")
            and is_ascii_number(index := other[len(prefix) : -1], 9)
        ]
        found += [value for _, value in sorted(indexed)]
        return [value for value in found if value.strip()]

    def nested(self, name: str) -> Any:
        """The structure PHP builds from ``name[a][0][b]=..`` parameters, or None."""
        prefix = name.lower() + "["
        root: dict[str, Any] = {}
        for key, values in self._values.items():
            if not key.startswith(prefix):
                continue
            path = _BRACKETS.findall(key[len(name) :])
            if not path:
                continue  # ``phone_data[`` names nothing, like any unknown parameter
            if len(path) > MAX_NESTING:
                raise InvalidArgument(f"Invalid parameter {echoed(key)}: nested too deep")
            node = root
            for step in path[:-1]:
                child = node.setdefault(step, {})
                if not isinstance(child, dict):
                    raise InvalidArgument(f"Invalid parameter {echoed(key)}")
                node = child
            if path[-1] == "":
                # ``phone[]=a&phone[]=b``: PHP appends every value, not just the last
                node.update((str(index), value) for index, value in enumerate(values))
            else:
                node[path[-1]] = values[-1]
        return _as_lists(root) if root else None


def _as_lists(node: Any) -> Any:
    """Turn dicts whose keys are all indices (or ``[]``) into lists, as PHP does."""
    if not isinstance(node, dict):
        return node
    converted = {key: _as_lists(value) for key, value in node.items()}
    listed = indexed_values(converted)
    return converted if listed is None else listed


def indexed_values(node: dict[str, Any]) -> list[Any] | None:
    """The values of a dict whose keys are all array indices, in index order (a PHP array;
    its ``json_encode`` also writes one whose indices have gaps as such an object), or None."""
    # A longer "index" is a name: no list has a billion entries.
    if node and all(is_ascii_number(key, 9) or key == "" for key in node):
        return [node[key] for key in sorted(node, key=lambda k: int(k or 0))]
    return None
