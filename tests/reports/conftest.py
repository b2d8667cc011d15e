"""Fixtures of the detailed statistics tests: servers that build at once, build late, or keep
files for a second."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api import conftest as api_fixtures
from tests.api.helpers import Deployment
from tests.databases import Databases

spawn = api_fixtures.spawn

BUILD_DELAY = 2.0


@pytest.fixture(scope="package")
def reports_server(
    databases: Databases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """Builds each report as soon as it is ordered."""
    deployment = api_fixtures.deploy(
        databases, tmp_path_factory.mktemp("reports"), simulator_delay="0.2"
    )
    yield deployment
    api_fixtures.undeploy(deployment)


@pytest.fixture(scope="package")
def late_server(
    databases: Databases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """Starts each build ``BUILD_DELAY`` seconds after the order; sessions last a second."""
    deployment = api_fixtures.deploy(
        databases,
        tmp_path_factory.mktemp("late-reports"),
        report_start_delay_seconds=str(BUILD_DELAY),
        session_ttl_seconds="1",
    )
    yield deployment
    api_fixtures.undeploy(deployment)


@pytest.fixture(scope="package")
def forgetful_server(
    databases: Databases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """Deletes report files a second after they are built."""
    deployment = api_fixtures.deploy(
        databases,
        tmp_path_factory.mktemp("forgetful-reports"),
        report_retention_seconds="1",
        report_sweep_seconds="0.1",
    )
    yield deployment
    api_fixtures.undeploy(deployment)
