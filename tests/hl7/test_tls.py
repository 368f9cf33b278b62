"""MLLP over TLS and mutual TLS, with certificates made for the test."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters.hl7.client import MllpClient
from adapters.hl7.message import parse
from tests.conftest import HubProcess

MESSAGE = (
    b"MSH|^~\\&|PAS|HOSP|HUB|HOSP|20260310160000||ADT^A20^ADT_A20|TLS-1|P|2.5.1\r"
    b"EVN||20260310160000\rNPU|4E^136^B^HOSP|U\r"
)


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    ca: bool,
    san: bool = False,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer or (name, key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test-ca", ca_key, None, ca=True)
    _write(tmp_path / "ca", ca, ca_key)
    for name, san in (("server", True), ("client", False)):
        key = ec.generate_private_key(ec.SECP256R1())
        _write(tmp_path / name, _cert(name, key, (ca.subject, ca_key), ca=False, san=san), key)
    return tmp_path


@pytest.fixture
def tls_hub(pki: Path, tmp_path: Path) -> Iterator[HubProcess]:
    hub = HubProcess(tmp_path / "state")
    (tmp_path / "state").mkdir()
    hub.extra_env["HUB_PLUGINS__SETTINGS"] = json.dumps(
        {
            "hl7_mllp": {
                "listeners": [
                    {
                        "name": "secure",
                        "port": hub.mllp_port,
                        "tls_cert": str(pki / "server.crt"),
                        "tls_key": str(pki / "server.key"),
                        "tls_client_ca": str(pki / "ca.crt"),
                    }
                ]
            }
        }
    )
    yield hub.start()
    hub.stop()


def _client_context(pki: Path, with_cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if with_cert:
        context.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
    return context


def test_hub_send_over_mutual_tls(tls_hub: HubProcess, pki: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "one.hl7"
    path.write_bytes(MESSAGE.replace(b"TLS-1", b"TLS-SEND"))
    base = [sys.executable, "-m", "hub", "send", str(path), "--port", str(tls_hub.mllp_port)]
    tls = ["--tls", "--ca", str(pki / "ca.crt")]
    client = ["--cert", str(pki / "client.crt"), "--key", str(pki / "client.key")]
    ok = subprocess.run(base + tls + client, capture_output=True, text=True, timeout=60)
    assert (ok.returncode, ok.stdout.strip()) == (0, f"{path}: TLS-SEND AA"), ok.stderr
    # without a client certificate the hub refuses the handshake: a one-line reason, exit 2
    refused = subprocess.run(base + tls, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.startswith("hub send: 127.0.0.1:") and "Traceback" not in refused.stderr


def test_mutual_tls_accepts_a_known_client_and_refuses_others(
    tls_hub: HubProcess, pki: Path
) -> None:
    async def run(with_cert: bool) -> str | None:
        async with MllpClient(
            "127.0.0.1", tls_hub.mllp_port, ssl=_client_context(pki, with_cert), timeout=5
        ) as client:
            return parse(await client.send(MESSAGE)).value("MSA", 1)

    assert asyncio.run(run(True)) == "AA"
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        asyncio.run(run(False))


def test_strict_validation_mode_checks_structure_with_hl7apy(tmp_path: Path) -> None:
    state = tmp_path / "strict"
    state.mkdir()
    hub = HubProcess(state)
    hub.extra_env["HUB_PLUGINS__SETTINGS"] = json.dumps(
        {
            "hl7_mllp": {
                "listeners": [{"name": "strict", "port": hub.mllp_port, "strict_validation": True}]
            }
        }
    )
    hub.start()
    try:
        no_pid = (
            b"MSH|^~\\&|PAS|HOSP|HUB|HOSP|20260310160000||ADT^A01^ADT_A01|S-1|P|2.5.1\r"
            b"EVN||20260310160000\rPV1||I|1^2^3^HOSP\r"
        )

        async def run() -> list[tuple[str | None, str | None]]:
            out = []
            async with MllpClient("127.0.0.1", hub.mllp_port) as client:
                for message in (no_pid, MESSAGE):
                    ack = parse(await client.send(message))
                    out.append((ack.value("MSA", 1), ack.value_of(ack.segment("ERR"), 3, 1)))
            return out

        assert asyncio.run(run()) == [("AE", "101"), ("AA", None)]
    finally:
        hub.stop()
