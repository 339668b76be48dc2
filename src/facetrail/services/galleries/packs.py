"""Model pack listing and registration for the CLI/API.

Authorisation and audit: the CLI's listing and registration run as the operator with a shell
(registering a pack becomes a system-admin, audited action in issue 2/6); the API's listing
(``list_pack_status_for``) is for gallery admins and system admins, a refusal audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from facetrail.config import Settings
from facetrail.errors import FacetrailError
from facetrail.governance.authority import Permission
from facetrail.governance.credentials import Principal
from facetrail.models.registry import FileStatus, file_status, list_packs, register_pack
from facetrail.services.context import AppContext
from facetrail.services.unit_of_work import require
from facetrail.store.schema import Gallery


@dataclass(frozen=True)
class PackStatus:
    name: str
    description: str
    licence: str
    licence_note: str
    embedding_dim: int
    calibrated: bool
    installed: bool
    files: list[FileStatus]


def list_pack_status(settings: Settings, *, check_hash: bool = True) -> list[PackStatus]:
    out = []
    for pack in list_packs(settings.home):
        files = file_status(pack, check_hash=check_hash)
        m = pack.manifest
        out.append(
            PackStatus(
                m.name,
                m.description,
                m.licence,
                m.licence_note,
                m.embedding_dim,
                m.calibration is not None,
                all(f.installed and f.sha256_ok is not False for f in files),
                files,
            )
        )
    return out


def list_pack_status_for(
    ctx: AppContext, actor: Principal, *, check_hash: bool = True
) -> list[PackStatus]:
    """``list_pack_status`` for a signed-in person (the API): gallery admins, who choose a
    gallery's pack, and system admins. A refusal is ``models.list.refused``; reading is not
    audited (no person's data is in it)."""
    require(ctx, actor, "models.list", "models", Permission.LIST_MODELS)
    return list_pack_status(ctx.settings, check_hash=check_hash)


def register(settings: Settings, directory: Path) -> PackStatus:
    pack = register_pack(directory, settings.home)
    return next(p for p in list_pack_status(settings) if p.name == pack.name)


def warm_pipelines(ctx: AppContext) -> dict[str, str]:
    """Load the model pack of every gallery, and the default pack, into ``ctx`` (a served
    worker does it before it takes requests). Returns {pack: why it could not be loaded}."""
    with ctx.sessions() as session:
        packs = set(session.scalars(select(Gallery.pack).distinct()))
    problems = {}
    for pack in sorted(packs | {ctx.settings.default_pack}):
        try:
            ctx.pipeline(pack)
        except (FacetrailError, OSError) as exc:
            problems[pack] = str(exc)
    return problems
