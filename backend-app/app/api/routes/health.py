import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from app.core.db import ping

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get("/health", summary="The process is up")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="The database answers", responses={503: {"description": "Database unreachable"}})
async def ready(request: Request) -> JSONResponse:
    try:
        await run_in_threadpool(ping, request.app.state.engine)
    except SQLAlchemyError as exc:
        log.warning("readiness check failed", extra={"error": type(exc).__name__})
        return JSONResponse({"status": "unavailable", "database": type(exc).__name__}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
