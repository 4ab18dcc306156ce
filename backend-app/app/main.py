"""The ASGI app: `uvicorn app.main:app` from backend-app/."""

import logging
import time
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.routes import chat, health, tasks
from app.core.config import Settings
from app.core.db import make_engine, migrate
from app.core.logging import configure_logging, request_id_var
from app.core.security import TokenVerifier, not_configured
from app.task_mcp import build_task_mcp

log = logging.getLogger("app")


class RequestContextMiddleware:
    """Gives each request an id (X-Request-ID in and out) and logs one line when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status_code = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            # The path only: query strings and headers (tokens) are never logged.
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            request_id_var.reset(token)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level)
    engine = make_engine(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.should_migrate_on_start:
            await run_in_threadpool(migrate, settings)
        if not app.state.token_verifier.configured:
            log.warning("%s: every /api request will be refused", not_configured(settings))
        log.info(
            "backend ready",
            extra={
                "database": engine.dialect.name,
                "chat": "anthropic" if settings.anthropic_api_key else "offline",
                "task_mcp": settings.task_mcp_url or "in-process",
                "chat_ops": ("off" if not settings.ops_mcp_url else "read-write" if settings.ops_chat_allow_writes else "read-only"),
            },
        )
        if settings.ops_mcp_url and not settings.ops_mcp_token:
            log.warning("OPS_MCP_URL is set without OPS_MCP_TOKEN: the ops MCP server will refuse the backend unless it runs with --no-auth on loopback")
        yield
        engine.dispose()

    app = FastAPI(
        title="Todo Chatbot API",
        version="0.1.0",
        lifespan=lifespan,
        description="Tasks, chat and conversations for the Todo Chatbot. Every /api route needs a Better Auth JWT.",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.token_verifier = TokenVerifier(settings)
    app.state.task_mcp = build_task_mcp(engine)  # used in process when TASK_MCP_URL is unset

    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
    )
    app.add_middleware(RequestContextMiddleware)
    app.include_router(health.router)
    app.include_router(tasks.router)
    app.include_router(chat.router)
    return app


app = create_app()
