"""Run the 1:N identification protocol with the product's own pipeline and report NIST metrics.

The same batch analysis that ingestion uses makes every template, and each probe's candidates
come from the kind of index a served gallery of that size has (``index.choose``: exact, or an
inverted file whose short list is re-scored exactly), so the figures measure what users get:
the published accuracy is the served accuracy. The score distributions (and the calibration
made from them) hold every probe's score against every enrolled template, cosine.

Authorisation and audit: none; evaluation reads a dataset folder, not a gallery.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from facetrail.eval.metrics import (
    ProbeOutcome,
    det_curve,
    fnir_at_fpir,
    group_breakdown,
    rank1_rate,
)
from facetrail.eval.plots import plot_det, plot_score_distributions
from facetrail.eval.protocol import Protocol, load_protocol
from facetrail.eval.scale import IndexChoice, RealTemplates, measure_scale
from facetrail.index.base import VectorIndex
from facetrail.index.choose import build_index
from facetrail.models.calibration import build_calibration
from facetrail.models.manifest import Calibration
from facetrail.models.registry import get_pack
from facetrail.pipeline.batch import ImageJob, ImageResult, analyse_files
from facetrail.pipeline.faces import PLAIN, nearest_centre
from facetrail.services.context import AppContext
from facetrail.services.galleries._index_files import thresholds as index_thresholds

FPIR_TARGETS = (0.01, 0.003)


@dataclass(frozen=True)
class EvalRequest:
    dataset: Path
    pack: str | None = None
    mask: Literal["none", "synthetic"] = "none"
    workers: int = 1
    limit_identities: int | None = None
    plot: Path | None = None
    distributions_plot: Path | None = None


@dataclass(frozen=True)
class EvalReport:
    figures: dict[str, Any]
    calibration: Calibration


def _template(result: ImageResult) -> np.ndarray | None:
    if not result.ok or not result.faces:
        return None
    pick = nearest_centre([f.detection for f in result.faces], result.width, result.height)
    assert pick is not None
    return result.faces[pick].template(PLAIN).vector


@dataclass(frozen=True)
class Enrolment:
    """A dataset's protocol run through the product's pipeline: its enrolled gallery and
    every probe's template (None: failed to template)."""

    pack: str
    protocol: Protocol
    gallery_candidates: int
    names: list[str]
    matrix: np.ndarray
    probes: list[tuple[str, np.ndarray | None, bool]]
    images: int
    failures: int
    seconds: float


def enrol_and_probe(
    ctx: AppContext, request: EvalRequest, progress: Callable[[int, int], None] | None = None
) -> Enrolment:
    """Template every gallery image and probe of the dataset's protocol (masks, if asked, on
    probes only) with the batch analysis ingestion uses."""
    pack = get_pack(request.pack or ctx.settings.default_pack, ctx.settings.home)
    protocol = load_protocol(request.dataset, request.limit_identities)
    gallery_ids = list(protocol.gallery)
    probes = [*protocol.mated, *protocol.nonmated]
    masked = request.mask == "synthetic"
    jobs = [ImageJob(p) for p in protocol.gallery.values()]
    jobs += [ImageJob(p, mask_key=p.name if masked else None) for _, p in probes]
    config = ctx.batch_config(pack.name, request.workers)
    started = time.perf_counter()
    results: list[ImageResult] = []
    for chunk in analyse_files(jobs, config, workers=request.workers):
        results.extend(chunk)
        if progress:
            progress(len(chunk), len(jobs))
    seconds = time.perf_counter() - started
    templates = [_template(r) for r in results]
    n_g = len(gallery_ids)
    enrolled = [i for i in range(n_g) if templates[i] is not None]
    dim = pack.manifest.embedding_dim
    vectors = [t for t in templates[:n_g] if t is not None]
    mated = [True] * len(protocol.mated) + [False] * len(protocol.nonmated)
    return Enrolment(
        pack.name,
        protocol,
        n_g,
        [gallery_ids[i] for i in enrolled],
        np.stack(vectors) if vectors else np.zeros((0, dim), np.float32),
        [
            (ident, tmpl, is_mated)
            for (ident, _), tmpl, is_mated in zip(probes, templates[n_g:], mated, strict=True)
        ],
        len(jobs),
        sum(1 for t in templates if t is None),
        seconds,
    )


def evaluate_identification(
    ctx: AppContext, request: EvalRequest, progress: Callable[[int, int], None] | None = None
) -> EvalReport:
    """Enrol, probe and score a dataset folder; masks (if asked) go on probes only."""
    enrolment = enrol_and_probe(ctx, request, progress)
    protocol, g_matrix, g_names = enrolment.protocol, enrolment.matrix, enrolment.names
    dim = g_matrix.shape[1]
    g_pos = {name: k for k, name in enumerate(g_names)}
    served = build_index(
        dim,
        np.arange(len(g_names), dtype=np.int64),
        g_matrix,
        at=index_thresholds(ctx.settings),
    )
    outcomes: list[ProbeOutcome] = []
    genuine: list[float] = []
    impostor: list[np.ndarray] = []
    for ident, tmpl, is_mated in enrolment.probes:
        group = protocol.labels.get(ident, {})
        if tmpl is None or len(g_names) == 0:
            outcomes.append(ProbeOutcome(is_mated, None, False, None, group))
            continue
        scores = g_matrix @ tmpl
        top = _served_top(served, tmpl, scores)
        mate = g_pos.get(ident) if is_mated else None
        mate_score = float(scores[mate]) if mate is not None else None
        if mate is not None and mate_score is not None:
            genuine.append(mate_score)
            impostor.append(np.delete(scores, mate))
        else:
            impostor.append(scores)
        if top is None:  # the index returned no one: a miss, as a served search would be
            outcomes.append(ProbeOutcome(is_mated, None, False, mate_score, group))
            continue
        outcomes.append(
            ProbeOutcome(
                is_mated, float(scores[top]), mate is not None and top == mate, mate_score, group
            )
        )
    impostor_all = (np.concatenate(impostor) if impostor else np.zeros(0)).astype(np.float32)
    points = {f"{p:g}": fnir_at_fpir(outcomes, p) for p in FPIR_TARGETS}
    failures, n_g, n_mated = enrolment.failures, enrolment.gallery_candidates, len(protocol.mated)
    figures: dict[str, Any] = {
        "pack": enrolment.pack,
        "index": served.describe(),
        "dataset": str(request.dataset),
        "mask": request.mask,
        "gallery_size": len(g_names),
        "gallery_candidates": n_g,
        "mated_probes": len(protocol.mated),
        "nonmated_probes": len(protocol.nonmated),
        "images": enrolment.images,
        "failure_to_template": {
            "count": failures,
            "gallery": n_g - len(g_names),
            "mated": sum(1 for _, t, _ in enrolment.probes[:n_mated] if t is None),
            "nonmated": sum(1 for _, t, _ in enrolment.probes[n_mated:] if t is None),
        },
        "failure_to_template_rate": failures / enrolment.images,
        "rank1": rank1_rate(outcomes),
        "fnir_at_fpir": {
            k: {"fnir": v.fnir, "threshold": v.threshold, "fpir_actual": v.fpir_actual}
            for k, v in points.items()
        },
        "faces_per_second": enrolment.images / enrolment.seconds if enrolment.seconds else 0.0,
        "seconds": enrolment.seconds,
        "workers": request.workers,
        "scores": {
            "genuine": _describe(np.asarray(genuine)),
            "impostor": _describe(impostor_all),
        },
        "groups": {
            key: {value: vars(fig) for value, fig in per.items()}
            for key, per in group_breakdown(outcomes, points["0.01"].threshold).items()
        },
    }
    thresholds = {f"FPIR={k}": v.threshold for k, v in points.items()}
    if request.plot:
        _, fp, fn = det_curve(outcomes)
        plot_det(
            {f"{enrolment.pack} ({request.mask})": (fp, fn)},
            request.plot,
            f"DET, {request.dataset.name}, {enrolment.pack}, mask={request.mask}",
        )
    if request.distributions_plot:
        plot_score_distributions(
            np.asarray(genuine, np.float32),
            impostor_all,
            request.distributions_plot,
            f"Scores, {request.dataset.name}, {enrolment.pack}",
            thresholds,
        )
    calibration = build_calibration(
        impostor_all,
        len(genuine),
        request.dataset.name,
        f"facetrail eval identification --pack {enrolment.pack} --mask {request.mask}",
    )
    return EvalReport(figures, calibration)


#: Candidates a probe's search asks the index for (as a served search's default list).
CANDIDATES = 50


def _served_top(index: VectorIndex, probe: np.ndarray, scores: np.ndarray) -> int | None:
    """The rank-1 candidate a served search would show: the index's list for ``probe`` (an
    inverted file's longer short list), re-scored exactly (``scores``), best first."""
    _, found = index.search(probe[None].astype(np.float32), CANDIDATES)
    returned = found[0][found[0] >= 0]
    if len(returned) == 0:
        return None
    return int(returned[int(np.argmax(scores[returned]))])


def _describe(values: np.ndarray) -> dict[str, float | int]:
    if len(values) == 0:
        return {"count": 0}
    q = np.quantile(values, [0.01, 0.5, 0.99])
    return {
        "count": len(values),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "p01": float(q[0]),
        "median": float(q[1]),
        "p99": float(q[2]),
    }


@dataclass(frozen=True)
class ScaleRequest:
    """``facetrail bench scale``: the dataset's real gallery among synthetic distractors."""

    dataset: Path
    size: int
    index: IndexChoice = "auto"
    pack: str | None = None
    workers: int = 1
    limit_identities: int | None = None
    #: where the templates of the dataset are kept between runs (npz; made when missing)
    templates: Path | None = None
    #: exact search only for the first this many probes (the rest: approximate only)
    exact_probes: int | None = None
    erase: int = 0
    #: an inverted file searched again probing each of these numbers of lists
    nprobes: tuple[int, ...] = ()
    seed: int = 0


def measure_scale_of(
    ctx: AppContext,
    request: ScaleRequest,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The scale benchmark (``eval.scale``) on the dataset's real templates."""
    real = _real_templates(ctx, request)
    with tempfile.TemporaryDirectory(prefix="facetrail-scale-") as workdir:
        figures = measure_scale(
            real,
            request.size,
            request.index,
            Path(workdir),
            seed=request.seed,
            exact_probes=request.exact_probes,
            erase=request.erase,
            nprobes=request.nprobes,
            progress=progress,
        )
    return {"dataset": str(request.dataset), "index_choice": request.index, **figures}


def _real_templates(ctx: AppContext, request: ScaleRequest) -> RealTemplates:
    if request.templates is not None and request.templates.exists():
        with np.load(request.templates) as held:
            gallery, probes = held["gallery"], held["probes"]
            mates, mated = held["mates"], held["mated"]
    else:
        enrolment = enrol_and_probe(
            ctx,
            EvalRequest(
                request.dataset,
                request.pack,
                workers=request.workers,
                limit_identities=request.limit_identities,
            ),
        )
        row = {name: k for k, name in enumerate(enrolment.names)}
        dim = enrolment.matrix.shape[1]
        gallery = enrolment.matrix.astype(np.float32)
        probes = np.stack(
            [t if t is not None else np.zeros(dim, np.float32) for _, t, _ in enrolment.probes]
        )
        mates = np.array([row.get(i, -1) if m else -1 for i, _, m in enrolment.probes])
        mated = np.array([m for _, _, m in enrolment.probes])
        if request.templates is not None:
            with request.templates.open("wb") as fh:
                np.savez(fh, gallery=gallery, probes=probes, mates=mates, mated=mated)
    failed = ~probes.any(axis=1)
    return RealTemplates(
        gallery,
        [
            (None if bad else p, int(m))
            for p, m, bad, is_mated in zip(probes, mates, failed, mated, strict=True)
            if is_mated
        ],
        [
            None if bad else p
            for p, bad, is_mated in zip(probes, failed, mated, strict=True)
            if not is_mated
        ],
    )
