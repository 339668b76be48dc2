"""Agency policy commands: show, history, set (every change a new, audited version), and the
second person's confirm or refuse of a change that relaxes the agency's oversight."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from facetrail.cli.app import JsonOpt, as_signed_in, policy_app
from facetrail.cli.render import console, print_json, print_rows
from facetrail.errors import InvalidRequestError
from facetrail.governance.policy import ApprovalMode
from facetrail.governance.policy_words import rules_in_words
from facetrail.services.oversight import policy as policy_service
from facetrail.services.oversight import policy_proposals


def _list_option(flag: str, what: str) -> Any:
    return typer.Option(
        flag,
        help=f"{what} (repeatable; replaces the current list; once with '' empties it).",
    )


GalleriesOpt = Annotated[list[str] | None, _list_option("--gallery", "A gallery it may search")]
OffensesOpt = Annotated[list[str] | None, _list_option("--offense", "An offense it may search for")]
ApprovalOffensesOpt = Annotated[
    list[str] | None,
    _list_option("--approval-offense", "An offense whose searches need prior approval"),
]
ProtectedOffensesOpt = Annotated[
    list[str] | None,
    _list_option(
        "--protected-offense",
        "An offense close to protected activity: its searches need a second, named reason",
    ),
]


def _info_json(info: policy_service.PolicyInfo) -> dict[str, Any]:
    return {
        "agency": info.agency,
        "version": info.version,
        "policy": info.policy.to_dict(),
        "changed_by": info.changed_by,
        "reason": info.reason,
        "at": info.at,
        "weakened": info.weakened,
        "proposal": info.proposal,
    }


def _print_info(info: policy_service.PolicyInfo) -> None:
    console.print(
        f"[bold]{escape(info.agency)}[/bold] policy version {info.version}, set by "
        f"{escape(info.changed_by)} at {info.at}: {escape(info.reason)}"
    )
    for rule, value in rules_in_words(info.policy):
        console.print(f"  {escape(rule)}: {escape(value) or '(none)'}")
    for w in info.weakened:
        console.print(f"  [yellow]relaxed:[/yellow] {escape(w)}")
    if (p := info.proposal) is not None and p.status == "pending":
        console.print(
            f"[yellow]not in force yet:[/yellow] relaxation {p.id} waits for a second person "
            f"outside your say-so (a system admin, the network's operator or an auditor) to "
            f"confirm it: facetrail policy confirm {p.id} --note ..."
        )
        for w in p.relaxed:
            console.print(f"  [yellow]would relax:[/yellow] {escape(w)}")


NoteOpt = Annotated[str, typer.Option(help="Why (recorded, told to the head and proposer).")]


@policy_app.command("relaxations")
def policy_relaxations(
    agency: Annotated[str | None, typer.Argument(help="Default: your own agency.")] = None,
    status: Annotated[
        str | None, typer.Option(help="pending, confirmed, refused or withdrawn.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Proposed relaxations of an agency's oversight and what became of them."""
    found = as_signed_in(
        lambda ctx, me: policy_proposals.list_relaxations(ctx, me, agency or me.agency, status)
    )
    if as_json:
        print_json(found)
        return
    print_rows(
        ["id", "status", "proposed", "by", "decided", "by", "relaxes"],
        [
            (r.id, r.status, r.proposed_at, r.proposed_by, r.decided_at or "",
             r.decided_by or "", "; ".join(r.relaxed))
            for r in found
        ],
        empty="no relaxation proposed",
    )  # fmt: skip


@policy_app.command("confirm")
def policy_confirm(relaxation: int, note: NoteOpt, as_json: JsonOpt = False) -> None:
    """Confirm a proposed relaxation of an agency's oversight, which takes effect now (a
    system admin, the network's operator, or an auditor of the agency; not its proposer)."""
    done = as_signed_in(
        lambda ctx, me: policy_proposals.confirm_relaxation(ctx, me, relaxation, note)
    )
    if as_json:
        print_json(done)
    else:
        console.print(f"confirmed relaxation {done.id}: {escape(done.agency)} policy version "
                      f"{done.version} is in force")  # fmt: skip


@policy_app.command("refuse")
def policy_refuse(relaxation: int, note: NoteOpt, as_json: JsonOpt = False) -> None:
    """Refuse a proposed relaxation of an agency's oversight: the policy stays as it is."""
    done = as_signed_in(
        lambda ctx, me: policy_proposals.refuse_relaxation(ctx, me, relaxation, note)
    )
    if as_json:
        print_json(done)
    else:
        console.print(f"refused relaxation {done.id} of {escape(done.agency)}")


@policy_app.command("show")
def policy_show(
    agency: Annotated[str | None, typer.Argument(help="Default: your own agency.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The policy in force for an agency."""
    info = as_signed_in(lambda ctx, me: policy_service.show_policy(ctx, me, agency or me.agency))
    print_json(_info_json(info)) if as_json else _print_info(info)


@policy_app.command("history")
def policy_history(agency: str, as_json: JsonOpt = False) -> None:
    """Every version of an agency's policy, who set it, why, and what it relaxed."""
    infos = as_signed_in(lambda ctx, me: policy_service.policy_history(ctx, me, agency))
    if as_json:
        print_json([_info_json(i) for i in infos])
        return
    table = Table("version", "at", "by", "reason", "relaxed")
    for i in infos:
        table.add_row(
            str(i.version),
            i.at,
            escape(i.changed_by),
            escape(i.reason),
            escape("; ".join(i.weakened)),
        )
    console.print(table)


def _names(values: list[str] | None) -> list[str] | None:
    """A repeatable option's values as the new list (None: not given, keep the current)."""
    return None if values is None else [v.strip() for v in values if v.strip()]


@policy_app.command("set")
def policy_set(
    agency: str,
    reason: Annotated[
        str, typer.Option(help="Why the policy changes (recorded, told to the head).")
    ],
    galleries: GalleriesOpt = None,
    offenses: OffensesOpt = None,
    approval: Annotated[
        ApprovalMode | None, typer.Option(help="When a supervisor must approve a search first.")
    ] = None,
    approval_offenses: ApprovalOffensesOpt = None,
    protected_offenses: ProtectedOffensesOpt = None,
    second_reviewer: Annotated[
        bool | None, typer.Option(help="Whether a second person reviews each candidate.")
    ] = None,
    daily_limit: Annotated[int | None, typer.Option(help="Searches per person per day.")] = None,
    min_justification: Annotated[
        int | None, typer.Option(help="Characters a justification needs at least.")
    ] = None,
    case_pattern: Annotated[
        str | None, typer.Option(help="Regular expression case numbers must match.")
    ] = None,
    probe_retention_days: Annotated[int | None, typer.Option()] = None,
    trial_days: Annotated[int | None, typer.Option(help="How long trial accounts last.")] = None,
    digest: Annotated[
        str | None, typer.Option(help="How often the head gets a digest: daily or weekly.")
    ] = None,
    crowd_faces: Annotated[
        int | None,
        typer.Option(help="A probe photo with more faces fit to search than this is a crowd."),
    ] = None,
    crowd_probes: Annotated[
        str | None,
        typer.Option(help="What a crowd probe gets: approval (held for a supervisor) or refuse."),
    ] = None,
    alert: Annotated[
        list[str] | None,
        typer.Option(
            help="An alert rule setting, NAME=VALUE (repeatable): stale_days=7, "
            "disabled=hours,trial (the rules turned off; disabled= turns all on), "
            "protected_words=protest,vigil (the words the protected_activity rule looks for)."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """A new version of an agency's policy: fields not given keep their current value."""
    given: dict[str, Any] = {
        "galleries": _names(galleries),
        "offenses": _names(offenses),
        "approval": approval.value if approval is not None else None,
        "approval_offenses": _names(approval_offenses),
        "protected_offenses": _names(protected_offenses),
        "second_reviewer": second_reviewer,
        "daily_limit": daily_limit,
        "min_justification": min_justification,
        "case_pattern": case_pattern,
        "probe_retention_days": probe_retention_days,
        "trial_days": trial_days,
        "digest": digest,
        "crowd_faces": crowd_faces,
        "crowd_probes": crowd_probes,
        "alerts": _alert_settings(alert) if alert else None,
    }
    changes = {k: v for k, v in given.items() if v is not None}
    info = as_signed_in(
        lambda ctx, me: policy_service.amend_policy(ctx, me, agency, changes, reason)
    )
    print_json(_info_json(info)) if as_json else _print_info(info)


def _alert_settings(given: list[str]) -> dict[str, object]:
    """``NAME=VALUE`` pairs as the policy's alert settings take them (numbers as numbers;
    ``disabled`` a comma-separated list of rules, ``protected_words`` of words)."""
    settings: dict[str, object] = {}
    for pair in given:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidRequestError(
                f"--alert takes NAME=VALUE, not {pair!r}", subject="policy.alerts"
            )
        name, value = name.strip(), value.strip()
        if name in ("disabled", "protected_words"):
            settings[name] = [r.strip() for r in value.split(",") if r.strip()]
            continue
        try:
            settings[name] = int(value)
        except ValueError:
            try:
                settings[name] = float(value)
            except ValueError:
                raise InvalidRequestError(
                    f"--alert {name}: a number, not {value!r}", subject=f"policy.alerts.{name}"
                ) from None
    return settings
