"""Running the system: the model packs installed and the database's schema revision.

Some commands stay CLI-only, run by an operator with a shell on the server:

- ``models register`` installs a pack's ONNX files from the server's own disk into the home,
  code every worker then runs: an act for the operator who put them there, not a request.
- ``db upgrade`` migrates the schema, which a running service must not do under its own
  workers (and a service with an outdated schema does not start).
- ``audit witness`` is a party outside the log's server with its own key and memory; run by
  the server it watches, it would witness nothing.
- ``init`` makes the home, the database and the signing key before there is a service to ask.
- ``eval identification`` reads a labelled dataset from disk and runs for minutes on every
  core: a benchmark for an operator, not a request a worker should hold.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from facetrail.edge.deps import Context, Me
from facetrail.services import database
from facetrail.services.galleries import packs
from facetrail.services.galleries.packs import PackStatus

router = APIRouter(tags=["admin"])


@router.get(
    "/models",
    response_model=list[PackStatus],
    summary="Model packs: licences, file hashes, installed (gallery admins, system admins)",
)
def list_models(
    ctx: Context,
    me: Me,
    check: Annotated[bool, Query(description="verify the sha256 of each file")] = True,
) -> list[PackStatus]:
    return packs.list_pack_status_for(ctx, me, check_hash=check)


class SchemaInfo(BaseModel):
    """As ``facetrail db status --json`` prints it."""

    #: the revision the database is stamped with; None: made before migrations
    current: str | None
    #: the revision this facetrail needs
    head: str
    up_to_date: bool


@router.get(
    "/database",
    response_model=SchemaInfo,
    summary="The schema revision: current, needed, up to date (system admins)",
)
def database_status(ctx: Context, me: Me) -> SchemaInfo:
    found = database.schema_status_for(ctx, me)
    return SchemaInfo(current=found.current, head=found.head, up_to_date=found.up_to_date)
