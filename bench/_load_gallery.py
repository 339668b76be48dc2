"""The gallery of ``load_search.py``: real lfw-dev faces ingested through the product, then
synthetic templates drawn from a Gaussian fitted to those real templates, bulk-inserted
through the store under a source of their own, then the index rebuilt through
``services.indexing``.

The synthetic rows are a benchmark fixture in a throwaway database: they have no blob and no
``gallery.ingest.batch`` entry (no image was analysed), but a search sees them as it sees any
template: rows in ``templates`` joined to ``faces``, ``images`` and their source.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import Connection, func, insert, select

from facetrail.governance.credentials import Principal
from facetrail.pipeline.faces import PLAIN
from facetrail.services.context import AppContext
from facetrail.services.galleries import admin as galleries
from facetrail.services.galleries import indexing
from facetrail.services.galleries.admin import get_gallery_row, get_source_row
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.store.schema import Face, Image, TemplateRow

GALLERY = "bench"
REAL_SOURCE = "lfw"
SYNTHETIC_SOURCE = "synthetic"
#: Shrinkage of the fitted covariance towards a scaled identity. A few hundred templates span
#: at most a few hundred of the 512 dimensions: draws from their (singular) covariance would
#: all lie in that span, closer to each other than faces of different people are.
SHRINKAGE = 0.1
#: Rows per bulk-insert transaction.
BATCH = 5000

#: (how many more are done) -> None: advances a progress bar
Advance = Callable[[int], None]


@dataclass(frozen=True)
class BuiltGallery:
    name: str
    real_images: int
    real_faces: int
    synthetic_faces: int
    ingest_seconds: float
    synthetic_seconds: float
    index_seconds: float
    index_entries: int
    index: str

    @property
    def faces(self) -> int:
        return self.real_faces + self.synthetic_faces


def lfw_photos(dataset: Path, count: int, probes: int) -> tuple[list[Path], list[Path]]:
    """The gallery's photos: the first photo of each of the first ``count`` identities, in
    byte-wise order as the lfw-dev protocol enrols them; and, as mated probes, the second
    photo of the first ``probes`` of those identities that have one."""
    people = sorted(p for p in dataset.iterdir() if p.is_dir())[:count]
    enrolled: list[Path] = []
    mated: list[Path] = []
    for person in people:
        photos = sorted(person.glob("*.jpg"))
        enrolled.append(photos[0])
        if len(photos) > 1 and len(mated) < probes:
            mated.append(photos[1])
    if not mated:
        raise SystemExit(f"no identity among the first {count} of {dataset} has a second photo")
    return enrolled, mated


def ingest_real_faces(
    ctx: AppContext,
    admin: Principal,
    photos: list[Path],
    folder: Path,
    pack: str,
    progress: Callable[[int, int], None],
) -> tuple[int, int, float]:
    """Create the gallery with its two sources and ingest ``photos`` through the product (a
    copy of them in ``folder``); ``progress`` gets (how many more are done, of how many) ->
    images ingested, faces, seconds."""
    galleries.create_gallery(ctx, admin, galleries.CreateGalleryRequest(GALLERY, pack))
    for name, kind, basis, by in (
        (REAL_SOURCE, "news photographs (LFW)", "research evaluation", "UMass Amherst"),
        (SYNTHETIC_SOURCE, "synthetic templates", "load benchmark", "bench/load_search.py"),
    ):
        request = galleries.CreateSourceRequest(GALLERY, name, kind, basis, by, "2007-10-01", 30)
        galleries.add_source(ctx, admin, request)
    folder.mkdir(parents=True)
    for photo in photos:
        shutil.copy(photo, folder / photo.name)
    summary = ingest(ctx, admin, IngestRequest(folder, GALLERY, REAL_SOURCE), progress)
    return summary.images_ingested, summary.faces, summary.seconds


def fitted_gaussian(real: np.ndarray) -> Callable[[np.random.Generator, int], np.ndarray]:
    """A sampler of L2-normalised templates from the Gaussian (mean, shrunk covariance) of
    the ``real`` templates (rows)."""
    dim = real.shape[1]
    mean = real.mean(axis=0)
    covariance = np.cov(real, rowvar=False)
    covariance = (1 - SHRINKAGE) * covariance + SHRINKAGE * np.trace(covariance) / dim * np.eye(dim)
    values, vectors = np.linalg.eigh(covariance)
    root = vectors * np.sqrt(np.clip(values, 0.0, None))

    def draw(rng: np.random.Generator, count: int) -> np.ndarray:
        drawn = mean + rng.standard_normal((count, dim)) @ root.T
        drawn /= np.linalg.norm(drawn, axis=1, keepdims=True)
        templates: np.ndarray = drawn.astype(np.float32)
        return templates

    return draw


def add_synthetic_faces(ctx: AppContext, count: int, seed: int, advance: Advance) -> float:
    """Insert ``count`` synthetic images, faces and templates into the gallery, ``BATCH``
    rows a transaction (as ingest writes its batches); their face geometry is copied from the
    real faces. -> seconds."""
    started = time.perf_counter()
    with ctx.sessions() as session:
        gallery = get_gallery_row(session, GALLERY)
        source_id = get_source_row(session, gallery, SYNTHETIC_SOURCE).id
        vectors = session.scalars(
            select(TemplateRow.vector).where(
                TemplateRow.gallery_id == gallery.id,
                TemplateRow.pack == gallery.pack,
                TemplateRow.kind == PLAIN,
            )
        ).all()
        geometry = [
            {column: getattr(face, column) for column in _GEOMETRY}
            for face in session.scalars(
                select(Face)
                .join(Image, Face.image_id == Image.id)
                .where(Image.gallery_id == gallery.id)
            )
        ]
        gallery_id, pack = gallery.id, gallery.pack
    real = np.frombuffer(b"".join(vectors), dtype=np.float32).reshape(len(vectors), -1)
    if len(real) < 2:
        raise SystemExit("fewer than two real templates: ingest more photos (--real-images)")
    draw = fitted_gaussian(real)
    rng = np.random.default_rng(seed)
    for start in range(0, count, BATCH):
        numbers = range(start, min(start + BATCH, count))
        drawn = draw(rng, len(numbers))
        with ctx.transaction() as session:
            _insert_batch(
                session.connection(), gallery_id, source_id, pack, numbers, drawn, geometry
            )
        advance(len(numbers))
    return time.perf_counter() - started


def _insert_batch(
    connection: Connection,
    gallery_id: int,
    source_id: int,
    pack: str,
    numbers: range,
    templates: np.ndarray,
    geometry: list[dict[str, object]],
) -> None:
    """Images, faces, templates: three plain executemany inserts (Core: the ORM's bulk path
    costs more per row, and RETURNING makes psycopg parse one huge statement per page), each
    new row's id read back after. The transaction holds the write lock, so the rows above the
    highest id before the insert are this batch's."""
    names = [f"synthetic/{n:07d}.jpg" for n in numbers]
    last_image = connection.scalar(select(func.coalesce(func.max(Image.id), 0)))
    connection.execute(
        insert(Image),
        [
            _image_row(gallery_id, source_id, n, name)
            for n, name in zip(numbers, names, strict=True)
        ],
    )
    new_images = select(Image.original_name, Image.id).where(Image.id > last_image)
    image_ids = {name: image_id for name, image_id in connection.execute(new_images)}
    last_face = connection.scalar(select(func.coalesce(func.max(Face.id), 0)))
    connection.execute(
        insert(Face),
        [
            {"image_id": image_ids[name], "face_index": 0, **geometry[n % len(geometry)]}
            for n, name in zip(numbers, names, strict=True)
        ],
    )
    new_faces = select(Face.image_id, Face.id).where(Face.id > last_face)
    face_ids = {image_id: face_id for image_id, face_id in connection.execute(new_faces)}
    connection.execute(
        insert(TemplateRow),
        [
            {
                "face_id": face_ids[image_ids[name]],
                "gallery_id": gallery_id,
                "pack": pack,
                "kind": PLAIN,
                "dim": templates.shape[1],
                "vector": vector.tobytes(),
            }
            for name, vector in zip(names, templates, strict=True)
        ],
    )


_GEOMETRY = (
    "x1",
    "y1",
    "x2",
    "y2",
    "landmarks",
    "detector_score",
    "inter_eye_px",
    "blur",
    "yaw_deg",
    "roll_deg",
)


def _image_row(gallery_id: int, source_id: int, number: int, name: str) -> dict[str, object]:
    sha = hashlib.sha256(f"facetrail load benchmark, synthetic face {number}".encode()).hexdigest()
    return {
        "gallery_id": gallery_id,
        "source_id": source_id,
        "sha256": sha,
        "original_name": name,
        "subject_ref": f"synthetic-{number}",
        "width": 150,
        "height": 150,
        "format": "jpeg",
        "face_count": 1,
    }


def rebuild_index(ctx: AppContext, admin: Principal) -> tuple[int, str, float]:
    """The gallery's index recreated from the database (audited as ``index.rebuild``) ->
    entries, its description, seconds."""
    started = time.perf_counter()
    report = indexing.rebuild_index(ctx, admin, GALLERY)
    return report.entries, report.description, time.perf_counter() - started
