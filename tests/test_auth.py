"""Token verification: HS256 with the hub's secret, RS256/ES256 from a JWKS URL, dev tokens."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hub.auth import AuthError, TokenVerifier, parse_ttl
from hub.config import AuthConfig


class JWKSServer:
    """A real HTTP server publishing a key set, as an OIDC provider does."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        body = json.dumps(jwks).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture
def keys() -> Iterator[tuple[Any, Any, JWKSServer]]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwks = {"keys": []}
    for kid, key, alg in (("r1", rsa_key, "RS256"), ("e1", ec_key, "ES256")):
        algo = jwt.get_algorithm_by_name(alg)
        jwk = json.loads(algo.to_jwk(key.public_key()))
        jwk.update(kid=kid, alg=alg, use="sig")
        jwks["keys"].append(jwk)
    server = JWKSServer(jwks)
    yield rsa_key, ec_key, server
    server.close()


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": "dr-1",
        "role": "doctor",
        "hospitals": ["H1"],
        "exp": now + 600,
        "iss": "https://idp.test/",
        "aud": "clinical-hub",
        **extra,
    }


def test_rs256_and_es256_tokens_verify_against_jwks(keys: tuple[Any, Any, JWKSServer]) -> None:
    rsa_key, ec_key, server = keys
    cfg = AuthConfig(
        algorithms=["RS256", "ES256"],
        jwks_url=server.url,
        issuer="https://idp.test/",
        audience="clinical-hub",
    )
    verifier = TokenVerifier(cfg, secret=None)
    rs = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "r1"})
    es = jwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": "e1"})
    assert verifier.verify(rs).hospitals == {"H1"}
    assert verifier.verify(es).role == "doctor"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims(), other, algorithm="RS256", headers={"kid": "r1"})
    with pytest.raises(AuthError, match="invalid signature"):
        verifier.verify(forged)
    with pytest.raises(AuthError, match="wrong audience"):
        verifier.verify(
            jwt.encode(claims(aud="other"), rsa_key, algorithm="RS256", headers={"kid": "r1"})
        )
    with pytest.raises(AuthError, match="wrong issuer"):
        verifier.verify(
            jwt.encode(
                claims(iss="https://evil/"), rsa_key, algorithm="RS256", headers={"kid": "r1"}
            )
        )
    with pytest.raises(AuthError, match="signing key not found"):
        verifier.verify(jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "zz"}))
    # an HS256 token must not be accepted when only asymmetric algorithms are configured
    with pytest.raises(AuthError, match="not accepted"):
        verifier.verify(jwt.encode(claims(), "k" * 40, algorithm="HS256"))


def test_hs256_claim_problems_have_specific_reasons() -> None:
    secret = "s" * 40
    verifier = TokenVerifier(AuthConfig(), secret)
    no_role = jwt.encode({"sub": "u", "exp": int(time.time()) + 60}, secret, algorithm="HS256")
    with pytest.raises(AuthError, match="lacks a 'role' claim"):
        verifier.verify(no_role)
    no_exp = jwt.encode({"sub": "u", "role": "nurse"}, secret, algorithm="HS256")
    with pytest.raises(AuthError, match="required claim 'exp'"):
        verifier.verify(no_exp)
    with pytest.raises(AuthError, match="algorithm 'none' not accepted"):
        verifier.verify(jwt.encode({"sub": "u", "role": "x", "exp": 9e9}, None, algorithm="none"))


def test_parse_ttl() -> None:
    assert parse_ttl("8h") == 8 * 3600 and parse_ttl("30m") == 1800 and parse_ttl("90") == 90
    with pytest.raises(ValueError):
        parse_ttl("soon")


def test_hub_token_command_mints_a_verifiable_token(tmp_path: Path) -> None:
    secret = "t" * 40
    env = {"HUB_AUTH__SECRET": secret, "PATH": ""}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "hub",
            "token",
            "--sub",
            "nurse-3",
            "--role",
            "nurse",
            "--hospital",
            "H1",
            "--hospital",
            "H2",
            "--patient",
            "P9",
            "--ttl",
            "2h",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    principal = TokenVerifier(AuthConfig(), secret).verify(out.stdout.strip())
    assert principal.subject == "nurse-3" and principal.hospitals == {"H1", "H2"}
    assert principal.patients == {"P9"}
    assert principal.expires_at is not None and 7000 < principal.expires_at - time.time() <= 7200
    bad = subprocess.run(
        [sys.executable, "-m", "hub", "token", "--sub", "x", "--role", "nurse", "--ttl", "30d"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        env=env,
    )
    assert bad.returncode == 2 and "--ttl" in bad.stderr
