"""Liveness, readiness and Prometheus metrics: for load balancers and monitoring, no sign-in."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from facetrail.api.deps import Context
from facetrail.api.metrics import exposition
from facetrail.api.problems import ERROR_RESPONSES, problem
from facetrail.errors import FacetrailError
from facetrail.services.database import schema_status

router = APIRouter(tags=["system"])


@router.get("/health", summary="The process answers")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="The database answers and its schema is current",
    response_model=None,
    responses={503: ERROR_RESPONSES[503]},
)
def ready(ctx: Context) -> dict[str, str] | Response:
    try:
        with ctx.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        status = schema_status(ctx.settings)
    except (SQLAlchemyError, FacetrailError) as exc:
        return problem(503, "not_ready", f"database not reachable ({type(exc).__name__})")
    if not status.up_to_date:
        detail = (
            f"schema at {status.current}, this code needs {status.head}: run 'facetrail db upgrade'"
        )
        return problem(503, "schema_outdated", detail)
    return {"status": "ready", "schema": status.head}


@router.get("/metrics", summary="Prometheus metrics of this worker", response_class=Response)
def metrics() -> Response:
    return Response(exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")
