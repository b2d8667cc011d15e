"""Fixtures of the incoming-message tests: servers whose failed pushes retry after 0.05 s."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import pytest

from tests.api import conftest as api_fixtures
from tests.api.helpers import Deployment
from tests.databases import Databases
from tests.inbound.helpers import Inbound
from tests.inbound.receiver import Receiver

spawn = api_fixtures.spawn

PER_ACCOUNT = 4
SETTINGS = {
    "simulator_delay": "0.2",
    "push_retry_base_seconds": "0.05",
    "push_concurrency_per_account": str(PER_ACCOUNT),
}


@pytest.fixture(scope="package")
def inbound_server(
    databases: Databases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Inbound]:
    """The shared server of these tests."""
    deployment = api_fixtures.deploy(databases, tmp_path_factory.mktemp("inbound"), **SETTINGS)
    yield Inbound(deployment)
    api_fixtures.undeploy(deployment)


@pytest.fixture
def own_server(spawn: Callable[..., Deployment]) -> Callable[..., Inbound]:
    """Start a server of this test's own (stopped at teardown), e.g. to restart it; settings
    beside ``SETTINGS`` as keywords."""
    return lambda **settings: Inbound(spawn(**(SETTINGS | settings)))


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    """Make HTTP receivers, not yet started (stopped at teardown); arguments as ``Receiver``'s."""
    made: list[Receiver] = []

    def make(
        statuses: Iterable[int] = (),
        *,
        hang: bool = False,
        delay: float = 0.0,
        port: int | None = None,
    ) -> Receiver:
        made.append(Receiver(statuses, hang=hang, delay=delay, port=port))
        return made[-1]

    yield make
    for receiver in made:
        receiver.stop()
