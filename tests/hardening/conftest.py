"""Fixtures of the hardening tests: the API tests' servers and cheap hashes, and a shared server
with a small body limit and a fast simulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.conftest import cheap_password_hashes, deploy, spawn, undeploy
from tests.api.helpers import Deployment
from tests.hardening.helpers import BODY_LIMIT

__all__ = ["cheap_password_hashes", "shared", "spawn"]


@pytest.fixture(scope="package")
def shared(
    tmp_path_factory: pytest.TempPathFactory, cheap_password_hashes: None
) -> Iterator[Deployment]:
    """A server taking bodies of up to ``BODY_LIMIT`` bytes, whose simulator reports in 0.2 s."""
    deployment = deploy(
        tmp_path_factory.mktemp("hardening"),
        max_body_bytes=str(BODY_LIMIT),
        simulator_delay="0.2",
    )
    yield deployment
    undeploy(deployment)
