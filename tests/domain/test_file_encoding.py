import pytest

from smsgate.domain.file_encoding import utf8_or_cp1251


@pytest.mark.parametrize(
    ("chunks", "encoding"),
    [
        ([b"\xef\xbb\xbfphone;name"], "utf-8-sig"),
        # A character split between two reads is still UTF-8.
        (["Анна".encode()[:3], "Анна".encode()[3:]], "utf-8-sig"),
        (["Анна".encode("cp1251")], "cp1251"),
        ([b""], "utf-8-sig"),
    ],
)
def test_a_file_is_utf8_when_it_decodes_so_else_cp1251(chunks: list[bytes], encoding: str) -> None:
    assert utf8_or_cp1251(chunks) == encoding
