"""The numbering plan registry shipped with smsgate (``smsgate/data``, see its NOTICE.md)."""

from __future__ import annotations

import gzip
from functools import cache
from importlib.resources import files

from smsgate.domain.numbering import (
    NumberingRegistry,
    SubjectZones,
    build_registry,
    parse_numbering_file,
    parse_subject_zones,
)

NUMBERING_FILE = "DEF-9xx.csv.gz"
SUBJECT_ZONES_FILE = "subject-timezones.csv.gz"


def packaged_file(name: str) -> bytes:
    """The uncompressed content of a packaged data file."""
    return gzip.decompress((files("smsgate") / "data" / name).read_bytes())


@cache
def load_packaged_subject_zones() -> SubjectZones:
    """The packaged subject -> zone table, once per process (imported files use it too)."""
    return parse_subject_zones(packaged_file(SUBJECT_ZONES_FILE))


@cache
def load_packaged_registry() -> NumberingRegistry:
    """The registry built from the packaged files, once per process (about 0.2 s)."""
    return build_registry(
        parse_numbering_file(packaged_file(NUMBERING_FILE)), load_packaged_subject_zones()
    )
