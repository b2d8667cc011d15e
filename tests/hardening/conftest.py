"""Fixtures of the hardening tests: servers of a test's own (``spawn``), and two servers shared
by the tests (each test uses accounts of its own on them).

- ``shared``: a body limit of ``BODY_LIMIT`` bytes and a simulator reporting in 0.2 s;
- ``ops``: no dispatcher (parts stay queued), JSON logs, HTTPS beside HTTP with a certificate
  of a test CA, metrics on a port of their own, and a request rate limit per account.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.api.conftest import deploy, spawn, undeploy
from tests.api.helpers import Deployment
from tests.databases import Databases
from tests.hardening.helpers import BODY_LIMIT
from tests.server import free_port
from tests.tls import make_test_ca

__all__ = ["ops", "shared", "spawn"]

# The ops server's request rate limit per account: slow enough that the burst's requests are
# answered before a token comes back, even on a loaded machine.
RATE = 0.5
BURST = 5


@pytest.fixture(scope="package")
def shared(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    deployment = deploy(
        databases,
        tmp_path_factory.mktemp("shared"),
        max_body_bytes=str(BODY_LIMIT),
        simulator_delay="0.2",
    )
    yield deployment
    undeploy(deployment)


@dataclass
class Ops:
    deployment: Deployment
    https_url: str
    https: httpx.Client  # trusts the test CA only
    metrics_url: str


@pytest.fixture(scope="package")
def ops(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ops]:
    workdir = tmp_path_factory.mktemp("ops")
    certificate = make_test_ca(workdir)
    ssl_port, metrics_port = free_port(), free_port()
    deployment = deploy(
        databases,
        workdir,
        dispatch="false",
        log_format="json",
        ssl_certfile=str(certificate.certfile),
        ssl_keyfile=str(certificate.keyfile),
        ssl_port=str(ssl_port),
        metrics_port=str(metrics_port),
        rate_limit_per_second=str(RATE),
        rate_limit_burst=str(BURST),
    )
    https_url = f"https://127.0.0.1:{ssl_port}"
    trust = ssl.create_default_context(cafile=str(certificate.ca_file))
    with httpx.Client(base_url=https_url, verify=trust, timeout=30) as https:
        yield Ops(deployment, https_url, https, f"http://127.0.0.1:{metrics_port}/metrics")
    undeploy(deployment)
