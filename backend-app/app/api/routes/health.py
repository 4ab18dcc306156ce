import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app.core.db import schema_heads, schema_revisions

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get("/health", summary="The process is up")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Can serve: the database answers and its schema is at the migrations' newest revision",
    responses={503: {"description": "Database unreachable, or its schema not migrated yet"}},
)
async def ready(request: Request) -> JSONResponse:
    try:
        current = await run_in_threadpool(schema_revisions, request.app.state.engine)
        expected = await run_in_threadpool(schema_heads)
    except Exception as exc:  # any failure to read the database means "not ready", never a 500
        log.warning("readiness check failed", extra={"error": type(exc).__name__})
        return JSONResponse({"status": "unavailable", "database": type(exc).__name__}, status_code=503)
    if current != expected:
        at = ", ".join(sorted(current)) or "none"
        log.warning("readiness check: schema not migrated", extra={"schema": at, "expected": ", ".join(sorted(expected))})
        return JSONResponse(
            {"status": "unavailable", "database": "ok", "schema": f"at {at}, expected {', '.join(sorted(expected))}"},
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "ok"})
