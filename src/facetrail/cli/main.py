"""The ``facetrail`` command: parse, call a service, print. No logic lives here."""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from facetrail.cli.render import console, err_console, fmr_text, plain, print_json
from facetrail.config import get_settings
from facetrail.errors import FacetrailError
from facetrail.services import galleries, indexing, ingest, packs, search
from facetrail.services.context import AppContext

app = typer.Typer(
    help="facetrail: accountable face search.", no_args_is_help=True, pretty_exceptions_enable=False
)
gallery_app = typer.Typer(help="Galleries, their sources and ingestion.", no_args_is_help=True)
index_app = typer.Typer(
    help="The vector index derived from a gallery's templates.", no_args_is_help=True
)
eval_app = typer.Typer(
    help="Measure accuracy with the product's own pipeline.", no_args_is_help=True
)
models_app = typer.Typer(help="Model packs: list, check, register.", invoke_without_command=True)
app.add_typer(gallery_app, name="gallery")
app.add_typer(index_app, name="index")
app.add_typer(eval_app, name="eval")
audit_app = typer.Typer(
    help="The tamper-evident audit log: verify, prove, checkpoint, export.", no_args_is_help=True
)
app.add_typer(models_app, name="models")
app.add_typer(audit_app, name="audit")


class MaskMode(enum.StrEnum):
    none = "none"
    synthetic = "synthetic"


JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@contextmanager
def _context() -> Iterator[AppContext]:
    ctx = AppContext.open(get_settings())
    try:
        yield ctx
    finally:
        ctx.close()


def _run(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except FacetrailError as exc:
        err_console.print(f"[red]error[/red] {escape(f'[{exc.code}] {exc}')}")
        raise typer.Exit(2) from exc


@contextmanager
def _progress(label: str, enabled: bool) -> Iterator[Callable[[int, int], None]]:
    if not enabled:
        yield lambda _a, _t: None
        return
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
    ) as bar:
        task = bar.add_task(label, total=None)

        def advance(n: int, total: int) -> None:
            bar.update(task, advance=n, total=total)

        yield advance


# --- models -----------------------------------------------------------------------------


@models_app.callback()
def models_list(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    check: Annotated[bool, typer.Option(help="Verify sha256 of each file.")] = True,
) -> None:
    """List model packs, their licences, file hashes and whether they are installed."""
    if ctx.invoked_subcommand:
        return
    rows = _run(lambda: packs.list_pack_status(get_settings(), check_hash=check))
    if as_json:
        print_json(rows)
        return
    for p in rows:
        state = "[green]installed[/green]" if p.installed else "[red]not installed[/red]"
        console.print(
            f"[bold]{p.name}[/bold]  {state}  dim={p.embedding_dim}  "
            f"calibrated={'yes' if p.calibrated else 'no'}"
        )
        console.print(f"  {p.description}")
        console.print(f"  licence: {p.licence}")
        if p.licence_note:
            console.print(f"  [yellow]note:[/yellow] {p.licence_note}")
        for f in p.files:
            ok = {True: "sha256 ok", False: "SHA256 MISMATCH", None: "not checked"}[f.sha256_ok]
            console.print(f"  {f.role}: {f.path or 'missing'}  {f.expected_sha256[:16]}… {ok}")


@models_app.command("register")
def models_register(directory: Path, as_json: JsonOpt = False) -> None:
    """Register a custom pack directory (manifest.json + ONNX files)."""
    result = _run(lambda: packs.register(get_settings(), directory))
    print_json(result) if as_json else console.print(f"registered pack {result.name}")


# --- galleries --------------------------------------------------------------------------


@gallery_app.command("create")
def gallery_create(
    name: str,
    pack: Annotated[str | None, typer.Option()] = None,
    description: str = "",
    as_json: JsonOpt = False,
) -> None:
    """Create a gallery bound to a model pack (default: arcface-mbf)."""
    with _context() as ctx:
        info = _run(
            lambda: galleries.create_gallery(
                ctx, galleries.CreateGalleryRequest(name, pack, description)
            )
        )
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
    """Record a lawful source of images for a gallery."""
    with _context() as ctx:
        info = _run(
            lambda: galleries.add_source(
                ctx,
                galleries.CreateSourceRequest(
                    gallery, name, kind, legal_basis, supplied_by, collected_at, retention_days
                ),
            )
        )
    print_json(info) if as_json else console.print(f"added source {info.name} to {gallery}")


@gallery_app.command("ingest")
def gallery_ingest(
    path: Path,
    gallery: Annotated[str, typer.Option("--gallery", "-g")],
    source: Annotated[str, typer.Option("--source", "-s")],
    manifest: Annotated[Path | None, typer.Option(help="CSV: file,subject_ref")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (default: CPU count).")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Ingest a folder (recursively); resumable, duplicates skipped, failures listed."""
    import os

    request = ingest.IngestRequest(
        path, gallery, source, manifest, workers or (os.cpu_count() or 1)
    )
    with _context() as ctx, _progress("ingesting", not as_json) as bar:
        summary = _run(lambda: ingest.ingest(ctx, request, bar))
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


@gallery_app.command("list")
def gallery_list(as_json: JsonOpt = False) -> None:
    """List galleries with their sizes."""
    with _context() as ctx:
        infos = _run(lambda: galleries.list_galleries(ctx))
    if as_json:
        print_json(infos)
        return
    table = Table("gallery", "pack", "images", "faces", "failures", "sources")
    for g in infos:
        table.add_row(
            g.name,
            g.pack,
            str(g.images),
            str(g.faces),
            str(g.failures),
            ", ".join(s.name for s in g.sources),
        )
    console.print(table)


@gallery_app.command("show")
def gallery_show(name: str, as_json: JsonOpt = False) -> None:
    """Show one gallery and the provenance of its sources."""
    with _context() as ctx:
        g = _run(lambda: galleries.show_gallery(ctx, name))
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


# --- index ------------------------------------------------------------------------------


@index_app.command("rebuild")
def index_rebuild(gallery: str, as_json: JsonOpt = False) -> None:
    """Recreate a gallery's index from the templates in the database."""
    with _context() as ctx:
        report = _run(lambda: indexing.rebuild_index(ctx, gallery))
    print_json(report) if as_json else console.print(
        f"rebuilt index of {report.gallery}: {report.entries} entries ({report.description})"
    )


@index_app.command("check")
def index_check(gallery: str, as_json: JsonOpt = False) -> None:
    """Compare the index with the database and repair any difference."""
    with _context() as ctx:
        report = _run(lambda: indexing.check_index(ctx, gallery))
    print_json(report) if as_json else console.print(
        f"index of {report.gallery}: {report.entries} entries; repaired +{report.added} "
        f"-{report.removed}{' (rebuilt)' if report.rebuilt else ''}"
    )


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
    with _context() as ctx:
        result = _run(lambda: search.search(ctx, request))
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
    with _context() as ctx:
        result = _run(lambda: search.verify(ctx, search.VerifyRequest(_probe(a), _probe(b), pack)))
    if as_json:
        print_json(result)
        return
    console.print(
        f"score {result.score:.4f} ({result.pack}); false match rate at this score: "
        f"{fmr_text(result.false_match)}"
    )
    console.print(f"[yellow]{result.notice}[/yellow]")


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
) -> None:
    """Run the 1:N protocol (shared/data/README.md) on a dataset folder."""
    import os

    from facetrail.services import evaluation  # matplotlib: only load it when evaluating

    request = evaluation.EvalRequest(
        dataset,
        pack,
        mask.value,
        workers or (os.cpu_count() or 1),
        limit_identities,
        plot,
        scores_plot,
    )
    with _context() as ctx, _progress("evaluating", sys.stderr.isatty()) as bar:
        report = _run(lambda: evaluation.evaluate_identification(ctx, request, bar))
    fig = report.figures
    if json_out:
        json_out.write_text(json.dumps(plain(fig), indent=2))
    if calibration_out:
        calibration_out.write_text(report.calibration.model_dump_json(indent=2))
    console.print(
        f"pack {fig['pack']}  mask {fig['mask']}  gallery {fig['gallery_size']}/"
        f"{fig['gallery_candidates']}  mated {fig['mated_probes']}  non-mated "
        f"{fig['nonmated_probes']}"
    )
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


# --- accounts ---------------------------------------------------------------------------


@app.command("init")
def init_cmd(
    admin: Annotated[str, typer.Option(help="Username of the first system admin.")],
    email: Annotated[str, typer.Option()],
    agency: Annotated[str, typer.Option(help="The operators' agency.")] = "facetrail operators",
    as_json: JsonOpt = False,
) -> None:
    """Create the data folder, the audit signing key and the first system admin.

    The password comes from FACETRAIL_ADMIN_PASSWORD or a prompt; there is no default.
    """
    from facetrail.services import accounts

    settings = get_settings()
    if settings.admin_password is not None:
        password = settings.admin_password.get_secret_value()
    elif sys.stdin.isatty():
        password = typer.prompt(
            "password for the first admin", hide_input=True, confirmation_prompt=True
        )
    else:
        err_console.print(
            "[red]error[/red] \\[password_missing] set FACETRAIL_ADMIN_PASSWORD "
            "or run init in a terminal"
        )
        raise typer.Exit(2)
    with _context() as ctx:
        enrolment = _run(
            lambda: accounts.init_system(ctx, accounts.NewAccount(admin, email, password, agency))
        )
    if as_json:
        print_json(enrolment)
        return
    console.print(f"initialised {settings.home}; system admin {enrolment.username}")
    console.print("Enrol this TOTP secret in an authenticator app (shown once):")
    console.print(f"  secret {enrolment.totp_secret}\n  uri    {enrolment.totp_uri}")
    console.print("Recovery codes (each works once; keep them offline):")
    console.print("  " + "  ".join(enrolment.recovery_codes))


@app.command("login")
def login_cmd(
    username: str,
    code: Annotated[str, typer.Option(help="TOTP code or a recovery code.")],
    password: Annotated[str | None, typer.Option(help="Prompted when omitted.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign in with password and second factor; the session token is kept in the home."""
    from facetrail.services import accounts

    secret = password if password is not None else typer.prompt("password", hide_input=True)
    with _context() as ctx:
        result = _run(lambda: accounts.login(ctx, username, secret, code))
        token_file = ctx.settings.session_token_file
        token_file.write_text(result.token)
        token_file.chmod(0o600)
    if as_json:
        print_json(
            {
                "username": result.principal.username,
                "expires_at": result.expires_at,
                "roles": sorted(result.principal.roles),
            }
        )
    else:
        console.print(
            f"signed in as {result.principal.username} "
            f"({result.principal.agency}) until {result.expires_at}"
        )


@app.command("whoami")
def whoami_cmd(as_json: JsonOpt = False) -> None:
    """The signed-in user (each use of the session token is audited)."""
    from facetrail.services import accounts

    with _context() as ctx:
        token_file = ctx.settings.session_token_file
        if not token_file.exists():
            err_console.print("[red]error[/red] \\[not_signed_in] run 'facetrail login' first")
            raise typer.Exit(2)
        principal = _run(lambda: accounts.authenticate(ctx, token_file.read_text().strip()))
    if as_json:
        print_json(
            {
                "username": principal.username,
                "agency": principal.agency,
                "roles": sorted(principal.roles),
            }
        )
    else:
        console.print(
            f"{principal.username} ({principal.agency}): {', '.join(sorted(principal.roles))}"
        )


# --- audit ------------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify(
    db: Annotated[
        Path | None, typer.Option(help="Database file (default: $FACETRAIL_HOME).")
    ] = None,
    public_key: Annotated[Path | None, typer.Option(help="PEM public key of the log.")] = None,
    published: Annotated[
        Path | None, typer.Option(help="Checkpoints published earlier (audit export).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute every entry and check every checkpoint, offline. Exit 1 on any tampering."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from facetrail.governance.checkpoints import PUBLIC_KEY, load_public_key
    from facetrail.governance.verify import verify_log
    from facetrail.services.audit import load_published

    settings = get_settings()
    url = f"sqlite:///{db.resolve()}" if db else settings.db_url
    key_file = public_key or settings.home / "keys" / PUBLIC_KEY
    if db is not None and not db.exists():
        err_console.print(f"[red]error[/red] {escape(f'[audit_db_missing] {db}: no such file')}")
        raise typer.Exit(2)
    if not key_file.exists():
        err_console.print(f"[red]error[/red] {escape(f'[audit_key_missing] {key_file}')}")
        raise typer.Exit(2)
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            report = verify_log(
                session,
                load_public_key(key_file),
                load_published(published.read_text()) if published else (),
            )
    finally:
        engine.dispose()
    if as_json:
        print_json(report)
    elif report.ok:
        console.print(
            f"audit log OK: {report.entries} entries, {report.checkpoints} "
            f"checkpoints verified, root {report.root}"
        )
    else:
        console.print(f"[red]AUDIT LOG FAILS VERIFICATION[/red]: {escape(report.problem or '')}")
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint(as_json: JsonOpt = False) -> None:
    """Sign the current tree size and root (Ed25519) and store the checkpoint."""
    from facetrail.services import audit

    with _context() as ctx:
        audit.ensure_keys(ctx)
        cp = _run(lambda: audit.make_checkpoint(ctx))
    if as_json:
        print_json(
            {
                "tree_size": cp.tree_size,
                "root": cp.root.hex(),
                "at": cp.at,
                "key_id": cp.key_id,
                "signature": cp.signature.hex(),
            }
        )
    else:
        console.print(f"checkpoint: {cp.tree_size} entries, root {cp.root.hex()} at {cp.at}")


@audit_app.command("prove")
def audit_prove(entry: int, as_json: JsonOpt = False) -> None:
    """Inclusion proof of ENTRY in the latest checkpointed tree."""
    from facetrail.services import audit

    with _context() as ctx:
        proof = _run(lambda: audit.prove_entry(ctx, entry))
    print_json(proof) if as_json else console.print(
        f"entry {proof.entry} of {proof.tree_size}: leaf {proof.leaf_hash}\nroot {proof.root}"
        f"\npath " + " ".join(proof.path)
    )


@audit_app.command("consistency")
def audit_consistency(old: int, new: int, as_json: JsonOpt = False) -> None:
    """Consistency proof between stored checkpoints OLD and NEW (1-based)."""
    from facetrail.services import audit

    with _context() as ctx:
        proof = _run(lambda: audit.prove_consistency(ctx, old, new))
    if as_json:
        print_json(proof)
    else:
        console.print(
            f"{proof.old_size} -> {proof.new_size}: "
            f"{'consistent' if proof.verified else 'NOT CONSISTENT'}; path " + " ".join(proof.path)
        )
    if not proof.verified:
        raise typer.Exit(1)


@audit_app.command("export")
def audit_export(out: Annotated[Path | None, typer.Argument()] = None) -> None:
    """Write the signed checkpoints as JSON, for publication outside the system."""
    from facetrail.services import audit

    with _context() as ctx:
        text = audit.export_checkpoints(ctx)
    if out:
        out.write_text(text)
    else:
        print(text)


def main() -> None:  # pragma: no cover
    app()
