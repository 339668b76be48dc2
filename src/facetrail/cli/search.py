"""Search and verify: the only way to results from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from facetrail.cli.app import (
    JsonOpt,
    app,
    open_context,
    run_service,
)
from facetrail.cli.render import console, err_console, fmr_text, plain, print_json
from facetrail.services import search

# --- search and verify ------------------------------------------------------------------


def _probe(path: Path) -> search.ProbeImage:
    try:
        return search.ProbeImage(str(path), path.read_bytes())
    except OSError as exc:
        err_console.print(
            f"[red]error[/red] {escape(f'[image_unreadable] {path}: {exc.strerror}')}"
        )
        raise typer.Exit(2) from exc


@app.command("search")
def search_cmd(
    probes: Annotated[list[Path], typer.Argument(help="Probe image(s) of one person.")],
    gallery: Annotated[str, typer.Option("--gallery", "-g")],
    top: int = 50,
    face: Annotated[int | None, typer.Option(help="Face index in the probe (0 = largest).")] = None,
    crops: Annotated[Path | None, typer.Option(help="Write candidate crops here.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Search a gallery; candidates are investigative leads, never identifications."""
    request = search.SearchRequest(
        tuple(_probe(p) for p in probes), gallery, top, face, include_crops=crops is not None
    )
    with open_context() as ctx:
        result = run_service(lambda: search.search(ctx, request))
    crop_paths: dict[int, str] = {}
    if crops is not None:
        crops.mkdir(parents=True, exist_ok=True)
        for c in result.candidates:
            if c.crop_jpeg:
                path = crops / f"rank{c.rank:03d}-{c.image_sha256[:12]}.jpg"
                path.write_bytes(c.crop_jpeg)
                crop_paths[c.rank] = str(path)
    if as_json:
        data = plain(result)
        for cand in data["candidates"]:
            cand["crop_path"] = crop_paths.get(cand["rank"])
        print_json(data)
        return
    for f in result.probe_faces:
        mark = "*" if f.used else " "
        console.print(
            f"{mark} probe {f.probe} face {f.index}: bbox "
            f"{tuple(round(v) for v in f.bbox)} score {f.detector_score:.2f} "
            f"eyes {f.inter_eye_px:.0f}px blur {f.blur:.0f} yaw {f.yaw_deg:.0f}°"
        )
    table = Table("rank", "score", "FMR", "image", "subject", "source", "crop")
    for c in result.candidates:
        table.add_row(
            str(c.rank),
            f"{c.score:.3f}",
            fmr_text(c.false_match),
            c.image_name,
            c.subject_ref or "",
            c.source.name,
            crop_paths.get(c.rank, ""),
        )
    console.print(table)
    console.print(f"[yellow]{result.notice}[/yellow]")
    console.print(
        f"gallery {result.gallery} ({result.gallery_size} templates, {result.pack}, "
        f"{result.index}) in {result.seconds * 1000:.0f} ms"
    )


@app.command("verify")
def verify_cmd(
    a: Path, b: Path, pack: Annotated[str | None, typer.Option()] = None, as_json: JsonOpt = False
) -> None:
    """1:1 comparison of the largest faces in two images, with a calibrated FMR."""
    with open_context() as ctx:
        result = run_service(
            lambda: search.verify(ctx, search.VerifyRequest(_probe(a), _probe(b), pack))
        )
    if as_json:
        print_json(result)
        return
    console.print(
        f"score {result.score:.4f} ({result.pack}); false match rate at this score: "
        f"{fmr_text(result.false_match)}"
    )
    console.print(f"[yellow]{result.notice}[/yellow]")
