"""Finding an erasure request's person in every gallery, once a second person approved it: the
faces at the strict threshold, and the request photos' templates (kept for the opt-out list
only when no gallery face of the person is confirmed)."""

from __future__ import annotations

import base64
import json
from typing import Any

from facetrail.services.context import AppContext
from facetrail.services.searching._blocklist import ERASURE_MATCH_FMR
from facetrail.services.searching._matching import probe_template, search_gallery
from facetrail.services.searching.search_model import ProbeImage
from facetrail.store.schema import ErasureRow, Gallery

__all__ = ["find_person", "photo_templates", "request_photos"]

#: Candidates looked at per gallery and photo.
_TOP = 50


def request_photos(ctx: AppContext, row: ErasureRow) -> tuple[ProbeImage, ...]:
    """The request's photos, as kept in the blob store while it runs."""
    return tuple(
        ProbeImage(f"photo-{n}", ctx.blobs.get(sha))
        for n, sha in enumerate(json.loads(row.photos or "[]"), start=1)
    )


def find_person(
    ctx: AppContext, galleries: list[Gallery], photos: tuple[ProbeImage, ...]
) -> dict[int, dict[str, Any]]:
    """template id -> the match, for every gallery face of the person at the threshold."""
    found: dict[int, dict[str, Any]] = {}
    for gallery in galleries:
        for photo in photos:
            run = search_gallery(ctx, gallery.name, (photo,), _TOP, None)
            for c in run.candidates:
                fmr = c.false_match.fmr if c.false_match is not None else 1.0
                if fmr > ERASURE_MATCH_FMR:
                    continue
                best = found.get(c.template_id)
                if best is None or c.score > best["score"]:
                    found[c.template_id] = {
                        "gallery": gallery.name,
                        "template_id": c.template_id,
                        "image_sha256": c.image_sha256,
                        "face_index": c.face_index,
                        "score": c.score,
                        "fmr": fmr,
                    }
    return found


def photo_templates(
    ctx: AppContext, galleries: list[Gallery], photos: tuple[ProbeImage, ...]
) -> dict[str, list[str]]:
    """pack -> the photos' templates (base64 float32), for every pack a gallery uses."""
    packs = sorted({g.pack for g in galleries} | {ctx.settings.default_pack})
    return {
        pack: [
            base64.b64encode(probe_template(ctx, pack, (p,), None)[0].tobytes()).decode()
            for p in photos
        ]
        for pack in packs
    }
