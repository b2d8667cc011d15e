"""Fixtures of the incoming-message tests: servers whose failed pushes retry after 0.05 s."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from tests.api import conftest as api_fixtures
from tests.api.helpers import Deployment
from tests.inbound.helpers import Inbound
from tests.inbound.receiver import Receiver

# The API tests' cheap account hashes, for this package too.
cheap_password_hashes = api_fixtures.cheap_password_hashes

PER_ACCOUNT = 4
SETTINGS = {
    "simulator_delay": "0.2",
    "push_retry_base_seconds": "0.05",
    "push_concurrency_per_account": str(PER_ACCOUNT),
}


@pytest.fixture(scope="session")
def inbound_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inbound]:
    """The shared server of these tests."""
    deployment = api_fixtures.deploy(tmp_path_factory.mktemp("inbound"), **SETTINGS)
    yield Inbound(deployment)
    api_fixtures.undeploy(deployment)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Callable[[], Inbound]]:
    """Start a server of this test's own (stopped at teardown), e.g. to restart it."""
    started: list[Deployment] = []

    def start() -> Inbound:
        workdir = tmp_path / f"server-{len(started)}"
        workdir.mkdir()
        started.append(api_fixtures.deploy(workdir, **SETTINGS))
        return Inbound(started[-1])

    yield start
    for deployment in started:
        api_fixtures.undeploy(deployment)


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
