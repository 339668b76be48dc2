"""What a search's re-scoring reads from the database, before and after it read only the hits
kept in full (issue 23: at a million faces the short list of 200 re-scored from the store is a
large part of what a governed search costs over a 1,000-face gallery's).

A fresh database of each backend (a new one on the local PostgreSQL, a SQLite file) made from
facetrail's models holds ``--faces`` templates of one gallery (512-d float32), each with its
face, image and source. Each round draws a short list of ``--short-list`` random template ids
and times, on each backend, interleaved (so both reads see the same machine):

- before: the full candidate rows (template joined with face, image and source) of the whole
  short list, through the ORM, as ``search_gallery`` read them to re-score it;
- now: the short list's vectors alone in one Core statement (``short_list_vectors``), then
  the full rows of the ``--top`` kept (``candidate_rows``), each held to the bytes scored.

Prints the medians, their ratio per backend, and ``--json FILE``.

    .venv/bin/python bench/short_list_reads.py [--faces 100000] [--short-list 200] [--top 50]
        [--reads 300] [--backends postgresql,sqlite]

``make test`` runs it at a tiny size so it cannot rot; only full-size figures mean anything.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from sqlalchemy import Engine, Table, bindparam, insert, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from facetrail.governance.seal_checks import read_columns  # noqa: E402
from facetrail.pipeline.faces import PLAIN  # noqa: E402
from facetrail.services.galleries._index_store import (  # noqa: E402
    short_list_vectors,
    template_params,
)
from facetrail.services.searching._matching import (  # noqa: E402
    _CandidateRows,
    candidate_rows,
)
from facetrail.store.db import make_engine  # noqa: E402
from facetrail.store.schema import Face, Gallery, Image, Source, TemplateRow  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
DIM = 512
PACK = "arcface-mbf"
#: Rows per insert transaction while filling.
BATCH = 5000

#: The candidate rows as ``search_gallery`` read them for the whole short list before: the
#: same columns, through the ORM (its attributes in the joins and the filter).
_ROWS_BEFORE = (
    select(
        *(
            c
            for t in (TemplateRow, Face, Image, Source)
            for c in read_columns(t.__table__)  # type: ignore[arg-type]
        )
    )
    .join(Face, TemplateRow.face_id == Face.id)
    .join(Image, Face.image_id == Image.id)
    .join(Source, Image.source_id == Source.id)
    .where(
        TemplateRow.gallery_id == bindparam("gallery_id"),
        TemplateRow.pack == bindparam("pack"),
        TemplateRow.kind == PLAIN,
        TemplateRow.id.in_(bindparam("ids", expanding=True)),
    )
)


def read_before(session: Session, gallery: Gallery, ids: list[int]) -> np.ndarray:
    """The short list's full rows through the ORM, each converted, then its vectors checked
    one by one and stacked (``search_gallery`` and ``vectors_of`` before)."""
    read: dict[int, _CandidateRows] = {}
    for row in session.execute(_ROWS_BEFORE, {**template_params(gallery), "ids": ids}):
        found = _CandidateRows.of(row)
        read[found.template_id] = found
    rows = [(t, read[t].vector) for t in ids if t in read]
    for tid, blob in rows:
        assert len(blob) == DIM * 4, tid
    return np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), DIM)


def read_now(session: Session, gallery: Gallery, ids: list[int], top: int) -> np.ndarray:
    """The short list's vectors in one Core statement, then the full rows of the ``top`` kept,
    each held to the bytes scored (``search_index`` and ``search_gallery`` now)."""
    found, vectors = short_list_vectors(session, gallery, ids, DIM)
    by_id = dict(zip(found.tolist(), vectors, strict=True))
    kept = ids[:top]  # which are kept is the query's business: any ``top`` read alike
    rows = candidate_rows(session, gallery, kept)
    assert all(rows[t].vector == by_id[t].tobytes() for t in kept)
    return vectors


def _fill(engine: Engine, faces: int) -> None:
    """One gallery with one source, and ``faces`` images, faces and templates (unit vectors,
    drawn the same on every backend), ``BATCH`` rows a transaction."""
    rng = np.random.default_rng(0)
    tables: list[Table] = [
        t.__table__  # type: ignore[misc]
        for t in (Image, Face, TemplateRow)
    ]
    with engine.begin() as c:
        c.execute(insert(Gallery), [{"id": 1, "name": "bench", "pack": PACK}])
        c.execute(
            insert(Source),
            [
                {
                    "id": 1,
                    "gallery_id": 1,
                    "name": "synthetic",
                    "kind": "synthetic templates",
                    "legal_basis": "benchmark",
                    "supplied_by": "bench/short_list_reads.py",
                    "collected_at": "2026-12-07",
                    "retention_days": 30,
                }
            ],
        )
    for start in range(1, faces + 1, BATCH):
        numbers = range(start, min(start + BATCH, faces + 1))
        vectors = rng.standard_normal((len(numbers), DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        with engine.begin() as c:
            for table, rows in zip(tables, _rows(numbers, vectors), strict=True):
                c.execute(insert(table), rows)
    with engine.begin() as c:  # the planner's statistics, as a live database has them
        c.execute(text("ANALYZE"))


def _rows(numbers: range, vectors: np.ndarray) -> Iterator[list[dict[str, Any]]]:
    """The images', faces' and templates' rows of ``numbers`` (one of each a number)."""
    yield [
        {
            "id": n,
            "gallery_id": 1,
            "source_id": 1,
            "sha256": f"{n:064x}",
            "original_name": f"synthetic/{n:07d}.jpg",
            "subject_ref": f"person-{n}",
            "width": 640,
            "height": 480,
            "format": "JPEG",
            "face_count": 1,
        }
        for n in numbers
    ]
    geometry = {"x1": 10.0, "y1": 20.0, "x2": 110.0, "y2": 140.0, "landmarks": "[]"}
    quality = {"detector_score": 0.9, "inter_eye_px": 40.0, "blur": 200.0}
    yield [
        {"id": n, "image_id": n, "face_index": 0, **geometry, **quality}
        | {"yaw_deg": 0.0, "roll_deg": 0.0}
        for n in numbers
    ]
    yield [
        {
            "id": n,
            "face_id": n,
            "gallery_id": 1,
            "pack": PACK,
            "kind": PLAIN,
            "dim": DIM,
            "vector": vector.tobytes(),
        }
        for n, vector in zip(numbers, vectors, strict=True)
    ]


@contextmanager
def _database(backend: str, folder: Path) -> Iterator[str]:
    """A new, empty database of ``backend``: its URL, dropped after."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'bench.sqlite'}"
        return
    name = f"facetrail_bench_shortlist_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


Read = Callable[[Session, Gallery, list[int]], np.ndarray]


def _measure(engines: dict[str, Engine], args: argparse.Namespace) -> dict[str, Any]:
    gallery = Gallery(id=1, name="bench", pack=PACK)
    reads: dict[str, Read] = {
        "before": read_before,
        "now": lambda s, g, ids: read_now(s, g, ids, args.top),
    }
    times: dict[tuple[str, str], list[float]] = {(b, r): [] for b in engines for r in reads}
    sessions = {backend: Session(engine) for backend, engine in engines.items()}
    rng = random.Random(5)
    try:
        for round_ in range(args.reads):  # interleaved: every read sees the same machine
            ids = rng.sample(range(1, args.faces + 1), args.short_list)
            order = list(reads) if round_ % 2 == 0 else list(reversed(reads))
            for backend, session in sessions.items():
                for name in order:
                    started = time.perf_counter()
                    vectors = reads[name](session, gallery, ids)
                    times[(backend, name)].append(time.perf_counter() - started)
                    assert len(vectors) == args.short_list
    finally:
        for session in sessions.values():
            session.close()
    figures: dict[str, Any] = {
        "faces": args.faces,
        "short_list": args.short_list,
        "top": args.top,
        "reads_each": args.reads,
    }
    for backend in engines:
        before = statistics.median(times[(backend, "before")]) * 1000
        now = statistics.median(times[(backend, "now")]) * 1000
        figures[backend] = {
            "before_ms": round(before, 3),
            "now_ms": round(now, 3),
            "before_over_now": round(before / now, 2),
        }
        print(
            f"{backend}: {args.short_list} of {args.faces:,} templates re-scored, {args.top} "
            f"kept: {before:.3f} ms before (all full rows), {now:.3f} ms now "
            f"({figures[backend]['before_over_now']}x)",
            file=sys.stderr,
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--short-list", type=int, default=200)
    parser.add_argument("--top", type=int, default=50)
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    backends = args.backends.split(",")
    if not set(backends) <= {"postgresql", "sqlite"} or args.top > args.short_list:
        parser.error("--backends: postgresql and/or sqlite; --top at most --short-list")
    with tempfile.TemporaryDirectory(prefix="facetrail-bench-") as folder, ExitStack() as stack:
        urls = {b: stack.enter_context(_database(b, Path(folder))) for b in backends}
        engines = {backend: make_engine(url) for backend, url in urls.items()}
        try:
            for backend, engine in engines.items():
                started = time.perf_counter()
                _fill(engine, args.faces)
                seconds = time.perf_counter() - started
                print(f"{backend}: {args.faces:,} filled in {seconds:.1f} s", file=sys.stderr)
            figures = _measure(engines, args)
        finally:
            for engine in engines.values():
                engine.dispose()
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
