"""Fixtures of the SMPP interop tests: node-smpp SMSCs, and a test CA for TLS."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.smpp_interop.smsc import NodeSmsc, node_ready
from tests.tls import CertificateFiles, make_test_ca


@pytest.fixture(scope="session", autouse=True)
def node_smpp() -> None:
    """These tests need node and node-smpp; ``make test`` installs the latter."""
    reason = node_ready()
    if reason is not None:
        pytest.fail(reason)


@pytest.fixture
def smscs() -> Iterator[Callable[..., NodeSmsc]]:
    """Start node-smpp SMSCs with the given options (stopped at teardown)."""
    started: list[NodeSmsc] = []

    def start(*, port: int = 0, **options: object) -> NodeSmsc:
        started.append(NodeSmsc(port=port, **options).start())
        return started[-1]

    yield start
    for smsc in started:
        smsc.stop()


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    """A private CA and the SMSC's certificate for 127.0.0.1 and localhost, signed by it."""
    return make_test_ca(tmp_path_factory.mktemp("tls"))
