"""Accuracy evaluation commands."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from facetrail.cli.app import (
    MaskMode,
    as_signed_in,
    bench_app,
    eval_app,
    open_context,
    progress_bar,
    run_service,
)
from facetrail.cli.outputs import outputs_writable, write_output
from facetrail.cli.render import console
from facetrail.services.views import plain

# --- evaluation -------------------------------------------------------------------------


@eval_app.command("identification")
def eval_identification(
    dataset: Annotated[Path, typer.Option(help="Folder: one sub-folder per identity.")],
    pack: Annotated[str | None, typer.Option()] = None,
    mask: Annotated[MaskMode, typer.Option(help="Synthetic masks go on probes only.")] = (
        MaskMode.none
    ),
    json_out: Annotated[Path | None, typer.Option("--json", help="Write figures here.")] = None,
    plot: Annotated[Path | None, typer.Option(help="DET curve PNG.")] = None,
    scores_plot: Annotated[Path | None, typer.Option(help="Score distributions PNG.")] = None,
    calibration_out: Annotated[
        Path | None, typer.Option(help="Write the measured score->FMR calibration (JSON).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (default: CPU count).")] = 0,
    limit_identities: Annotated[int | None, typer.Option(hidden=True)] = None,
    record: Annotated[
        bool,
        typer.Option(
            "--record",
            help="Keep the figures as the pack's published accuracy (transparency reports); "
            "needs a signed-in gallery or system admin.",
        ),
    ] = False,
) -> None:
    """Run the 1:N protocol (shared/data/README.md) on a dataset folder."""
    import os

    from facetrail.services.galleries import evaluation  # matplotlib: only load it when evaluating

    run_service(lambda: outputs_writable(files=[json_out, plot, scores_plot, calibration_out]))

    request = evaluation.EvalRequest(
        dataset,
        pack,
        mask.value,
        workers or (os.cpu_count() or 1),
        limit_identities,
        plot,
        scores_plot,
    )
    with open_context(create=True) as ctx, progress_bar("evaluating", sys.stderr.isatty()) as bar:
        report = run_service(lambda: evaluation.evaluate_identification(ctx, request, bar))
    fig = report.figures
    if record:
        from facetrail.services.oversight.published_accuracy import record_evaluation

        recorded = as_signed_in(lambda signed_ctx, me: record_evaluation(signed_ctx, me, fig))
        console.print(f"recorded as evaluation {recorded} of pack {fig['pack']}")
    if json_out:
        run_service(lambda: write_output(json_out, json.dumps(plain(fig), indent=2)))
    if calibration_out:
        calibration = report.calibration.model_dump_json(indent=2)
        run_service(lambda: write_output(calibration_out, calibration))
    console.print(
        f"pack {fig['pack']}  mask {fig['mask']}  gallery {fig['gallery_size']}/"
        f"{fig['gallery_candidates']}  mated {fig['mated_probes']}  non-mated "
        f"{fig['nonmated_probes']}"
    )
    console.print(f"searched as served: {fig['index']}", soft_wrap=True)
    ftt = fig["failure_to_template_rate"] * 100
    console.print(
        f"rank-1 {fig['rank1'] * 100:.2f} %   FTT {ftt:.2f} % "
        f"({fig['failure_to_template']['count']})"
    )
    for p, v in fig["fnir_at_fpir"].items():
        console.print(
            f"FNIR @ FPIR={p}: {v['fnir'] * 100:.2f} % (t = {v['threshold']:.3f}, "
            f"actual FPIR {v['fpir_actual']:.4f})"
        )
    console.print(f"{fig['faces_per_second']:.1f} images/s with {fig['workers']} worker(s)")
    for key, per in fig["groups"].items():
        for value, g in per.items():
            console.print(
                f"  {key}={value}: mated {g['mated']} FNIR {g['fnir'] * 100:.2f} %, "
                f"non-mated {g['nonmated']} FPIR {g['fpir'] * 100:.2f} %"
            )


class IndexKindChoice(StrEnum):
    auto = "auto"
    exact = "exact"
    ivf = "ivf"
    ivfpq = "ivfpq"


@bench_app.command("scale")
def bench_scale(
    size: Annotated[int, typer.Option(help="Faces in the gallery: the real ones and distractors.")],
    dataset: Annotated[
        Path, typer.Option(help="The real gallery and probes (shared/data/README.md's protocol).")
    ],
    index: Annotated[
        IndexKindChoice,
        typer.Option(help="auto: the kind a served gallery of this size gets."),
    ] = IndexKindChoice.auto,
    pack: Annotated[str | None, typer.Option()] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write figures here.")] = None,
    templates: Annotated[
        Path | None,
        typer.Option(help="Keep the dataset's templates in this .npz between runs."),
    ] = None,
    exact_probes: Annotated[
        int | None, typer.Option(help="Exact search for only this many probes (large sizes).")
    ] = None,
    erase: Annotated[
        int, typer.Option(help="Then erase this many distractors and measure again.")
    ] = 0,
    nprobe: Annotated[
        str,
        typer.Option(help="An inverted file searched again probing each of these, e.g. 64,128."),
    ] = "",
    workers: Annotated[int, typer.Option(help="Worker processes (default: CPU count).")] = 0,
    limit_identities: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """The real gallery among synthetic distractors: build time, memory per face, single-query
    p50/p99 for a top-50, throughput with 2 threads, and rank-1 and FNIR@FPIR=0.01 of the
    real probes through the index against exact search in the same run."""
    import os

    from facetrail.services.galleries import evaluation

    made = templates if templates is not None and not templates.exists() else None
    run_service(lambda: outputs_writable(files=[json_out, made]))
    request = evaluation.ScaleRequest(
        dataset,
        size,
        index.value,
        pack,
        workers or (os.cpu_count() or 1),
        limit_identities,
        templates,
        exact_probes,
        erase,
        run_service(lambda: _numbers(nprobe, "--nprobe")),
    )

    def say(step: str) -> None:
        print(f"bench scale: {step}", file=sys.stderr, flush=True)

    with open_context(create=True) as ctx:
        fig = run_service(lambda: evaluation.measure_scale_of(ctx, request, say))
    if json_out:
        run_service(lambda: write_output(json_out, json.dumps(plain(fig), indent=2)))
    console.print(f"{fig['size']:,} faces ({fig['real_gallery']:,} real): {fig['index']}")
    console.print(
        f"build {fig['build_seconds']} s, {fig['bytes_per_face']} bytes a face in memory "
        f"(+ {fig['rerank_store_bytes_per_face']} mapped for re-scoring)"
    )
    console.print(
        f"top-{50} one at a time: p50 {fig['p50_ms']} ms, p99 {fig['p99_ms']} ms; "
        f"{fig['qps']} a second on 2 threads"
    )
    console.print(
        f"rank-1 {fig['rank1_ann'] * 100:.2f} % (exact {fig['rank1_exact'] * 100:.2f} %), "
        f"FNIR@FPIR=0.01 {fig['fnir_ann'] * 100:.2f} % (exact {fig['fnir_exact'] * 100:.2f} %), "
        f"over {fig['exact_probes']:,} probes; exact rank-1 mates lost: {fig['exact_rank1_lost']}"
    )
    for row in fig.get("nprobe_sweep", []):
        console.print(
            f"  probing {row['nprobe']} of {row['nlist']} lists: p50 {row['p50_ms']} ms, p99 "
            f"{row['p99_ms']} ms, rank-1 {row['rank1_ann'] * 100:.2f} %, FNIR "
            f"{row['fnir_ann'] * 100:.2f} %, exact rank-1 mates lost {row['exact_rank1_lost']}"
        )
    if "after_erasure" in fig:
        e = fig["after_erasure"]
        console.print(
            f"erased {e['erased']:,} in {e['erase_seconds']} s, returned again: "
            f"{e['erased_returned']}; then p50 {e['p50_ms']} ms, rank-1 "
            f"{e['rank1_ann'] * 100:.2f} %"
        )


def _numbers(text: str, option: str) -> tuple[int, ...]:
    """``64,128`` -> (64, 128); anything else is refused, naming the option."""
    from facetrail.errors import InvalidRequestError

    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise InvalidRequestError(f"{option} takes positive whole numbers separated by commas")
    return tuple(int(p) for p in parts)
