"""HTTPS with a certificate from a test CA, beside plain HTTP or alone."""

from __future__ import annotations

import signal
import socket
import ssl
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from smsgate.config import Settings
from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from tests.api.helpers import assert_ok, wait_for
from tests.conftest import new_account
from tests.hardening.conftest import Ops
from tests.hardening.helpers import FORM, read_response, request_head, send_head_in_flight
from tests.server import ServerProcess, free_port
from tests.tls import CertificateFiles, make_test_ca


class HttpsOnlyServer(ServerProcess):
    """``smsgate serve --ssl-certfile F --ssl-keyfile F --ssl-port P --no-plain-http``."""

    def __init__(self, database_url: str, workdir: Path, certificate: CertificateFiles) -> None:
        super().__init__(database_url, workdir)
        self.certificate = certificate
        self.ssl_port = free_port()
        self.trust = ssl.create_default_context(cafile=str(certificate.ca_file))

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.ssl_port}"

    def start(self, *args: str) -> ServerProcess:
        return super().start(
            *("--ssl-certfile", str(self.certificate.certfile)),
            *("--ssl-keyfile", str(self.certificate.keyfile)),
            *("--ssl-port", str(self.ssl_port)),
            "--no-plain-http",
            *args,
        )

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


def test_the_api_answers_over_https_with_a_certificate_of_a_test_ca(ops: Ops) -> None:
    account = new_account(ops.deployment.admin, ops.https)
    session_id = account.session_id()
    assert assert_ok(ops.https.get("/rest/Balance/", params={"sessionId": session_id})) == 1000
    # Plain HTTP is served too by default.
    by_http = ops.deployment.client.get("/rest/Balance/", params={"sessionId": session_id})
    assert assert_ok(by_http) == 1000
    # The certificate is really checked: without the test CA, the handshake fails.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{ops.https_url}/healthz", timeout=5)


def test_plain_http_can_be_turned_off(database_url: str, tmp_path: Path) -> None:
    server = HttpsOnlyServer(database_url, tmp_path, make_test_ca(tmp_path))
    server.start()
    try:
        response = httpx.get(f"{server.https_url}/healthz", verify=server.trust, timeout=5)
        assert response.status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/healthz", timeout=5)
    finally:
        server.stop()


def test_https_settings_come_in_pairs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="both ssl_certfile and ssl_keyfile"):
        Settings(ssl_certfile=tmp_path / "cert.pem")
    with pytest.raises(ValueError, match="plain_http = false needs"):
        Settings(plain_http=False)


def test_a_request_in_flight_on_https_is_answered_through_a_graceful_stop(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    certificate = make_test_ca(tmp_path)
    server = ServerProcess(database_url, tmp_path)
    ssl_port = free_port()
    server.start(
        *("--ssl-certfile", str(certificate.certfile)),
        *("--ssl-keyfile", str(certificate.keyfile)),
        *("--ssl-port", str(ssl_port)),
    )
    try:
        AccountAdmin(database).create("owner", password="secret-pass-1", balance=Decimal(5))
        trust = ssl.create_default_context(cafile=str(certificate.ca_file))
        body = b"login=owner&pass=secret-pass-1"
        raw = socket.create_connection(("127.0.0.1", ssl_port), timeout=10)
        with trust.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            send_head_in_flight(tls, request_head("/rest/Balance/", FORM, len(body)))
            tls.sendall(body[:5])
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            # The plain HTTP listener has nothing in flight: its side of the stop is done.
            time.sleep(1)
            tls.sendall(body[5:])
            answer = read_response(tls)
        # Answered from the database, which the stop closes only once this is done.
        assert (answer.status, answer.body) == (200, b"5")
        assert server.process.wait(30) == 0
    finally:
        server.stop()
