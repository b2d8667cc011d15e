"""Fixtures of the SMPP interop tests: node-smpp SMSCs, and a test CA for TLS."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.api import conftest as api_fixtures
from tests.smpp_interop.smsc import NodeSmsc, node_ready

# The API tests' cheap account hashes, for this package too.
cheap_password_hashes = api_fixtures.cheap_password_hashes


@pytest.fixture(scope="session", autouse=True)
def node_smpp() -> None:
    """These tests need node and node-smpp; ``make test`` installs the latter."""
    reason = node_ready()
    if reason is not None:
        pytest.fail(reason)


@pytest.fixture
def smscs() -> Iterator[Callable[..., NodeSmsc]]:
    """Start node-smpp SMSCs with the given options (stopped at teardown)."""
    started: list[NodeSmsc] = []

    def start(**options: object) -> NodeSmsc:
        started.append(NodeSmsc(**options).start())
        return started[-1]

    yield start
    for smsc in started:
        smsc.stop()


@dataclass(frozen=True)
class Certificates:
    ca_file: Path  # the private CA's certificate
    cert_file: Path  # the SMSC's, for 127.0.0.1 and localhost, signed by the CA
    key_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)
    valid = {"not_valid_before": now - datetime.timedelta(hours=1)}
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder(**valid, not_valid_after=now + datetime.timedelta(days=1))
        .subject_name(_name("smsgate test CA"))
        .issuer_name(_name("smsgate test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder(**valid, not_valid_after=now + datetime.timedelta(days=1))
        .subject_name(_name("node-smsc"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    certificates = Certificates(folder / "ca.pem", folder / "smsc.pem", folder / "smsc.key")
    certificates.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    certificates.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    certificates.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificates
