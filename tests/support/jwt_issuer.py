"""A Better-Auth-like token issuer for tests: Ed25519 keys, a JWKS served over HTTP on loopback at /api/auth/jwks,
`iss` = `aud` = its base URL, `sub` = user id (what Better Auth's JWT plugin publishes and signs)."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm


@dataclass
class SigningKey:
    kid: str
    private: Ed25519PrivateKey

    def public_jwk(self) -> dict[str, Any]:
        jwk = json.loads(OKPAlgorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "alg": "EdDSA"}


def new_key() -> SigningKey:
    return SigningKey(kid=secrets.token_hex(8), private=Ed25519PrivateKey.generate())


@dataclass
class Issuer:
    base_url: str
    keys: list[SigningKey]
    jwks_requests: int = 0
    down: bool = False  # the JWKS endpoint answers 503 (the frontend restarting, say)

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/api/auth/jwks"

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "BETTER_AUTH_JWKS_URL": self.jwks_url,
            "BETTER_AUTH_ISSUER": self.base_url,
            "BETTER_AUTH_AUDIENCE": self.base_url,
            "BETTER_AUTH_JWKS_REFETCH_COOLDOWN": 0,
        }

    def token(self, sub: str, *, key: SigningKey | None = None, expires_in: int = 900, iss: str | None = None, aud: str | None = None, **claims: Any) -> str:
        key = key or self.keys[0]
        now = int(time.time())
        payload = {
            "sub": sub,
            "iat": now,
            "exp": now + expires_in,
            "iss": iss or self.base_url,
            "aud": aud or self.base_url,
            "email": f"{sub}@example.test",
            **claims,
        }
        return jwt.encode(payload, key.private, algorithm="EdDSA", headers={"kid": key.kid})

    def headers(self, sub: str, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(sub, **kwargs)}"}

    def rotate(self) -> SigningKey:
        """Publish a new current key (the old one stays published, as Better Auth does)."""
        key = new_key()
        self.keys.insert(0, key)
        return key


@contextmanager
def serve_issuer() -> Iterator[Issuer]:
    """An Issuer whose JWKS is served on a loopback port until the block ends."""
    state = Issuer(base_url="", keys=[new_key()])

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            if self.path != "/api/auth/jwks":
                self.send_error(404)
                return
            state.jwks_requests += 1
            if state.down:
                self.send_error(503)
                return
            body = json.dumps({"keys": [k.public_jwk() for k in state.keys]}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    # shutdown() waits for serve_forever's next poll: 0.5 s by default, paid by every test that used the issuer
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


