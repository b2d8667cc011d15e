"""HTTPS with a certificate from a test CA, beside plain HTTP or alone."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from smsgate.config import Settings
from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from smsgate.store.migrate import upgrade
from tests.api.helpers import assert_ok, new_account, wait_for
from tests.hardening.helpers import CertificateFiles, make_test_ca
from tests.server import ServerProcess, free_port


class HttpsServer(ServerProcess):
    """A server with HTTPS, whose readiness is asked over HTTPS (it may serve nothing else)."""

    def __init__(self, workdir: Path, certificate: CertificateFiles, **settings: str) -> None:
        super().__init__(
            f"sqlite:///{workdir / 'smsgate.db'}",
            workdir,
            ssl_certfile=str(certificate.certfile),
            ssl_keyfile=str(certificate.keyfile),
            ssl_port=str(free_port()),
            **settings,
        )
        self.trust = ssl.create_default_context(cafile=str(certificate.ca_file))

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.settings['ssl_port']}"

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            assert self.process is not None
            assert self.process.poll() is None, self.log_path.read_text()[-3000:]
            try:
                response = httpx.get(f"{self.https_url}/healthz", verify=self.trust, timeout=1)
            except httpx.TransportError:
                return False
            return response.status_code == 200

        wait_for(ready, timeout, interval=0.05)


@dataclass
class Https:
    server: HttpsServer
    client: httpx.Client  # trusts only the test CA
    database: Database


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[Callable[..., Https]]:
    """Start an HTTPS server with these settings (stopped at teardown)."""
    started: list[Https] = []

    def start(**settings: str) -> Https:
        server = HttpsServer(tmp_path, make_test_ca(tmp_path), **settings)
        https = Https(
            server,
            httpx.Client(base_url=server.https_url, verify=server.trust, timeout=30),
            Database(server.database_url),
        )
        upgrade(https.database.write_engine)
        started.append(https)
        server.start()
        return https

    yield start
    for https in started:
        https.client.close()
        https.server.stop()
        https.database.close()


def test_the_api_answers_over_https_with_a_certificate_of_a_test_ca(
    https_server: Callable[..., Https],
) -> None:
    https = https_server()
    server, client = https.server, https.client
    account = new_account(AccountAdmin(https.database), client)
    session_id = account.session_id()
    assert assert_ok(client.get("/rest/Balance/", params={"sessionId": session_id})) == 1000
    # Plain HTTP is served too by default.
    balance = httpx.get(f"{server.url}/rest/Balance/", params={"sessionId": session_id})
    assert assert_ok(balance) == 1000
    # The certificate is really checked: without the test CA, the handshake fails.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{server.https_url}/healthz", timeout=5)


def test_plain_http_can_be_turned_off(https_server: Callable[..., Https]) -> None:
    https = https_server(plain_http="false")
    assert https.client.get("/healthz").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{https.server.url}/healthz", timeout=5)


def test_https_settings_come_in_pairs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="both ssl_certfile and ssl_keyfile"):
        Settings(ssl_certfile=tmp_path / "cert.pem")
    with pytest.raises(ValueError, match="plain_http = false needs"):
        Settings(plain_http=False)
