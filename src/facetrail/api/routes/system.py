"""Liveness and readiness for load balancers (no sign-in), and Prometheus metrics for a system
admin's token (``services.oversight.monitoring``): counted by route, they show when searches are
made."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy.exc import SQLAlchemyError

from facetrail.api.metrics import exposition
from facetrail.edge.deps import Context, Me
from facetrail.edge.problems import ERROR_RESPONSES, problem
from facetrail.services.database import served_schema_status
from facetrail.services.oversight.monitoring import check_metrics_reader

router = APIRouter(tags=["system"])


@router.get("/health", summary="The process answers")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="The database answers, its schema is current and the model packs are loaded",
    response_model=None,
    responses={503: ERROR_RESPONSES[503]},
)
def ready(request: Request, ctx: Context) -> dict[str, str] | Response:
    """A worker answers only once it has loaded its model packs (``api.app.warm_pipelines``);
    the database is asked through the worker's own pool (one connection, no new engine)."""
    try:
        status = served_schema_status(ctx)
    except SQLAlchemyError as exc:
        return problem(503, "not_ready", f"database not reachable ({type(exc).__name__})")
    if not status.up_to_date:
        detail = (
            f"schema at {status.current}, this code needs {status.head}: run 'facetrail db upgrade'"
        )
        return problem(503, "schema_outdated", detail)
    failed: dict[str, str] = getattr(request.app.state, "model_problems", {})
    if failed:
        named = "; ".join(f"{pack}: {why}" for pack, why in sorted(failed.items()))
        return problem(503, "models_unavailable", f"model packs not loaded ({named})")
    return {"status": "ready", "schema": status.head}


@router.get(
    "/metrics",
    summary="Prometheus metrics of this worker (a system admin's token)",
    response_class=Response,
    responses={status: ERROR_RESPONSES[status] for status in (401, 403)},
)
def metrics(ctx: Context, me: Me) -> Response:
    """Scrape with a system admin's API token (``Authorization: Bearer``; each scrape is an
    audited token use)."""
    check_metrics_reader(ctx, me)
    return Response(exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")
