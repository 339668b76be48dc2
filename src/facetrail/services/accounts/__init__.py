"""Organisations, people and access: granted in the system, never claimed.

Authorisation: ``init_system`` only on an empty system; ``create_agency`` by a system admin;
``create_user`` by a system admin or the head of the same agency; ``suspend_account`` by a
supervisor or head of the same agency (or a system admin). ``request_account`` needs no
account (approving one: ``services.accounts.account_approval``). An account's e-mail is on a domain
its agency registered (``services.accounts.agency_domains``). Audit: every action and every refusal
is an entry (refusals in their own transaction, since the refused action's transaction rolls
back).
"""

from facetrail.governance.credentials import Principal
from facetrail.services.accounts.organisation import (
    create_agency,
    create_network,
    create_user,
    init_system,
    set_roles,
    suspend_account,
)
from facetrail.services.accounts.policies import (
    current_policy,
    policy_row_problem,
    write_policy_version,
)
from facetrail.services.accounts.records import (
    ENROL_CODE_LIFETIME,
    Enrolment,
    NewAccount,
    agency_by_name,
    checked_account,
    principal_of,
    send_enrol_code,
    user_by_name,
)
from facetrail.services.accounts.requests import REQUESTABLE_ROLES, request_account
from facetrail.services.authorization import as_utc, inactive_reason, utc_now
from facetrail.services.unit_of_work import refuse

__all__ = [
    "ENROL_CODE_LIFETIME",
    "REQUESTABLE_ROLES",
    "Enrolment",
    "NewAccount",
    "Principal",
    "agency_by_name",
    "as_utc",
    "checked_account",
    "create_agency",
    "create_network",
    "create_user",
    "current_policy",
    "inactive_reason",
    "init_system",
    "policy_row_problem",
    "principal_of",
    "refuse",
    "request_account",
    "send_enrol_code",
    "set_roles",
    "suspend_account",
    "user_by_name",
    "utc_now",
    "write_policy_version",
]
