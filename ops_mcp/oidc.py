"""OAuth 2.1 resource server for the HTTP transport (MCP authorization spec): bearer JWTs of one issuer, verified
against its JWKS (Better Auth's `/api/auth/jwks` works), beside the static OPS_MCP_HTTP_TOKEN.

A token is accepted when its signature verifies with a key of the issuer's JWKS (asymmetric algorithms only), it
has not expired, its `iss` is the issuer and its `aud` the configured audience (a token minted for another service
is refused), and, when OPS_MCP_OIDC_SUBJECTS is set, its `sub` or `email` is in that list. The person is named in
the audit record of every call made with it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

ALGORITHMS = ["EdDSA", "ES256", "ES384", "RS256", "PS256"]
LEEWAY_SECONDS = 10
CACHE_SECONDS = 300.0  # keys are refetched after this
REFETCH_COOLDOWN = 5.0  # at most one fetch per this many seconds for unknown key ids: no fetch storm from bad tokens
METADATA_PATH = "/.well-known/oauth-protected-resource"


class Rejected(Exception):
    """The token is not accepted; the message is safe to show the caller."""


@dataclass(frozen=True)
class Identity:
    subject: str
    email: str | None = None

    @property
    def label(self) -> str:
        return f"{self.email} ({self.subject})" if self.email else self.subject


class Verifier:
    def __init__(self, issuer: str, audience: str, jwks_url: str, subjects: list[str] | None = None):
        self.issuer, self.audience, self.jwks_url = issuer, audience, jwks_url
        self.subjects = set(subjects or [])
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._tried_at = float("-inf")
        self._lock = threading.Lock()

    def _key(self, kid: str) -> Any:
        import httpx
        import jwt

        with self._lock:
            stale = time.monotonic() - self._fetched_at > CACHE_SECONDS
            if (kid not in self._keys or stale) and time.monotonic() - self._tried_at >= REFETCH_COOLDOWN:
                self._tried_at = time.monotonic()
                try:
                    response = httpx.get(self.jwks_url, timeout=5.0)
                    response.raise_for_status()
                    keys = jwt.PyJWKSet.from_dict(response.json()).keys
                except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
                    if kid not in self._keys:
                        raise Rejected(f"the issuer's signing keys could not be loaded from {self.jwks_url} ({type(exc).__name__})") from None
                else:
                    self._keys = {k.key_id: k for k in keys if k.key_id}
                    self._fetched_at = time.monotonic()
            if kid not in self._keys:
                raise Rejected("token signed with a key the issuer does not publish")
            return self._keys[kid].key

    def verify(self, token: str) -> Identity:
        """Blocking (may fetch the JWKS)."""
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Rejected("malformed bearer token") from None
        if header.get("alg") not in ALGORITHMS:
            raise Rejected(f"token algorithm {header.get('alg')!r} is not accepted (asymmetric signatures only)")
        if not header.get("kid"):
            raise Rejected("token has no key id (kid)")
        key = self._key(str(header["kid"]))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[header["alg"]],
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp", "iss", "aud", "sub"]},
                leeway=LEEWAY_SECONDS,
            )
        except jwt.ExpiredSignatureError:
            raise Rejected("token has expired: sign in again") from None
        except jwt.InvalidAudienceError:
            raise Rejected(f"token audience is not {self.audience!r}") from None
        except jwt.InvalidIssuerError:
            raise Rejected(f"token issuer is not {self.issuer!r}") from None
        except jwt.PyJWTError as exc:
            raise Rejected(f"invalid token: {exc}") from None
        identity = Identity(subject=str(claims["sub"]), email=claims.get("email") if isinstance(claims.get("email"), str) else None)
        if self.subjects and not ({identity.subject, identity.email} & self.subjects):
            raise Rejected(f"{identity.label} may not use ops-mcp (not in OPS_MCP_OIDC_SUBJECTS)")
        return identity


def metadata(resource: str, issuer: str) -> dict[str, Any]:
    """RFC 9728 protected resource metadata."""
    return {"resource": resource, "authorization_servers": [issuer], "bearer_methods_supported": ["header"], "resource_name": "ops-mcp"}
