"""Streamable HTTP at /mcp (and Prometheus metrics at /metrics) with bearer auth and Host-header (DNS-rebinding) checks.

Auth rule: every request but GET /health and the protected resource metadata carries a bearer token: the static
OPS_MCP_HTTP_TOKEN, or a JWT of OPS_MCP_OIDC_ISSUER (ops_mcp/oidc.py), whose person the audit log then names. One
of the two is required, unless the server is bound to a loopback address AND auth was explicitly disabled
(--no-auth / OPS_MCP_HTTP_AUTH_DISABLED).
"""

from __future__ import annotations

import hmac
import json
import sys
from typing import Any

from ops_mcp import oidc
from ops_mcp.settings import Settings

USER_KEY = "ops_mcp_user"  # scope["state"][USER_KEY]: the person a verified JWT names (the audit reads it)


class BearerAuth:
    """ASGI middleware: every request except GET /health and the resource metadata needs `Authorization: Bearer
    <token>`: the static token, or a JWT the verifier accepts."""

    def __init__(self, app: Any, token: str | None, verifier: oidc.Verifier | None = None):
        self.app = app
        self.token = token.encode() if token else None
        self.verifier = verifier

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") in ("/health", oidc.METADATA_PATH):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        scheme, _, supplied = headers.get(b"authorization", b"").partition(b" ")
        supplied = supplied.strip()
        why = "send Authorization: Bearer <token>"
        if scheme.lower() == b"bearer" and supplied:
            if self.token and hmac.compare_digest(supplied, self.token):
                return await self.app(scope, receive, send)
            if self.verifier is not None and supplied.count(b".") == 2:
                import anyio.to_thread

                try:
                    identity = await anyio.to_thread.run_sync(self.verifier.verify, supplied.decode(errors="replace"))
                except oidc.Rejected as exc:
                    why = str(exc)
                else:
                    scope.setdefault("state", {})[USER_KEY] = identity.label
                    return await self.app(scope, receive, send)
            else:
                why = "the bearer token is not accepted"
        await self._refuse(scope, send, why)

    async def _refuse(self, scope: Any, send: Any, why: str) -> None:
        body = json.dumps({"error": "unauthorized", "detail": why}).encode()
        challenge = 'Bearer realm="ops-mcp"'
        if self.verifier is not None:  # where a client finds the authorization server (MCP authorization spec)
            host = dict(scope.get("headers") or []).get(b"host", b"").decode(errors="replace")
            description = why.replace('"', "'")
            challenge += (
                f', error="invalid_token", error_description="{description}", resource_metadata="{scope.get("scheme", "http")}://{host}{oidc.METADATA_PATH}"'
            )
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", challenge.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def allowed_hosts(settings: Settings) -> list[str]:
    """Host headers to accept: loopback on our port, plus OPS_MCP_ALLOWED_HOSTS entries
    (an entry without a port also matches any port, e.g. `todo-chatbot-ops-mcp.todo.svc`)."""
    hosts = [f"127.0.0.1:{settings.port}", f"localhost:{settings.port}", f"[::1]:{settings.port}", "127.0.0.1", "localhost"]
    for h in settings.allowed_hosts:
        hosts.append(h)
        if ":" not in h:
            hosts.append(f"{h}:*")
    return hosts


def build_http_app(mcp: Any, settings: Settings) -> Any:
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.responses import JSONResponse, Response

    authenticated = bool(settings.http_token or settings.oidc_issuer)
    if not authenticated and not (settings.http_auth_disabled and settings.loopback):
        raise SystemExit(
            "ops-mcp: HTTP needs bearer auth: set OPS_MCP_HTTP_TOKEN, or OPS_MCP_OIDC_ISSUER (with its audience and JWKS URL). "
            "(Only on a loopback bind may auth be turned off, with --no-auth.)"
        )

    if not authenticated and "*" in settings.allowed_hosts:
        raise SystemExit(
            "ops-mcp: --no-auth with OPS_MCP_ALLOWED_HOSTS=* is refused: without a token the Host check is what keeps "
            "a web page in the user's browser from reaching this server through a rebound DNS name. "
            "Name the hosts to accept (--allowed-hosts ops-mcp.todo.svc:8002), or set OPS_MCP_HTTP_TOKEN."
        )

    @mcp.custom_route("/health", methods=["GET"])
    async def health(request: Any) -> Any:
        return JSONResponse({"status": "ok"})

    metrics = getattr(getattr(mcp, "ops", None), "metrics", None)
    if metrics is not None:

        @mcp.custom_route("/metrics", methods=["GET"])
        async def prometheus(request: Any) -> Any:  # behind the bearer token like /mcp: scrape with `authorization`
            body, content_type = metrics.exposition()
            return Response(body, media_type=content_type)

    if settings.oidc_issuer:

        @mcp.custom_route(oidc.METADATA_PATH, methods=["GET"])
        async def protected_resource(request: Any) -> Any:  # unauthenticated by design: it says where to get a token
            resource = settings.oidc_resource or f"{request.url.scheme}://{request.url.netloc}/mcp"
            return JSONResponse(oidc.metadata(resource, settings.oidc_issuer))

    hosts = allowed_hosts(settings)
    origins = [f"http://{h}" for h in hosts] + [f"https://{h}" for h in hosts]
    # OPS_MCP_ALLOWED_HOSTS=* turns the Host/Origin check off (the bearer token still applies).
    check = "*" not in settings.allowed_hosts
    security = TransportSecuritySettings(enable_dns_rebinding_protection=check, allowed_hosts=hosts, allowed_origins=origins)
    app = mcp.streamable_http_app(streamable_http_path="/mcp", transport_security=security, host=settings.host)
    if authenticated:
        verifier = (
            oidc.Verifier(settings.oidc_issuer, settings.oidc_audience or "", settings.oidc_jwks_url or "", settings.oidc_subjects)
            if settings.oidc_issuer
            else None
        )
        app = BearerAuth(app, settings.http_token, verifier)
    return app


def serve_http(mcp: Any, settings: Settings) -> int:
    import uvicorn

    app = build_http_app(mcp, settings)
    auth = (
        " + ".join(filter(None, ["bearer token" if settings.http_token else "", f"JWTs of {settings.oidc_issuer}" if settings.oidc_issuer else ""]))
        or "NO AUTH (loopback only)"
    )
    print(f"ops-mcp: streamable HTTP on http://{settings.host}:{settings.port}/mcp ({auth})", file=sys.stderr)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0
