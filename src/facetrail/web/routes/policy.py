"""An agency's policy: the rules in force, every version with what it changed and what it
relaxed, the head's amendment of a few rules with a reason, and the relaxations waiting for a
second person, confirmed or refused there; the services the API's
``/agencies/{agency}/policy`` routes and the CLI's ``policy`` commands call."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from facetrail.edge.bodies.oversight import Amendment, RelaxationDecision
from facetrail.edge.deps import Context
from facetrail.errors import (
    FacetrailError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from facetrail.governance.alerts import RULES
from facetrail.governance.authority import Permission, may
from facetrail.governance.policy_words import APPROVAL_LABELS, rules_in_words
from facetrail.services.galleries import admin as galleries
from facetrail.services.oversight import policy, policy_proposals
from facetrail.services.oversight.policy_page import policy_page
from facetrail.web.deps import Form, Signed, Viewer, text
from facetrail.web.policy_view import PolicyForm, versions_newest_first
from facetrail.web.render import FormError, page
from facetrail.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)

Agency = Annotated[str, Path(min_length=1, max_length=200)]


def policy_href(agency: str) -> str:
    return f"/agencies/{quote(agency, safe='')}/policy"


@router.get("/policy")
def own_policy(me: Signed) -> Response:
    """The viewer's own agency's policy."""
    return RedirectResponse(policy_href(me.principal.agency), status_code=303)


def _may_amend(me: Viewer) -> bool:
    """Whether to offer the form: whoever the authority module lets change a policy (an
    agency's head, a system admin, a network's operator, who may only tighten it), on a page
    only those who may read the agency see; ``services.oversight.policy`` decides whether the
    change is accepted."""
    return may(me.actor, Permission.CHANGE_POLICY)


def _policy_page(
    request: Request,
    ctx: Context,
    me: Viewer,
    agency: str,
    *,
    values: PolicyForm | None = None,
    reason: str = "",
    error: FacetrailError | None = None,
    decide_error: FacetrailError | None = None,
    decided: int | None = None,
    typed_note: str = "",
) -> Response:
    """The policy, its history and the relaxations waiting (``policy_page.policy_page``: the
    agency's people, auditors, system admins, its network's operators; others: not found; one
    audit entry)."""
    shown = policy_page(ctx, me.principal, agency)
    history, pending = shown.history, shown.pending
    current = history[-1]
    versions = versions_newest_first(history)
    amended = request.query_params.get("amended", "")
    just_made = next((v for v in versions if str(v.info.version) == amended), None)
    proposed = request.query_params.get("proposed", "")
    outcome = request.query_params.get("relaxation", "")
    decided_msg = {
        "confirmed": "The relaxation is confirmed: it is the version in force now.",
        "refused": "The relaxation is refused: the policy stays as it was.",
    }.get(outcome)
    gallery_names = sorted(
        {g.name for g in galleries.list_galleries(ctx)} | set(current.policy.galleries)
    )
    return page(
        "policy.html",
        viewer=me,
        current="/policy" if agency == me.principal.agency else "",
        info=current,
        rules=rules_in_words(current.policy),
        versions=versions,
        just_made=just_made,
        proposed=proposed if proposed.isdigit() else "",
        may_amend=_may_amend(me),
        values=values or PolicyForm.of_policy(current.policy),
        shown=PolicyForm.of_policy(current.policy).to_json(),
        reason=reason,
        gallery_names=gallery_names,
        approval_labels=APPROVAL_LABELS,
        alert_rules=RULES,
        action=policy_href(current.agency),
        error=error,
        pending=pending,
        may_decide=may(me.actor, Permission.CONFIRM_RELAXATIONS),
        min_note=policy_proposals.MIN_NOTE,
        decide_error=decide_error,
        decided=decided,
        typed_note=typed_note,
        decided_msg=decided_msg,
        status=FormError.of(decide_error).status if decide_error is not None else None,
    )


@router.get("/agencies/{agency}/policy")
def show(agency: Agency, request: Request, ctx: Context, me: Signed) -> Response:
    return _policy_page(request, ctx, me, agency)


@router.post("/agencies/{agency}/policy")
def amend(agency: Agency, request: Request, ctx: Context, me: Signed, form: Form) -> Response:
    """A new version changing only the rules the person changed, with their reason
    (``policy.amend_policy``: the head or a system admin; its network's operator may only
    tighten; the head is told what it relaxes; audited, refusals too)."""
    values = PolicyForm.of_form(form)
    try:
        changes = values.changes(PolicyForm.of_json(text(form, "was", max_length=60000)))
        amendment = Amendment.from_form(form, changes=changes)
        if form.get("confirmed") != "yes":
            relaxing = policy.relaxations_of(
                ctx, me.principal, agency, amendment.changes, amendment.reason
            )
            if relaxing.relaxed:  # loosening: say what it allows, then ask again
                return page(
                    "policy_confirm.html",
                    viewer=me,
                    current="/policy" if agency == me.principal.agency else "",
                    agency=agency,
                    relaxing=relaxing,
                    reason=amendment.reason,
                    action=policy_href(agency),
                    fields=[
                        (k, v)
                        for k, v in form.multi_items()
                        if k not in ("csrf_token", "confirmed") and isinstance(v, str)
                    ],
                )
        made = policy.amend_policy(ctx, me.principal, agency, amendment.changes, amendment.reason)
    except (NotFoundError, PermissionDeniedError):
        raise  # not theirs to change: the refusal page, not the form again
    except FacetrailError as error:
        typed = _typed(form, "reason")
        return _policy_page(request, ctx, me, agency, values=values, reason=typed, error=error)
    if made.proposal is not None and made.proposal.status == "pending":  # a second person
        return RedirectResponse(
            f"{policy_href(made.agency)}?proposed={made.proposal.id}", status_code=303
        )
    return RedirectResponse(
        f"{policy_href(made.agency)}?amended={made.version}#history", status_code=303
    )


@router.post("/agencies/{agency}/policy/relaxations/{relaxation_id}")
def decide_relaxation(
    agency: Agency,
    relaxation_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    request: Request,
    ctx: Context,
    me: Signed,
    form: Form,
) -> Response:
    """A second person confirms or refuses a proposed relaxation with a note
    (``policy_proposals.confirm_relaxation`` / ``refuse_relaxation``: who may is theirs to
    decide; audited, refusals too). Confirming loosens the oversight: it asks again first,
    saying what it allows."""
    decision = text(form, "decision", max_length=10, default="")
    try:
        if decision not in ("confirm", "refuse"):
            raise InvalidRequestError("choose confirm or refuse", subject="decision")
        note = RelaxationDecision.from_form(form).note
        if decision == "confirm" and form.get("confirmed") != "yes":
            # The note is held to the service's rule before the page asks again; the decision
            # itself (and any refusal of it, recorded) is the service's.
            if (problem := policy_proposals.note_problem(note)) is not None:
                raise InvalidRequestError(problem, subject="note")
            waiting = policy_proposals.list_relaxations(ctx, me.principal, agency, "pending")
            proposal = next((r for r in waiting if r.id == relaxation_id), None)
            if proposal is not None:
                return page(
                    "relaxation_confirm.html",
                    viewer=me,
                    current="",
                    agency=agency,
                    proposal=proposal,
                    note=note,
                    action=policy_href(agency),
                )
        decide = (
            policy_proposals.confirm_relaxation
            if decision == "confirm"
            else policy_proposals.refuse_relaxation
        )
        decide(ctx, me.principal, relaxation_id, note)
    except (NotFoundError, PermissionDeniedError):
        raise
    except FacetrailError as error:
        return _policy_page(
            request,
            ctx,
            me,
            agency,
            decide_error=error,
            decided=relaxation_id,
            typed_note=_typed(form, "note"),
        )
    outcome = "confirmed" if decision == "confirm" else "refused"
    return RedirectResponse(f"{policy_href(agency)}?relaxation={outcome}#history", 303)


def _typed(form: FormData, name: str) -> str:
    """What was typed in a text field, to show again with its refusal."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


__all__ = ["policy_href", "router"]
