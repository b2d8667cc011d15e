"""A JSON array sent page by page (``send_json_array``) is the array the pages hold."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from starlette.types import Message

from smsgate.api.rest.rendering import send_json_array


async def _pages(pages: list[list[Any]], failing: bool = False) -> AsyncIterator[list[Any]]:
    for page in pages:
        yield page
    if failing:
        raise OSError("the database went away")


def _sent(pages: list[list[Any]], failing: bool = False) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(send_json_array(send, _pages(pages, failing)))
    return sent


@pytest.mark.parametrize(
    "pages",
    [[], [[]], [[1, 2]], [[], [{"a": "b"}, 2], [], [3], [[4]]], [[{"Data": "é,]["}], ["x"]]],
)
def test_the_body_is_the_pages_items_as_one_array(pages: list[list[Any]]) -> None:
    start, *bodies = _sent(pages)
    assert start["status"] == 200 and all(n != b"content-length" for n, _ in start["headers"])
    assert all(body["more_body"] for body in bodies[:-1]) and not bodies[-1].get("more_body")
    assert orjson.loads(b"".join(body["body"] for body in bodies)) == [
        item for page in pages for item in page
    ]


def test_a_failure_between_pages_leaves_the_answer_unfinished() -> None:
    with pytest.raises(OSError):
        _sent([[1], [2]], failing=True)
