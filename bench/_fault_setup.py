"""The installation ``faults.py`` serves, made through the services: a gallery of real lfw-dev
faces (``_load_gallery.py``) topped up with synthetic templates to ``--faces``; an agency whose
investigators each hold an API token (``_load_organisation.py``); a system admin's token for
ingestion over the API; the search requests the clients send; and, for the disk phase, a
folder of photos not yet ingested and a probe never seen."""

from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass
from pathlib import Path

from _fault_load import Form
from _load_gallery import (
    GALLERY,
    REAL_SOURCE,
    add_synthetic_faces,
    ingest_real_faces,
    lfw_photos,
    rebuild_index,
)
from _load_organisation import CASE, JUSTIFICATION, OFFENSE, PASSWORD, TOTP_STEP, searching_agency
from _load_service import search_form
from facetrail.governance.credentials import Principal, totp_now
from facetrail.services import accounts
from facetrail.services.accounts import NewAccount
from facetrail.services.authorization import utc_now
from facetrail.services.context import AppContext
from facetrail.services.signin.authentication import issue_token, login

#: Photos held back from the gallery, ingested over the API in the disk phase.
NEW_PHOTOS = 4


@dataclass(frozen=True)
class Prepared:
    tokens: list[str]
    forms: list[Form]
    admin_token: str
    gallery: str
    source: str
    new_photos: Path
    new_probe: Form
    faces: int


def prepare(ctx: AppContext, args: argparse.Namespace, tmp: Path) -> Prepared:
    photos, probes = lfw_photos(args.dataset, args.real_images + NEW_PHOTOS + 1, args.clients)
    kept, held = photos[: args.real_images], photos[args.real_images :]
    admin, admin_token = _admin(ctx)
    _images, faces, _s = ingest_real_faces(
        ctx, admin, kept, tmp / "photos", args.pack, lambda _more, _total: None
    )
    if args.faces > faces:
        add_synthetic_faces(ctx, args.faces - faces, 0, lambda _n: None)
    rebuild_index(ctx, admin)
    tokens = searching_agency(ctx, admin, GALLERY, args.clients, lambda _n: None)
    new_photos = tmp / "imports" / "new"
    new_photos.mkdir(parents=True)
    for photo in held[:-1]:
        shutil.copy(photo, new_photos / photo.name)
    forms_dir = tmp / "forms"
    forms_dir.mkdir()
    forms = [_form(probe, forms_dir / f"search-{n:02d}.bin") for n, probe in enumerate(probes)]
    new_probe = _form(held[-1], forms_dir / "new-probe.bin")
    return Prepared(
        tokens,
        forms,
        admin_token,
        GALLERY,
        REAL_SOURCE,
        new_photos,
        new_probe,
        max(args.faces, faces),
    )


def _form(probe: Path, path: Path) -> Form:
    fields = {
        "case_number": CASE,
        "offense": OFFENSE,
        "justification": JUSTIFICATION,
        "attest": "true",
        "galleries": GALLERY,
    }
    body, content_type = search_form(probe, fields)
    path.write_bytes(body)
    return path, content_type


def _admin(ctx: AppContext) -> tuple[Principal, str]:
    """``facetrail init``'s system admin, signed in, and a named API token of theirs."""
    enrolment = accounts.init_system(ctx, NewAccount("root", "root@ops.example", PASSWORD, "ops"))
    secret = enrolment.totp_secret
    assert secret is not None
    now = utc_now()
    admin = login(ctx, "root", PASSWORD, totp_now(secret, at=now.timestamp()), now=now)
    later = now + TOTP_STEP
    token = issue_token(
        ctx,
        admin.principal,
        "faults-benchmark",
        days=1,
        password=PASSWORD,
        code=totp_now(secret, at=later.timestamp()),
        now=later,
    ).token
    return admin.principal, token
