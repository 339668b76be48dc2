"""Photos an ingest refuses after reading them: those showing someone erased on request who
asked not to be enrolled again (the blocklist), and the blobs of refused photos, deleted
unless a stored image holds them. Private to ``ingest``."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from facetrail.pipeline.batch import ImageResult
from facetrail.pipeline.faces import PLAIN
from facetrail.services.context import AppContext
from facetrail.services.searching._blocklist import blocked, blocklist_of
from facetrail.store.schema import Gallery, Image

__all__ = ["BLOCKLISTED", "blocklisted", "drop_blobs"]


BLOCKLISTED = "a person in this photo was erased on request and asked not to be enrolled again"


def blocklisted(ctx: AppContext, gallery: Gallery, good: list[ImageResult]) -> list[ImageResult]:
    """The results showing a person on the blocklist (erased, with consent to be kept out)."""
    with ctx.sessions() as session:
        blocklist, _ = blocklist_of(ctx, session, gallery)
    if blocklist.size == 0:
        return []
    out = []
    for r in good:
        vectors = [
            t.vector
            for f in r.faces
            for kind, t in f.templates.items()
            if kind == PLAIN and t.pack == gallery.pack
        ]
        if vectors and blocked(ctx, gallery.pack, blocklist, np.stack(vectors)).any():
            out.append(r)
    return out


def drop_blobs(ctx: AppContext, hashes: list[str]) -> None:
    """Delete the blobs of refused photos that no stored image holds."""
    if not hashes:
        return
    with ctx.sessions() as session:
        kept = set(session.scalars(select(Image.sha256).where(Image.sha256.in_(hashes))))
    for sha in set(hashes) - kept:
        ctx.blobs.delete(sha)
