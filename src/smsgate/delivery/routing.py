"""Which connector carries a destination: the longest matching prefix, then its fallbacks."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from smsgate.delivery.connector import Connector


def check_connectors_known(routes: Iterable[Iterable[str]], connectors: Collection[str]) -> None:
    """Raise ``ValueError`` naming the connectors ``routes`` (each its connectors' names) list
    that are not among ``connectors``."""
    unknown = {name for route in routes for name in route} - set(connectors)
    if unknown:
        raise ValueError(f"routes name unknown connectors: {', '.join(sorted(unknown))}")


@dataclass(frozen=True, slots=True)
class Route:
    prefix: str  # "" matches every destination
    connectors: tuple[str, ...]  # in order of preference


class Router:
    """Picks the first connector that is up among the route's ordered list."""

    def __init__(self, connectors: Mapping[str, Connector], routes: Sequence[Route]) -> None:
        check_connectors_known([route.connectors for route in routes], connectors)
        self.connectors = connectors
        self.routes = tuple(routes)
        self._routes = {route.prefix: route.connectors for route in routes}
        self._longest = max((len(prefix) for prefix in self._routes), default=0)

    def through(self, connectors: Mapping[str, Connector]) -> Router:
        """The same routes over other connectors of the same names (wrapped ones, say)."""
        return Router(connectors, self.routes)

    def candidates(self, destination: str) -> tuple[str, ...]:
        for length in range(min(self._longest, len(destination)), -1, -1):
            found = self._routes.get(destination[:length])
            if found is not None:
                return found
        return ()

    def has_route(self, destination: str) -> bool:
        return bool(self.candidates(destination))

    def pick(self, destination: str) -> Connector | None:
        """The connector to use now, or None when every one on the route is down."""
        for name in self.candidates(destination):
            connector = self.connectors[name]
            if connector.is_up:
                return connector
        return None
