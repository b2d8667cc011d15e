"""The numbering plan registry shipped with smsgate (``smsgate/data``, see its NOTICE.md)."""

from __future__ import annotations

import gzip
import hashlib
import os
from functools import cache
from importlib.resources import files

from smsgate.domain.numbering import NumberingRegistry, load_registry

NUMBERING_FILE = "DEF-9xx.csv.gz"
SUBJECT_ZONES_FILE = "subject-timezones.csv.gz"


def _packaged(name: str) -> bytes:
    return gzip.decompress((files("smsgate") / "data" / name).read_bytes())


@cache
def load_packaged_registry() -> NumberingRegistry:
    """The registry built from the packaged files, once per process (about 0.2 s)."""
    return load_registry(_packaged(NUMBERING_FILE), _packaged(SUBJECT_ZONES_FILE))


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The hex SHA-256 of a file (to record which data a registry came from)."""
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()
