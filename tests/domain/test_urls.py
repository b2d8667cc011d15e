import pytest

from smsgate.domain.urls import http_url


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        (" https://hooks.example/in?token=1 ", "https://hooks.example/in?token=1"),
        ("http://[::1]:8080/status", "http://[::1]:8080/status"),
        ("HTTP://Example.com", "HTTP://Example.com"),  # a scheme's case does not matter
    ],
)
def test_absolute_http_urls_are_kept_stripped(raw: str, url: str | None) -> None:
    assert http_url(raw) == url


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "hooks.example/in",
        "ftp://hooks.example/in",
        "https:///no-host",
        "https://hooks.example:0/",
        "https://hooks.example:99999/",
        "https://[not-ipv6]/",
        "https://hooks.example/\x00",
    ],
)
def test_anything_else_is_no_url(raw: str) -> None:
    assert http_url(raw) is None
