"""Better Auth JWT verification, end to end over HTTP (Ed25519 keys and a real JWKS endpoint)."""

import time

import jwt
import pytest

from .conftest import Database, new_key

PATH = "/api/alice/tasks"


def _detail(response):
    return response.json()["detail"]


def test_valid_token_is_accepted_and_jwks_cached(backend, issuer):
    for _ in range(3):
        assert backend.client.get(PATH, headers=issuer.headers("alice")).status_code == 200
    assert issuer.jwks_requests == 1  # fetched once, then served from the cache


@pytest.mark.parametrize(
    ("make_headers", "message"),
    [
        (lambda issuer: {}, "Missing bearer token"),
        (lambda issuer: {"Authorization": "Basic YWxpY2U6cHc="}, "Missing bearer token"),
        (lambda issuer: {"Authorization": "Bearer not-a-jwt"}, "Malformed bearer token"),
        (lambda issuer: issuer.headers("alice", expires_in=-3600), "expired"),
        (lambda issuer: issuer.headers("alice", iss="http://evil.test"), "issuer"),
        (lambda issuer: issuer.headers("alice", aud="http://other-app.test"), "audience"),
        (lambda issuer: issuer.headers("alice", key=new_key()), "unknown key"),
    ],
)
def test_bad_tokens_get_401(backend, issuer, make_headers, message):
    response = backend.client.get(PATH, headers=make_headers(issuer))
    assert response.status_code == 401, response.text
    assert message in _detail(response)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_wrong_key_with_a_known_kid_is_rejected(backend, issuer):
    # Signed by an attacker's key but naming the real key id.
    forged = new_key()
    forged.kid = issuer.keys[0].kid
    response = backend.client.get(PATH, headers=issuer.headers("alice", key=forged))
    assert response.status_code == 401 and "signature is invalid" in _detail(response)


def test_unsigned_and_hs256_tokens_are_rejected_in_jwks_mode(backend, issuer):
    claims = {"sub": "alice", "exp": int(time.time()) + 600, "iss": issuer.base_url, "aud": issuer.base_url}
    unsigned = jwt.encode(claims, None, algorithm="none")
    response = backend.client.get(PATH, headers={"Authorization": f"Bearer {unsigned}"})
    assert response.status_code == 401 and "'none' is not accepted" in _detail(response)
    hs256 = jwt.encode(claims, "guessable-secret-guessable-secret", algorithm="HS256")
    response = backend.client.get(PATH, headers={"Authorization": f"Bearer {hs256}"})
    assert response.status_code == 401 and "'HS256' is not accepted" in _detail(response)


def test_token_without_subject_is_rejected(backend, issuer):
    key = issuer.keys[0]
    token = jwt.encode(
        {"exp": int(time.time()) + 600, "iss": issuer.base_url, "aud": issuer.base_url}, key.private, algorithm="EdDSA", headers={"kid": key.kid}
    )
    response = backend.client.get(PATH, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and "sub" in _detail(response)


def test_sub_mismatch_is_403(backend, issuer):
    response = backend.client.get(PATH, headers=issuer.headers("mallory"))
    assert response.status_code == 403
    assert "another user" in _detail(response)


def test_key_rotation_refetches_jwks(backend, issuer):
    assert backend.client.get(PATH, headers=issuer.headers("alice")).status_code == 200
    assert issuer.jwks_requests == 1
    rotated = issuer.rotate()
    # A token signed with the new key names an unknown kid: the backend refetches once and accepts it.
    assert backend.client.get(PATH, headers=issuer.headers("alice", key=rotated)).status_code == 200
    assert issuer.jwks_requests == 2
    # Both keys stay usable from the refreshed cache without more fetches.
    assert backend.client.get(PATH, headers=issuer.headers("alice", key=issuer.keys[1])).status_code == 200
    assert backend.client.get(PATH, headers=issuer.headers("alice", key=rotated)).status_code == 200
    assert issuer.jwks_requests == 2


def test_unknown_kid_refetch_is_rate_limited(start_backend, db, issuer):
    server = start_backend(db, **{**issuer.settings, "BETTER_AUTH_JWKS_REFETCH_COOLDOWN": 3600})
    assert server.client.get(PATH, headers=issuer.headers("alice")).status_code == 200
    for _ in range(5):
        assert server.client.get(PATH, headers=issuer.headers("alice", key=new_key())).status_code == 401
    assert issuer.jwks_requests == 1


def test_default_issuer_and_audience_are_the_jwks_origin(start_backend, db, issuer):
    # Better Auth's defaults: iss = aud = its base URL, i.e. the JWKS URL's origin.
    server = start_backend(db, BETTER_AUTH_JWKS_URL=issuer.jwks_url, BETTER_AUTH_JWKS_REFETCH_COOLDOWN=0)
    assert server.client.get(PATH, headers=issuer.headers("alice")).status_code == 200
    assert server.client.get(PATH, headers=issuer.headers("alice", aud="http://x.test")).status_code == 401


def test_unreachable_jwks_is_503(start_backend, db):
    from .conftest import free_port

    server = start_backend(db, BETTER_AUTH_JWKS_URL=f"http://127.0.0.1:{free_port()}/api/auth/jwks")
    key = new_key()
    token = jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, key.private, algorithm="EdDSA", headers={"kid": key.kid})
    response = server.client.get(PATH, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503 and "signing keys" in _detail(response)


def test_no_auth_configured_is_503_with_guidance(start_backend, db):
    server = start_backend(db)
    token = jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, "s" * 32, algorithm="HS256")
    response = server.client.get(PATH, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503 and "BETTER_AUTH_JWKS_URL" in _detail(response)


def test_hs256_is_refused_beside_a_jwks_and_without_the_development_mode(start_backend, db, issuer):
    """The chart's production setting (a JWKS URL): a token signed with BETTER_AUTH_SECRET is refused even if
    the backend knows the secret; without a JWKS, the secret alone is not enough either."""
    secret = "development-secret-of-32-bytes!!"
    hs256 = jwt.encode({"sub": "alice", "exp": int(time.time()) + 60, "iss": issuer.base_url, "aud": issuer.base_url}, secret, algorithm="HS256")
    headers = {"Authorization": f"Bearer {hs256}"}
    for dev in (False, True):
        server = start_backend(db, **issuer.settings, BETTER_AUTH_SECRET=secret, AUTH_DEVELOPMENT_MODE=dev)
        response = server.client.get(PATH, headers=headers)
        assert response.status_code == 401 and "verified against the JWKS only" in _detail(response)
        assert server.client.get(PATH, headers=issuer.headers("alice")).status_code == 200
    server = start_backend(db, BETTER_AUTH_SECRET=secret)
    response = server.client.get(PATH, headers=headers)
    assert response.status_code == 503 and "AUTH_DEVELOPMENT_MODE=true" in _detail(response)


def until(condition, timeout: float = 10) -> None:
    """Wait for what a background task does (a condition, not a pause)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not done in time"
        time.sleep(0.02)


def test_cached_keys_outlive_a_brief_jwks_outage_without_a_retry_storm(start_backend, db, issuer):
    server = start_backend(db, **{**issuer.settings, "BETTER_AUTH_JWKS_CACHE_SECONDS": 1, "BETTER_AUTH_JWKS_REFETCH_COOLDOWN": 5})
    assert server.client.get(PATH, headers=issuer.headers("alice")).status_code == 200
    issuer.down = True
    time.sleep(1.2)  # the cache has expired and the frontend is down
    for _ in range(20):  # every one answered from the expired cache, none refused while the endpoint is down
        assert server.client.get(PATH, headers=issuer.headers("alice")).status_code == 200
    until(lambda: issuer.jwks_requests >= 2)  # the refresh runs in the background
    assert issuer.jwks_requests == 2  # the first load, then one refresh attempt for the whole outage window
    # A key the cache never saw cannot be verified while the endpoint is down: 503, and still no storm.
    for _ in range(5):
        assert server.client.get(PATH, headers=issuer.headers("alice", key=new_key())).status_code in (401, 503)
    assert issuer.jwks_requests == 2
    issuer.down = False
    rotated = issuer.rotate()
    time.sleep(5.1)  # past the cooldown: the next expired-cache request refreshes in the background
    assert server.client.get(PATH, headers=issuer.headers("alice")).status_code == 200
    # that background refresh brings the rotated key (asking meanwhile fetches nothing: the cooldown holds)
    until(lambda: server.client.get(PATH, headers=issuer.headers("alice", key=rotated)).status_code == 200)
    assert issuer.jwks_requests == 3


def test_cached_keys_stop_working_after_the_grace_period(start_backend, db, issuer):
    server = start_backend(db, **{**issuer.settings, "BETTER_AUTH_JWKS_CACHE_SECONDS": 0.5, "BETTER_AUTH_JWKS_GRACE_SECONDS": 0.5})
    assert server.client.get(PATH, headers=issuer.headers("alice")).status_code == 200
    issuer.down = True
    time.sleep(1.2)
    response = server.client.get(PATH, headers=issuer.headers("alice"))
    assert response.status_code == 503 and "signing keys" in _detail(response)


def test_hs256_development_mode(start_backend, tmp_path):
    secret = "development-secret-of-32-bytes!!"
    server = start_backend(Database("sqlite", {"SQLITE_PATH": str(tmp_path / "dev.db")}), BETTER_AUTH_SECRET=secret, AUTH_DEVELOPMENT_MODE=True)
    good = jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, secret, algorithm="HS256")
    assert server.client.get(PATH, headers={"Authorization": f"Bearer {good}"}).status_code == 200
    bad = jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, "another-secret-of-32-bytes!!!!!!", algorithm="HS256")
    response = server.client.get(PATH, headers={"Authorization": f"Bearer {bad}"})
    assert response.status_code == 401 and "signature is invalid" in _detail(response)
    expired = jwt.encode({"sub": "alice", "exp": int(time.time()) - 3600}, secret, algorithm="HS256")
    assert server.client.get(PATH, headers={"Authorization": f"Bearer {expired}"}).status_code == 401
