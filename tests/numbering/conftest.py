"""The packaged numbering files and the registry built from them."""

from __future__ import annotations

import gzip

import pytest

from smsgate.domain.numbering import NumberingRegistry
from smsgate.services.numbering_data import (
    NUMBERING_FILE,
    SUBJECT_ZONES_FILE,
    load_packaged_registry,
)
from tests.numbering.helpers import packaged_path


@pytest.fixture(scope="session")
def numbering_bytes() -> bytes:
    return gzip.decompress(packaged_path(NUMBERING_FILE).read_bytes())


@pytest.fixture(scope="session")
def subject_bytes() -> bytes:
    return gzip.decompress(packaged_path(SUBJECT_ZONES_FILE).read_bytes())


@pytest.fixture(scope="session")
def registry() -> NumberingRegistry:
    return load_packaged_registry()
