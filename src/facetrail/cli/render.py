"""Turning service results into JSON, Rich output or files; no logic of its own."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from facetrail.cli.outputs import OutputOf, new_output_folder, write_output
from facetrail.services.views import plain

console = Console()
err_console = Console(stderr=True)


class _Output:
    """How this command prints: set from its ``--json`` option as the command line is parsed
    (and reset for each command, which matters when several run in one process)."""

    json = False


OUTPUT = _Output()


def print_json(value: Any) -> None:
    print(json.dumps(plain(value), indent=2))


def print_error(code: str, message: str, subject: str | None = None) -> None:
    """A refusal or failure: with ``--json`` the object ``{"error": {code, message,
    subject}}`` on stdout (the API's problem ``code``, ``detail`` and ``subject``), else one
    line on stderr."""
    if OUTPUT.json:
        print_json({"error": {"code": code, "message": message, "subject": subject}})
        return
    said = f"{subject}: {message}" if subject else message
    err_console.print(f"[red]error[/red] {escape(f'[{code}] {said}')}")


def is_terminal() -> bool:
    """Whether a person is reading: stdout is a terminal, not a pipe or a file."""
    return sys.stdout.isatty()


def print_rows(
    headers: Sequence[str], rows: Iterable[Sequence[object]], *, empty: str | None = None
) -> None:
    """A list: a table on a terminal (``empty`` said when there is nothing); piped, a header
    line and one tab-separated line per row, no colour, for ``cut``, ``awk`` and ``sort``."""
    cells = [[_cell(value) for value in row] for row in rows]
    if not is_terminal():
        for line in [list(headers), *cells]:
            print("\t".join(line))
        return
    if not cells and empty is not None:
        console.print(escape(empty))
        return
    table = Table(*(Column(header, overflow="fold") for header in headers))
    for line in cells:
        table.add_row(*(escape(value) for value in line))
    console.print(table)


#: A list's column: its header and the item's field of that name, or a function of the item.
ListColumn = str | tuple[str, str | Callable[[Any], object]]


def print_listing(
    items: Sequence[Any], columns: Sequence[ListColumn], *, as_json: bool, empty: str | None = None
) -> None:
    """A ``list`` command's output: with ``--json`` the items as the API gives them (every
    field), else ``print_rows`` of ``columns`` (a field name, or a header and a field name or
    function)."""
    if as_json:
        print_json(items)
        return
    named = [(c, c) if isinstance(c, str) else c for c in columns]
    print_rows(
        [header for header, _ in named],
        [
            [field(item) if callable(field) else getattr(item, field) for _, field in named]
            for item in items
        ],
        empty=empty,
    )


def print_fields(fields: Sequence[tuple[str, object]]) -> None:
    """One thing: ``name: value`` lines on a terminal; piped, ``name<TAB>value`` lines."""
    sep = ": " if is_terminal() else "\t"
    for name, value in fields:
        print(f"{name}{sep}{_cell(value)}")


def _cell(value: object) -> str:
    """A value as one cell: lists joined with commas, nothing as empty, no tab or line break
    (they would split the row)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        text = ",".join(_cell(v) for v in value)
    elif isinstance(value, dict):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    else:
        text = str(value)
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def fmr_text(estimate: Any) -> str:
    if estimate is None:
        return "uncalibrated"
    return f"{'<' if estimate.upper_bound else ''}{estimate.fmr:.2e}"


def show_search_result(result: Any, crops: Path | None, as_json: bool, of: OutputOf) -> None:
    """What ``search`` and ``searches show`` print: crops written (as new files; a refusal
    audited after ``of``), then JSON or the table."""
    crop_paths = write_crops(result, crops, of)
    if as_json:
        print_json(search_json(result, crop_paths))
    else:
        print_search_result(result, crops)


def write_crops(result: Any, folder: Path | None, of: OutputOf) -> dict[int, str]:
    """Write each candidate's face crop (when the service returned one) as a new file;
    candidate id -> path."""
    if folder is None:
        return {}
    new_output_folder(folder)
    paths: dict[int, str] = {}
    for c in result.candidates:
        if c.crop_jpeg:
            path = folder / f"candidate{c.id}-rank{c.rank:03d}-{c.image_sha256[:12]}.jpg"
            write_output(path, c.crop_jpeg, of)
            paths[c.id] = str(path)
    return paths


def search_json(result: Any, crop_paths: dict[int, str]) -> dict[str, Any]:
    data: dict[str, Any] = plain(result)
    for cand in data["candidates"]:
        cand["crop_path"] = crop_paths.get(cand["id"])
    return data


def print_search_result(result: Any, crops: Path | None) -> None:
    """A stored search: its state, and when done the candidates, the reviews this viewer may
    see, the lead notice and what produced them."""
    console.print(
        f"search {result.search_id}: [bold]{result.status}[/bold]  case "
        f"{escape(result.case_number)} ({escape(result.offense)}) by "
        f"{escape(result.requester)} of {escape(result.agency)}"
        + (f"; outcome {result.outcome}" if result.outcome else "")
    )
    if result.protected_reason:
        console.print(
            f"second reason ({escape(result.offense)} is marked as close to protected "
            f"activity): {escape(result.protected_reason)}"
        )
    if result.status == "pending":
        if result.crowd_faces:
            console.print(
                f"a crowd probe: a photo holds {result.crowd_faces} faces fit to search (a "
                "demonstration or an assembly), which the agency's policy holds for approval"
            )
        console.print("waits for a supervisor of the agency to approve it (facetrail searches)")
        return
    if result.status != "done":
        return
    for f in result.probe_faces:
        mark = "*" if f.used else " "
        console.print(
            f"{mark} probe {escape(f.probe)} face {f.index}: bbox "
            f"{tuple(round(v) for v in f.bbox)} score {f.detector_score:.2f} "
            f"eyes {f.inter_eye_px:.0f}px blur {f.blur:.0f} yaw {f.yaw_deg:.0f}°"
        )
    table = Table(
        "gallery",
        "rank",
        "id",
        Column("score", no_wrap=True),
        Column("FMR", no_wrap=True),
        Column("image", overflow="fold"),
        "subject",
        "source",
    )
    for c in result.candidates:
        table.add_row(
            escape(c.gallery),
            str(c.rank),
            str(c.id),
            f"{c.score:.3f}",
            fmr_text(c.false_match),
            escape(c.image_name),
            escape(c.subject_ref or ""),
            escape(c.source.name),
        )
    console.print(table)
    for c in result.candidates:
        if c.erased is not None:
            console.print(
                f"candidate {c.id}: the person was erased on request on {c.erased.erased_at} "
                f"(receipt {c.erased.receipt_id})"
            )
        for r in c.reviews:
            console.print(
                f"candidate {c.id} review {r.stage} by {escape(r.reviewer)}: {r.decision} "
                f"({escape(r.note)}) at {r.at}"
            )
    if crops is not None and result.candidates:
        console.print(f"face crops of the candidates in {escape(str(crops))}")
    console.print(f"[yellow]{escape(result.notice)}[/yellow]")
    for gallery, p in result.produced_by.items():
        console.print(f"gallery {escape(gallery)}: {p.size} templates, {p.pack}, {p.index}")
    if result.second_review:
        console.print("each candidate needs two independent reviews before it can be a lead")
