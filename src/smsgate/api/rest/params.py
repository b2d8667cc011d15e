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
from smsgate.domain.errors import InvalidArgument, MissingArgument

_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
# The deepest bracket name read: ``phone_data[sms][0][phone][0]`` is 4 deep.
MAX_NESTING = 8


def parse_form(text: str) -> list[tuple[str, str]]:
    """Parse ``k=v&k=v`` text: urlencoded, or raw unencoded UTF-8 that clients also send.

    The pairs of ``parse_qsl(text, keep_blank_values=True)``, at a fraction of its cost: most
    names and values need no decoding at all.
    """
    pairs = []
    for field in text.split("&"):
        if field:
            name, _, value = field.partition("=")
            if "%" in field or "+" in field:
                name, value = _decoded(name), _decoded(value)
            pairs.append((name, value))
    return pairs


def _decoded(text: str) -> str:
    if "+" in text:
        text = text.replace("+", " ")
    return unquote(text) if "%" in text else text


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
        """Every non-empty value of ``name`` and ``name[]``, in order."""
        key = name.lower()
        found = self._values.get(key, []) + self._values.get(key + "[]", [])
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
                raise InvalidArgument(f"Invalid parameter {key[:60]}: nested too deep")
            node = root
            for step in path[:-1]:
                child = node.setdefault(step, {})
                if not isinstance(child, dict):
                    raise InvalidArgument(f"Invalid parameter {key}")
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
    # A longer "index" is a name: no list has a billion entries.
    if converted and all(is_ascii_number(key, 9) or key == "" for key in converted):
        return [converted[key] for key in sorted(converted, key=lambda k: int(k or 0))]
    return converted
