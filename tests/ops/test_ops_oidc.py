"""ops-mcp over HTTP as an OAuth 2.1 resource server: JWTs of a Better-Auth-like issuer (Ed25519 keys, a JWKS on
loopback) verified per request, the static token still accepted, the person named in the audit log."""

from __future__ import annotations

import json
import time

import httpx
import jwt
import pytest
from ops_helpers import HttpServer, deployment, http_client, ok, ops_env
from support.jwt_issuer import new_key, serve_issuer

pytestmark = pytest.mark.anyio

STATIC = "static-ops-token-for-oidc-test-91c2"
AUDIENCE = "https://ops.todo.example/mcp"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture
def issuer():
    with serve_issuer() as state:
        yield state


def oidc_server(cluster, namespace, audit_log, issuer, **extra: str) -> HttpServer:
    env = ops_env(
        cluster,
        namespace,
        audit_log,
        OPS_MCP_HTTP_TOKEN=STATIC,
        OPS_MCP_OIDC_ISSUER=issuer.base_url,
        OPS_MCP_OIDC_AUDIENCE=AUDIENCE,
        OPS_MCP_OIDC_JWKS_URL=issuer.jwks_url,
        **extra,
    )
    return HttpServer(env)


def refused(server: HttpServer, token: str) -> str:
    response = httpx.post(server.url, json=INIT, headers={**HEADERS, "Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    return response.json()["detail"]


async def test_jwts_of_the_issuer_are_verified_and_the_person_is_audited(cluster, namespace, audit_log, issuer):
    cluster.apply(deployment("web", 1), namespace)
    server = oidc_server(cluster, namespace, audit_log, issuer, OPS_MCP_OIDC_SUBJECTS="ada,bob@example.test")
    try:
        base = server.url.removesuffix("/mcp")
        # Where to get a token: unauthenticated metadata, and the 401's challenge points at it.
        meta = httpx.get(f"{base}/.well-known/oauth-protected-resource").json()
        assert meta["authorization_servers"] == [issuer.base_url] and meta["resource"] == server.url, meta
        response = httpx.post(server.url, json=INIT, headers=HEADERS)
        assert response.status_code == 401
        assert f'resource_metadata="{base}/.well-known/oauth-protected-resource"' in response.headers["www-authenticate"]

        good = issuer.token("ada", aud=AUDIENCE)
        async with http_client(server.url, good) as client:
            assert ok(await client.call_tool("scale_deployment", {"name": "web", "replicas": 2}))["after"] == 2
        async with http_client(server.url, STATIC) as client:  # the static token still works (no person)
            assert ok(await client.call_tool("scale_deployment", {"name": "web", "replicas": 1}))["after"] == 1

        assert "expired" in refused(server, issuer.token("ada", aud=AUDIENCE, expires_in=-60))
        assert "audience" in refused(server, issuer.token("ada"))  # a token for the app, not for ops-mcp
        assert "issuer" in refused(server, issuer.token("ada", aud=AUDIENCE, iss="https://other.example"))
        assert "does not publish" in refused(server, issuer.token("ada", aud=AUDIENCE, key=new_key()))
        assert "not in OPS_MCP_OIDC_SUBJECTS" in refused(server, issuer.token("eve", aud=AUDIENCE))
        forged = jwt.encode(
            {"sub": "ada", "aud": AUDIENCE, "iss": issuer.base_url, "exp": int(time.time()) + 60},
            STATIC,
            algorithm="HS256",
            headers={"kid": issuer.keys[0].kid},
        )
        assert "asymmetric" in refused(server, forged)
        assert issuer.jwks_requests <= 3, "unknown key ids do not make a fetch each"
    finally:
        server.stop()
    records = [json.loads(line) for line in open(audit_log)]
    assert [(r.get("user"), r["arguments"]["replicas"]) for r in records if r["tool"] == "scale_deployment"] == [("ada@example.test (ada)", 2), (None, 1)]
    assert good not in open(audit_log).read()


def test_an_issuer_without_audience_or_jwks_is_refused_at_start(cluster, namespace, audit_log, issuer):
    import subprocess

    from ops_helpers import SERVE

    env = ops_env(cluster, namespace, audit_log, OPS_MCP_OIDC_ISSUER=issuer.base_url)
    proc = subprocess.run([*SERVE, "--transport", "http"], env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and "OPS_MCP_OIDC_AUDIENCE" in proc.stderr and "/api/auth/jwks" in proc.stderr, proc.stderr
