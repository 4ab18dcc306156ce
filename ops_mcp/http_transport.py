"""Streamable HTTP at /mcp (and Prometheus metrics at /metrics) with a bearer token and Host-header (DNS-rebinding) checks.

Auth rule: a token (OPS_MCP_HTTP_TOKEN) is required, unless the server is bound to a
loopback address AND auth was explicitly disabled (--no-auth / OPS_MCP_HTTP_AUTH_DISABLED).
"""

from __future__ import annotations

import hmac
import sys
from typing import Any

from ops_mcp.settings import Settings


class BearerAuth:
    """ASGI middleware: every request except GET /health needs `Authorization: Bearer <token>`."""

    def __init__(self, app: Any, token: str):
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") == "/health":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        auth = headers.get(b"authorization", b"")
        scheme, _, supplied = auth.partition(b" ")
        if scheme.lower() == b"bearer" and supplied and hmac.compare_digest(supplied.strip(), self.token):
            return await self.app(scope, receive, send)
        body = b'{"error":"unauthorized","detail":"send Authorization: Bearer <OPS_MCP_HTTP_TOKEN>"}'
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b'Bearer realm="ops-mcp"'),
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

    if not settings.http_token and not (settings.http_auth_disabled and settings.loopback):
        raise SystemExit("ops-mcp: HTTP needs a bearer token: set OPS_MCP_HTTP_TOKEN. (Only on a loopback bind may auth be turned off, with --no-auth.)")

    if not settings.http_token and "*" in settings.allowed_hosts:
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

    hosts = allowed_hosts(settings)
    origins = [f"http://{h}" for h in hosts] + [f"https://{h}" for h in hosts]
    # OPS_MCP_ALLOWED_HOSTS=* turns the Host/Origin check off (the bearer token still applies).
    check = "*" not in settings.allowed_hosts
    security = TransportSecuritySettings(enable_dns_rebinding_protection=check, allowed_hosts=hosts, allowed_origins=origins)
    app = mcp.streamable_http_app(streamable_http_path="/mcp", transport_security=security, host=settings.host)
    if settings.http_token:
        app = BearerAuth(app, settings.http_token)
    return app


def serve_http(mcp: Any, settings: Settings) -> int:
    import uvicorn

    app = build_http_app(mcp, settings)
    auth = "bearer token" if settings.http_token else "NO AUTH (loopback only)"
    print(f"ops-mcp: streamable HTTP on http://{settings.host}:{settings.port}/mcp ({auth})", file=sys.stderr)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0
