"""An agency's policy: the rules in force, every version with what it changed and what it
relaxed, and the head's amendment of a few rules with a reason; the services the API's
``/agencies/{agency}/policy`` routes and the CLI's ``policy`` commands call."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse

from facetrail.api.deps import Context
from facetrail.errors import FacetrailError, NotFoundError, PermissionDeniedError
from facetrail.governance.alerts import RULES
from facetrail.governance.credentials import Role
from facetrail.governance.policy_words import APPROVAL_LABELS, rules_in_words
from facetrail.services.galleries import admin as galleries
from facetrail.services.oversight import policy
from facetrail.web.deps import Form, Signed, Viewer, text
from facetrail.web.policy_view import PolicyForm, versions_newest_first
from facetrail.web.render import page
from facetrail.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)

Agency = Annotated[str, Path(min_length=1, max_length=200)]


def policy_href(agency: str) -> str:
    return f"/agencies/{quote(agency, safe='')}/policy"


@router.get("/policy")
def own_policy(me: Signed) -> Response:
    """The viewer's own agency's policy."""
    return RedirectResponse(policy_href(me.principal.agency), status_code=303)


def _may_amend(me: Viewer, agency: str) -> bool:
    """Whether to offer the form (``services.oversight.policy`` decides whether it is accepted)."""
    who = me.principal
    return who.has(Role.SYSTEM_ADMIN) or (who.has(Role.AGENCY_HEAD) and who.agency == agency)


def _policy_page(
    request: Request,
    ctx: Context,
    me: Viewer,
    agency: str,
    *,
    values: PolicyForm | None = None,
    reason: str = "",
    error: FacetrailError | None = None,
) -> Response:
    """The policy and its history (``policy.policy_history``: the agency's people, auditors,
    system admins, its network's operators; others: not found; audited)."""
    history = policy.policy_history(ctx, me.principal, agency)
    current = history[-1]
    versions = versions_newest_first(history)
    amended = request.query_params.get("amended", "")
    just_made = next((v for v in versions if str(v.info.version) == amended), None)
    proposed = request.query_params.get("proposed", "")
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
        may_amend=_may_amend(me, agency),
        values=values or PolicyForm.of_policy(current.policy),
        shown=PolicyForm.of_policy(current.policy).to_json(),
        reason=reason,
        gallery_names=gallery_names,
        approval_labels=APPROVAL_LABELS,
        alert_rules=RULES,
        action=policy_href(current.agency),
        error=error,
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
    reason = text(form, "reason", default="")
    try:
        changes = values.changes(PolicyForm.of_json(text(form, "was", max_length=60000)))
        if form.get("confirmed") != "yes":
            relaxing = policy.relaxations_of(ctx, me.principal, agency, changes, reason)
            if relaxing.relaxed:  # loosening: say what it allows, then ask again
                return page(
                    "policy_confirm.html",
                    viewer=me,
                    current="/policy" if agency == me.principal.agency else "",
                    agency=agency,
                    relaxing=relaxing,
                    reason=reason,
                    action=policy_href(agency),
                    fields=[
                        (k, v)
                        for k, v in form.multi_items()
                        if k not in ("csrf_token", "confirmed") and isinstance(v, str)
                    ],
                )
        made = policy.amend_policy(ctx, me.principal, agency, changes, reason)
    except (NotFoundError, PermissionDeniedError):
        raise  # not theirs to change: the refusal page, not the form again
    except FacetrailError as error:
        return _policy_page(request, ctx, me, agency, values=values, reason=reason, error=error)
    if made.proposal is not None and made.proposal.status == "pending":  # a second person
        return RedirectResponse(
            f"{policy_href(made.agency)}?proposed={made.proposal.id}", status_code=303
        )
    return RedirectResponse(
        f"{policy_href(made.agency)}?amended={made.version}#history", status_code=303
    )


__all__ = ["policy_href", "router"]
