import pytest

from smsgate.domain.urls import http_url


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        (" https://hooks.example/in?token=1 ", "https://hooks.example/in?token=1"),
        ("http://[::1]:8080/status", "http://[::1]:8080/status"),
        ("HTTP://Example.com", "HTTP://Example.com"),  # a scheme's case does not matter
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/"),
        ("http://web_1:8080/hook", "http://web_1:8080/hook"),  # a container's service name
        ("https://пример.рф/приём", "https://пример.рф/приём"),  # sent IDNA-encoded
        ("https://xn--e1afmkfd.xn--p1ai/", "https://xn--e1afmkfd.xn--p1ai/"),
        ("https://hooks.example./in", "https://hooks.example./in"),  # a rooted name
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
        # Hosts no call can reach: a day of retries for nothing.
        "http://a..b/",
        "http://xn--/",
        f"http://{'a' * 64}.example/",
        "http://[v1.x]/",
        "http://a b/",
        "http://-leading.example/",
        "http://256.1.1.1/",  # HTTP clients read four numbers as an IPv4 address
        "http://0177.0.0.1/",
    ],
)
def test_anything_else_is_no_url(raw: str) -> None:
    assert http_url(raw) is None
