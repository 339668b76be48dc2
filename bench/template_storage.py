"""Where PostgreSQL keeps templates' vectors, and what it costs a search (issue 23: "re-scoring
a search's top candidates reads their templates from PostgreSQL's TOAST storage"): measured
before changing the table, to see whether keeping them in their rows would pay.

Two fresh databases on the local PostgreSQL, made from facetrail's models, each hold
``--faces`` templates of one gallery (512-d float32, 2 KiB each), the same ones: in one the
vectors are kept in their rows (``PLAIN``), in the other PostgreSQL's default (what facetrail's
table has) moves them out to TOAST. The read a search makes to
re-score its candidates (``_index_store.stored_vectors``: ``--candidates`` random template ids
of the gallery) is timed on each, interleaved, so both see the same machine. Prints the medians,
their ratio, the table's and its TOAST table's sizes, and ``--json FILE``.

    .venv/bin/python bench/template_storage.py [--faces 100000] [--candidates 50] [--reads 400]

``make test`` runs it at a tiny size so it cannot rot; only full-size figures mean anything.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from facetrail.services.galleries._index_store import stored_vectors  # noqa: E402
from facetrail.store.db import make_engine  # noqa: E402
from facetrail.store.schema import Gallery  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
DIM = 512
_SIZES = text(
    "SELECT pg_relation_size('templates'), "
    "pg_total_relation_size(reltoastrelid) FROM pg_class WHERE relname = 'templates'"
)


def _fill(url: str, faces: int) -> None:
    """``faces`` templates of gallery 1 (the rows they belong to are beside the point: the
    foreign keys' triggers are held off for this session, as its superuser may)."""
    rng = np.random.default_rng(0)
    with psycopg.connect(url.replace("+psycopg", "")) as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        copy = "COPY templates (id, face_id, gallery_id, pack, kind, dim, vector) FROM STDIN"
        with cur.copy(copy) as rows:
            for i in range(1, faces + 1):
                vector = rng.standard_normal(DIM).astype(np.float32)
                vector /= np.linalg.norm(vector)
                rows.write_row((i, i, 1, "arcface-mbf", "plain", DIM, vector.tobytes()))
        conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--candidates", type=int, default=50)
    parser.add_argument("--reads", type=int, default=400)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    names = {layout: f"facetrail_bench_{layout}_{secrets.token_hex(4)}" for layout in LAYOUTS}
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        for name in names.values():
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        urls = {k: f"postgresql+psycopg://postgres@127.0.0.1:5432/{v}" for k, v in names.items()}
        figures = _measure(urls, args)
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            for name in names.values():
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


#: Each layout in a database of its own, filled alike: the vectors in their rows, or
#: PostgreSQL's default (facetrail's table), which moves them out to TOAST.
LAYOUTS = {"in_rows": "PLAIN", "toast": "EXTENDED"}


def _measure(urls: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    engines = {layout: make_engine(url) for layout, url in urls.items()}  # from the models
    gallery = Gallery(id=1, name="bench", pack="arcface-mbf")
    rng = random.Random(5)
    times: dict[str, list[float]] = {layout: [] for layout in LAYOUTS}
    sizes: dict[str, dict[str, int]] = {}
    try:
        for layout, storage in LAYOUTS.items():
            with engines[layout].begin() as c:
                c.execute(text(f"ALTER TABLE templates ALTER COLUMN vector SET STORAGE {storage}"))
            _fill(urls[layout], args.faces)
            with engines[layout].connect() as c:
                c.execution_options(isolation_level="AUTOCOMMIT").execute(
                    text("VACUUM ANALYZE templates")
                )
                table, toast = c.execute(_SIZES).one()
                sizes[layout] = {"table": int(table), "toast": int(toast or 0)}
        sessions = {layout: Session(engine) for layout, engine in engines.items()}
        for _ in range(args.reads):  # interleaved: both layouts see the same machine
            ids = np.array(rng.sample(range(1, args.faces + 1), args.candidates))
            for layout, session in sessions.items():
                started = time.perf_counter()
                found, _vectors = stored_vectors(session, gallery, ids, DIM)
                times[layout].append(time.perf_counter() - started)
                assert len(found) == args.candidates
        for session in sessions.values():
            session.close()
    finally:
        for engine in engines.values():
            engine.dispose()
    in_rows = statistics.median(times["in_rows"]) * 1000
    toast = statistics.median(times["toast"]) * 1000
    figures = {
        "faces": args.faces,
        "candidates": args.candidates,
        "reads_each": args.reads,
        "in_rows_ms": round(in_rows, 3),
        "toast_ms": round(toast, 3),
        "toast_over_in_rows": round(toast / in_rows, 2),
        "sizes_bytes": sizes,
    }
    print(
        f"{args.candidates} candidates' templates of {args.faces:,}: {in_rows:.3f} ms in their "
        f"rows, {toast:.3f} ms from TOAST ({figures['toast_over_in_rows']}x)",
        file=sys.stderr,
    )
    return figures


if __name__ == "__main__":
    main()
