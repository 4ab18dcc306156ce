"""The task MCP server over streamable HTTP: /mcp (bearer JWT required) and GET /health."""

import logging

import anyio.to_thread
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from app.core.config import Settings
from app.core.security import AuthError, AuthUnavailable, TokenVerifier, not_configured
from app.task_mcp.server import build_task_mcp

log = logging.getLogger(__name__)


class BetterAuthTokenVerifier:
    """Adapts the backend's JWT verification to the MCP SDK's TokenVerifier protocol."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            principal = await anyio.to_thread.run_sync(self.verifier.verify, token)
        except (AuthError, AuthUnavailable) as exc:
            log.info("MCP bearer token rejected", extra={"reason": str(exc)})
            return None
        return AccessToken(
            token=token,
            client_id="better-auth",
            scopes=[],
            subject=principal.user_id,
            expires_at=principal.claims.get("exp"),
            claims={"iss": principal.claims.get("iss")},
        )


def create_http_app(settings: Settings, engine: Engine, *, host: str = "127.0.0.1") -> Starlette:
    verifier = TokenVerifier(settings)
    if not verifier.configured:
        log.warning("%s: every MCP request will be refused", not_configured(settings))
    mcp = build_task_mcp(
        engine,
        token_verifier=BetterAuthTokenVerifier(verifier),
        auth=AuthSettings(issuer_url=settings.expected_issuer or "http://localhost:3000", resource_server_url=None),
    )

    @mcp.custom_route("/health", methods=["GET"], include_in_schema=False)
    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    # Stateless JSON responses: any replica can serve any request, nothing to resume.
    return mcp.streamable_http_app(streamable_http_path="/mcp", stateless_http=True, json_response=True, host=host)
