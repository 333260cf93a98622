"""--auth jwt with --jwks-url: RS256 and ES256 tokens verified against keys that a real local
HTTP server publishes, with audience and issuer checks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.hooks.conftest import Receiver
from tests.server_process import ServerProcess

ISSUER = "https://idp.example"
AUDIENCE = "upslice"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def published(directory: Path) -> None:
    keys = []
    for kid, jwk in (
        ("rsa-1", RSAAlgorithm.to_jwk(RSA_KEY.public_key(), as_dict=True)),
        ("ec-1", ECAlgorithm.to_jwk(EC_KEY.public_key(), as_dict=True)),
    ):
        keys.append({**jwk, "kid": kid, "use": "sig"})
    (directory / "jwks.json").write_text(json.dumps({"keys": keys}))


def bearer(key: Any, algorithm: str, kid: str, **claims: Any) -> dict[str, str]:
    payload = {"sub": "dora", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600}
    payload.update(claims)
    encoded = jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})
    return {"Authorization": f"Bearer {encoded}"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    idp = Receiver(tmp_path_factory.mktemp("idp"))
    published(idp.directory)
    idp.start()
    proc = ServerProcess(
        tmp_path_factory.mktemp("jwks") / "data",
        "--auth", "jwt",
        "--jwks-url", f"{idp.url}/jwks.json",
        "--jwt-audience", AUDIENCE,
        "--jwt-issuer", ISSUER,
    ).start()  # fmt: skip
    with httpx.Client(base_url=proc.url, timeout=30) as http:
        yield http
    proc.stop()
    idp.stop()


def test_rs256_and_es256_tokens_from_the_jwks_verify(client: httpx.Client) -> None:
    for key, algorithm, kid in ((RSA_KEY, "RS256", "rsa-1"), (EC_KEY, "ES256", "ec-1")):
        response = client.get("/api/tasks", headers=bearer(key, algorithm, kid))
        assert response.status_code == 200, response.text


def test_a_token_the_jwks_does_not_vouch_for_is_401(client: httpx.Client) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = {
        "another key under a known kid": bearer(stranger, "RS256", "rsa-1"),
        "an unknown kid": bearer(RSA_KEY, "RS256", "rsa-9"),
        "another audience": bearer(RSA_KEY, "RS256", "rsa-1", aud="someone-else"),
        "another issuer": bearer(EC_KEY, "ES256", "ec-1", iss="https://evil.example"),
        "expired": bearer(EC_KEY, "ES256", "ec-1", exp=int(time.time()) - 5),
    }
    for case, headers in cases.items():
        response = client.get("/api/tasks", headers=headers)
        assert response.status_code == 401, case
