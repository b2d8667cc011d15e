"""Reading a period a page at a time, oldest first by (creation time, id)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_


def following(
    created_at: ColumnElement[Any], row_id: ColumnElement[Any], last_created: Any, last_id: Any
) -> list[ColumnElement[bool]]:
    """The conditions of the rows after the last of the page before (created at
    ``last_created``, id ``last_id``). The page's start is the one lower bound of the creation
    time, so that an index on it is read from there: given the period's start as well, SQLite
    read the index from the period's start at every page."""
    return [created_at >= last_created, or_(created_at > last_created, row_id > last_id)]
