"""Gallery, source, ingest and index commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast

import typer
from rich.markup import escape

from facetrail.cli.app import (
    JsonOpt,
    as_signed_in,
    gallery_app,
    in_context,
    index_app,
    progress_bar,
    run_service,
    signed_in,
)
from facetrail.cli.render import console, print_json, print_listing
from facetrail.services.galleries import admin as galleries
from facetrail.services.galleries import browse, indexing, ingest, sources
from facetrail.services.galleries.indexing import DAMAGE_WORDS
from facetrail.services.views import plain

# --- galleries --------------------------------------------------------------------------


@gallery_app.command("create")
def gallery_create(
    name: str,
    pack: Annotated[str | None, typer.Option()] = None,
    description: str = "",
    staff_of: Annotated[
        str | None,
        typer.Option(
            help="A staff gallery of this agency: never searched, only compared with its "
            "probes by the staff_match alert rule."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a gallery bound to a model pack (default: arcface-mbf); gallery admins."""
    request = galleries.CreateGalleryRequest(name, pack, description, staff_of)
    info = as_signed_in(lambda ctx, me: galleries.create_gallery(ctx, me, request))
    print_json(info) if as_json else console.print(f"created gallery {info.name} ({info.pack})")


@gallery_app.command("add-source")
def gallery_add_source(
    gallery: str,
    name: str,
    kind: Annotated[str, typer.Option(help="What it is, e.g. 'booking photographs'.")],
    legal_basis: Annotated[str, typer.Option(help="The law or agreement that allows it.")],
    supplied_by: Annotated[str, typer.Option(help="Who supplied the images.")],
    collected_at: Annotated[str, typer.Option(help="Collection date, YYYY-MM-DD.")],
    retention_days: Annotated[int, typer.Option(help="How long images may be kept.")],
    as_json: JsonOpt = False,
) -> None:
    """Record a lawful source of images for a gallery; gallery admins."""
    request = galleries.CreateSourceRequest(
        gallery, name, kind, legal_basis, supplied_by, collected_at, retention_days
    )
    info = as_signed_in(lambda ctx, me: galleries.add_source(ctx, me, request))
    print_json(info) if as_json else console.print(f"added source {info.name} to {gallery}")


@gallery_app.command("edit-source")
def gallery_edit_source(
    gallery: str,
    name: str,
    reason: Annotated[str, typer.Option(help="Why it changes (at least 10 characters).")],
    kind: Annotated[str | None, typer.Option(help="What it is.")] = None,
    legal_basis: Annotated[str | None, typer.Option(help="The law or agreement.")] = None,
    supplied_by: Annotated[str | None, typer.Option(help="Who supplied the images.")] = None,
    collected_at: Annotated[str | None, typer.Option(help="Collection date, YYYY-MM-DD.")] = None,
    retention_days: Annotated[int | None, typer.Option(help="How long images may be kept.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change what is recorded of a source, saying why; gallery admins."""
    request = sources.EditSourceRequest(
        gallery, name, reason, kind, legal_basis, supplied_by, collected_at, retention_days
    )
    edit = as_signed_in(lambda ctx, me: sources.edit_source(ctx, me, request))
    if as_json:
        print_json(edit)
        return
    console.print(f"source {edit.source.name} of {gallery} changed:")
    for field, change in edit.changes.items():
        console.print(escape(f"  {field.replace('_', ' ')}: {change.before} -> {change.after}"))


@gallery_app.command("retire-source")
def gallery_retire_source(
    gallery: str,
    name: str,
    reason: Annotated[str, typer.Option(help="Why it is retired (at least 10 characters).")],
    as_json: JsonOpt = False,
) -> None:
    """Retire a source: nothing more is ingested into it, its images stay; gallery admins."""
    info = as_signed_in(lambda ctx, me: sources.retire_source(ctx, me, gallery, name, reason))
    if as_json:
        print_json(info)
        return
    console.print(
        f"retired source {info.name} of {gallery}: its {info.images} images stay, "
        "nothing more is ingested into it"
    )


@gallery_app.command("ingest")
def gallery_ingest(
    path: Path,
    gallery: Annotated[str, typer.Option("--gallery", "-g")],
    source: Annotated[str, typer.Option("--source", "-s")],
    manifest: Annotated[Path | None, typer.Option(help="CSV: file,subject_ref")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (default: CPU count).")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Ingest a folder (recursively); resumable, duplicates skipped, failures listed;
    gallery admins."""
    import os

    request = ingest.IngestRequest(
        path, gallery, source, manifest, workers or (os.cpu_count() or 1)
    )
    with signed_in() as (ctx, me), progress_bar("ingesting", not as_json) as bar:
        summary = run_service(lambda: ingest.ingest(ctx, me, request, bar))
    if as_json:
        print_json({**plain(summary), "images_per_second": summary.images_per_second})
        return
    console.print(
        f"files {summary.files}: ingested {summary.images_ingested} images "
        f"({summary.faces} faces, {summary.images_without_face} without a face), "
        f"{summary.duplicates_skipped} duplicates skipped, {summary.already_ingested} already "
        f"ingested, {summary.side_files_skipped} side files (.csv, .txt, ...) skipped, "
        f"{len(summary.failures)} failed  [{summary.seconds:.1f} s, "
        f"{summary.images_per_second:.1f} images/s]"
    )
    for f in summary.failures:
        console.print(f"  [red]failed[/red] {escape(f'{f.file}: [{f.code}] {f.message}')}")


@gallery_app.command("photos")
def gallery_photos(
    gallery: str,
    source: Annotated[str | None, typer.Option(help="Only this source's photos.")] = None,
    subject: Annotated[
        str | None, typer.Option(help="Only photos whose subject reference holds this.")
    ] = None,
    order: Annotated[str, typer.Option(help="newest, oldest or name.")] = "newest",
    page: Annotated[int, typer.Option(help="Which page of 50, from 1.")] = 1,
    as_json: JsonOpt = False,
) -> None:
    """A page of a gallery's photos with their provenance; each page is audited; gallery
    admins."""
    request = browse.BrowseRequest(
        gallery,
        source,
        subject,
        cast("browse.Order", order),  # the service refuses any other word, in words
        (max(page, 1) - 1) * 50,
        50,
        thumbnails=False,
    )
    found = as_signed_in(lambda ctx, me: browse.browse_photos(ctx, me, request))
    if as_json:
        print_json(browse.as_listing(found))
        return
    print_listing(
        found.photos,
        [
            "id",
            ("photo", "name"),
            ("recorded as", lambda p: p.subject_ref or ""),
            "source",
            ("collected", "collected_at"),
            "faces",
            ("ingested", lambda p: p.ingested_at.isoformat(timespec="seconds")),
        ],
        as_json=False,
        empty=f"no photos on page {page}" if found.total else "no photos",
    )
    if found.total:
        last = -(-found.total // 50)
        console.print(f"page {page} of {last}: {found.total} photos {browse.ORDERS[found.order]}")


@gallery_app.command("list")
def gallery_list(as_json: JsonOpt = False) -> None:
    """List galleries with their sizes."""
    infos = in_context(galleries.list_galleries)
    print_listing(
        infos,
        [
            ("gallery", "name"),
            "pack",
            "images",
            "faces",
            "failures",
            ("sources", lambda g: [s.name for s in g.sources]),
        ],
        as_json=as_json,
        empty="no galleries",
    )


@gallery_app.command("show")
def gallery_show(name: str, as_json: JsonOpt = False) -> None:
    """Show one gallery and the provenance of its sources."""
    g = in_context(lambda ctx: galleries.show_gallery(ctx, name))
    if as_json:
        print_json(g)
        return
    console.print(
        f"[bold]{g.name}[/bold] pack={g.pack} images={g.images} faces={g.faces} "
        f"templates={g.templates} failures={g.failures}"
    )
    for s in g.sources:
        console.print(
            f"  source {s.name}: {s.kind}; legal basis: {s.legal_basis}; supplied by "
            f"{s.supplied_by} on {s.collected_at}; retention {s.retention_days} "
            f"days; {s.images} images"
        )
        if s.retired is not None:
            console.print(
                escape(f"    retired on {s.retired.at[:10]} by {s.retired.by}: {s.retired.reason}")
            )


# --- index ------------------------------------------------------------------------------


@index_app.command("rebuild")
def index_rebuild(gallery: str, as_json: JsonOpt = False) -> None:
    """Recreate a gallery's index from the templates in the database; gallery admins."""
    report = as_signed_in(lambda ctx, me: indexing.rebuild_index(ctx, me, gallery))
    print_json(report) if as_json else console.print(
        f"rebuilt index of {report.gallery}: {report.entries} entries ({report.description})"
    )


@index_app.command("check")
def index_check(gallery: str, as_json: JsonOpt = False) -> None:
    """Compare the index with the database and repair any difference."""
    report = in_context(lambda ctx: indexing.check_index(ctx, gallery))
    if as_json:
        print_json(report)
        return
    why = DAMAGE_WORDS.get(report.damage or "", report.damage or "")
    if report.disagreed:
        why = f"{report.disagreed} vector(s) disagreed with the stored templates"
    console.print(
        f"index of {report.gallery}: {report.entries} entries; repaired +{report.added} "
        f"-{report.removed}{f' (rebuilt: {why})' if report.rebuilt and why else ''}"
        f"{' (rebuilt)' if report.rebuilt and not why else ''}"
    )
