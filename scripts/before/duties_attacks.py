"""Two attacks of issue 21 section 3, as they went through on the code before duties were
kept apart (main at ba61a5b; this script uses that code's API and does not run on later code,
where ``tests/security/test_duties_apart.py`` holds the same attacks refused):

    git worktree add /tmp/before ba61a5b && ln -s "$PWD/.venv" /tmp/before/.venv
    cd /tmp/before && PYTHONPATH=src:. .venv/bin/python "$OLDPWD/scripts/before/duties_attacks.py"

It prints what each attack obtained: a sock puppet approved by its own supervisor alone, and a
head's relaxation of the approval rule in force at once, told to herself only."""

import tempfile
from pathlib import Path

from sqlalchemy import select
from tests.org import AGENCY, PASSWORD, make_org

from facetrail.config import Settings
from facetrail.governance.policy import ApprovalMode
from facetrail.services import accounts as acc
from facetrail.services.context import AppContext
from facetrail.services.notifications import inbox
from facetrail.services.oversight import policy as policy_service
from facetrail.store.schema import User

tmp = Path(tempfile.mkdtemp())
ctx = AppContext.open(Settings(home=tmp / "home", threads=1))
org = make_org(ctx)
sam, head = org.people["sam"], org.people["head"]
# 1. sam asks for an account in a name of his choosing and approves it himself.
acc.request_account(
    ctx, acc.NewAccount("sid", "sid@county.example", PASSWORD, AGENCY, supervisor="sam")
)
acc.approve_account(ctx, sam, "sid")
with ctx.sessions() as s:
    status = s.scalar(select(User.status).where(User.username == "sid"))
print("attack 1: sid, requested naming sam and approved by sam alone, is", status)
# 2. the head switches prior approval off; it takes effect at once, and only she is told.
current = policy_service.show_policy(ctx, head, AGENCY).policy
before = current.approval
relaxed = policy_service.amend_policy(
    ctx, head, AGENCY, {"approval": ApprovalMode.NEVER.value}, "no more prior approvals"
)
told = [
    (who, m.subject)
    for who in ("head", "sam", "ivy")
    for m in inbox(ctx, org.people[who].user_id)
    if "policy" in m.subject.lower()
]
print(
    f"attack 2: approval {before} -> {relaxed.policy.approval} in force as version "
    f"{relaxed.version}; policy notices: {told}"
)
