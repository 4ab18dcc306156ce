"""Verification of Better Auth JWTs.

Production: the frontend's JWT plugin signs with an asymmetric key (EdDSA/Ed25519 by default)
published at `<frontend>/api/auth/jwks`. The key set is cached and refetched when a token names
a key id we have not seen (key rotation), at most once per cooldown so unknown ids cannot be used
to hammer the frontend. When the cache has expired, a request whose key is cached never waits for the
JWKS endpoint: it is verified with the cached key while one background fetch refreshes the set, and while
the endpoint is down cached keys keep working for a grace period (a failed fetch is retried at most once
per cooldown, so an outage causes no retry storm).

Development only (AUTH_DEVELOPMENT_MODE=true, no JWKS URL): HS256 tokens signed with BETTER_AUTH_SECRET.
"""

import logging
import threading
import time
from dataclasses import dataclass

import httpx
import jwt

from app.core.config import Settings

log = logging.getLogger(__name__)

ASYMMETRIC_ALGORITHMS = ["EdDSA", "ES256", "ES512", "RS256", "PS256"]
LEEWAY_SECONDS = 10


class AuthError(Exception):
    """The token is missing or invalid: HTTP 401. The message is safe to show the caller."""


class AuthUnavailable(Exception):
    """Tokens cannot be verified right now (no auth configured, JWKS unreachable): HTTP 503."""


@dataclass(frozen=True)
class Principal:
    user_id: str
    claims: dict


class JwksCache:
    def __init__(self, url: str, *, cache_seconds: float, refetch_cooldown: float, grace_seconds: float = 0.0) -> None:
        self.url = url
        self.cache_seconds = cache_seconds
        self.refetch_cooldown = refetch_cooldown
        self.grace_seconds = grace_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._failed_at = float("-inf")
        self._lock = threading.Lock()  # one fetch at a time
        self._refreshing = False

    def _fetch(self) -> None:
        try:
            response = httpx.get(self.url, timeout=5.0)
            response.raise_for_status()
            key_set = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
            self._failed_at = time.monotonic()
            log.warning("JWKS fetch failed", extra={"jwks_url": self.url, "error": type(exc).__name__})
            raise AuthUnavailable(f"Cannot load the signing keys from {self.url}: {type(exc).__name__}") from exc
        self._keys = {key.key_id: key for key in key_set.keys if key.key_id}
        self._fetched_at = time.monotonic()
        log.info("JWKS loaded", extra={"jwks_url": self.url, "key_ids": sorted(self._keys)})

    def _fetch_now(self, kid: str) -> None:
        """Fetch in this request (nothing cached can verify it), unless another request just did or failed."""
        with self._lock:
            age = time.monotonic() - self._fetched_at
            if kid in self._keys and age <= self.cache_seconds:
                return  # fetched by another request meanwhile
            if time.monotonic() - self._failed_at < self.refetch_cooldown:
                raise AuthUnavailable(f"Cannot load the signing keys from {self.url} (retried at most every {self.refetch_cooldown:g}s)")
            self._fetch()

    def _refresh_in_background(self) -> None:
        if self._refreshing or time.monotonic() - self._failed_at < self.refetch_cooldown:
            return

        def run() -> None:
            try:
                with self._lock:
                    self._fetch()
            except AuthUnavailable:
                pass  # logged; the cached keys serve until the grace period ends
            finally:
                self._refreshing = False

        self._refreshing = True
        threading.Thread(target=run, name="jwks-refresh", daemon=True).start()

    def key_for(self, kid: str) -> jwt.PyJWK:
        age = time.monotonic() - self._fetched_at
        if kid in self._keys and age <= self.cache_seconds + self.grace_seconds:
            if age > self.cache_seconds:
                self._refresh_in_background()  # expired: verify with the cached key, refresh meanwhile
            return self._keys[kid]
        if kid in self._keys or age > self.cache_seconds or age >= self.refetch_cooldown:
            self._fetch_now(kid)  # nothing cached can verify it: a new key id (rotation), or past the grace period
        try:
            return self._keys[kid]
        except KeyError:
            raise AuthError("Token signed with an unknown key") from None


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.jwks = (
            JwksCache(
                settings.better_auth_jwks_url,
                cache_seconds=settings.jwks_cache_seconds,
                refetch_cooldown=settings.jwks_refetch_cooldown,
                grace_seconds=settings.jwks_grace_seconds,
            )
            if settings.better_auth_jwks_url
            else None
        )

    @property
    def hs256(self) -> bool:
        """HS256 development tokens: only in the explicit development mode, and never beside a JWKS."""
        return self.jwks is None and self.settings.auth_development_mode and bool(self.settings.better_auth_secret)

    @property
    def configured(self) -> bool:
        return self.jwks is not None or self.hs256

    def verify(self, token: str) -> Principal:
        """Check signature, expiry, issuer and audience; return the user. Blocking (may fetch JWKS)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("Malformed bearer token") from None
        alg = header.get("alg")
        if alg == "HS256" and self.hs256:
            key: object = self.settings.better_auth_secret
            issuer, audience = self.settings.better_auth_issuer, self.settings.better_auth_audience
        elif alg in ASYMMETRIC_ALGORITHMS and self.jwks is not None:
            kid = header.get("kid")
            if not kid:
                raise AuthError("Token has no key id (kid)")
            key = self.jwks.key_for(kid).key
            issuer, audience = self.settings.expected_issuer, self.settings.expected_audience
        elif not self.configured:
            raise AuthUnavailable(not_configured(self.settings))
        elif alg == "HS256" and self.jwks is not None:
            raise AuthError("Token algorithm 'HS256' is not accepted: tokens are verified against the JWKS only")
        else:
            raise AuthError(f"Token algorithm {alg!r} is not accepted")

        options: dict = {"require": ["exp", "sub"], "verify_aud": audience is not None}
        try:
            claims = jwt.decode(token, key, algorithms=[alg], issuer=issuer, audience=audience, options=options, leeway=LEEWAY_SECONDS)
        except jwt.ExpiredSignatureError:
            raise AuthError("Token has expired") from None
        except jwt.InvalidIssuerError:
            raise AuthError("Token issuer is not accepted") from None
        except jwt.InvalidAudienceError:
            raise AuthError("Token audience is not accepted") from None
        except jwt.InvalidSignatureError:
            raise AuthError("Token signature is invalid") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"Invalid token: {exc}") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise AuthError("Token has no subject (sub)")
        return Principal(user_id=subject, claims=claims)


def not_configured(settings: Settings) -> str:
    """Why no token can be verified, and what to set."""
    if settings.better_auth_secret and not settings.auth_development_mode:
        return (
            "Authentication is not configured: BETTER_AUTH_SECRET alone is accepted only in development "
            "(AUTH_DEVELOPMENT_MODE=true); set BETTER_AUTH_JWKS_URL to the frontend's JWKS"
        )
    return "Authentication is not configured: set BETTER_AUTH_JWKS_URL (or, for local development only, AUTH_DEVELOPMENT_MODE=true with BETTER_AUTH_SECRET)"
