"""Search and verify: the only way to results from the command line, always signed in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from facetrail.cli.app import JsonOpt, app, as_signed_in, run_service, signed_in
from facetrail.cli.outputs import OutputOf, outputs_writable, read_probe_bytes
from facetrail.cli.render import (
    console,
    fmr_text,
    print_json,
    show_search_result,
)
from facetrail.governance.attestation import ATTESTATION
from facetrail.services.audit import verification
from facetrail.services.searching import search

# --- search and verify ------------------------------------------------------------------


def _probe(path: Path) -> search.ProbeImage:
    # Read without blocking and only a regular file: a FIFO as a probe is refused at once.
    data: bytes = run_service(lambda: read_probe_bytes(path))
    return search.ProbeImage(str(path), data)


@app.command("search")
def search_cmd(
    probes: Annotated[list[Path], typer.Argument(help="Probe image(s) of one person.")],
    galleries: Annotated[
        list[str], typer.Option("--gallery", "-g", help="Gallery to search (repeatable).")
    ],
    case: Annotated[str, typer.Option(help="The case number the search is for.")],
    offense: Annotated[str, typer.Option(help="Offense category, as the policy lists it.")],
    justification: Annotated[str, typer.Option(help="Why this search is needed.")],
    on_behalf_of: Annotated[
        str | None, typer.Option(help="Network operators: the member agency it runs for.")
    ] = None,
    top: Annotated[int, typer.Option(help="Candidates per gallery.")] = 50,
    face: Annotated[int | None, typer.Option(help="Face index in the probe (0 = largest).")] = None,
    attest: Annotated[bool, typer.Option("--attest", help=f"Required: {ATTESTATION}")] = False,
    protected_reason: Annotated[
        str,
        typer.Option(
            help="For an offense the policy marks as close to protected activity: the "
            "conduct, apart from that activity, the search is about."
        ),
    ] = "",
    crops: Annotated[Path | None, typer.Option(help="Write candidate crops here.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Search galleries for a case: now, or once a supervisor approves (as policy says).

    Candidates are investigative leads, never identifications. --attest records that the
    search does not target anyone for exercising protected rights; none runs without it.
    """
    run_service(lambda: outputs_writable(folders=[crops]))
    images = tuple(_probe(p) for p in probes)
    with signed_in() as (ctx, me):
        request = search.SearchRequest(
            requester=me,
            case_number=case,
            offense=offense,
            justification=justification,
            galleries=tuple(galleries),
            probes=images,
            on_behalf_of=on_behalf_of,
            top=top,
            face=face,
            attested=attest,
            protected_reason=protected_reason,
        )
        result = run_service(lambda: search.search(ctx, request, include_crops=crops is not None))
        of = OutputOf(ctx, me.username, "search.run")
        run_service(lambda: show_search_result(result, crops, as_json, of))


@app.command("verify")
def verify_cmd(
    a: Path, b: Path, pack: Annotated[str | None, typer.Option()] = None, as_json: JsonOpt = False
) -> None:
    """1:1 comparison of the largest faces in two images, with a calibrated FMR (audited)."""
    request = verification.VerifyRequest(_probe(a), _probe(b), pack)
    result = as_signed_in(lambda ctx, me: verification.verify(ctx, me, request))
    if as_json:
        print_json(result)
        return
    console.print(
        f"score {result.score:.4f} ({result.pack}); false match rate at this score: "
        f"{fmr_text(result.false_match)}"
    )
    console.print(f"[yellow]{result.notice}[/yellow]")
