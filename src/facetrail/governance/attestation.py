"""The investigator's attestation, and the second reason a search under an offense category
close to protected activity needs.

Laws that govern police face recognition forbid using it on people for exercising their rights
to speak, assemble or worship (Washington's RCW 43.386 among them). Every search records that
its requester attested, in the words of ``ATTESTATION``, that it does not; a search without it
is refused. Where the agency's policy marks the case's offense category as close to protected
activity (``Policy.protected_offenses``: unlawful assembly, obstruction, trespass at a public
event), the requester also names, in a second reason of their own, the conduct apart from the
protected activity that the search is about. Both go into the ``search.request`` entry, where
the supervisor deciding it, the auditors and the alert rules read them.

Pure values and checks; ``services.searching`` applies them before any probe is processed.
"""

from __future__ import annotations

from facetrail.errors import AttestationError
from facetrail.governance.policy import Policy

__all__ = ["ATTESTATION", "MIN_PROTECTED_REASON", "attestation_problem", "protected_reason_asked"]

#: What every requester attests to, recorded word for word with each search.
ATTESTATION = (
    "I attest that this search does not target any person for exercising their rights to "
    "speak, assemble, protest, worship or petition, and is not based on their taking part "
    "in such activity alone."
)

#: The shortest second reason a search under a marked offense category takes.
MIN_PROTECTED_REASON = 30


def protected_reason_asked(policy: Policy, offense: str) -> bool:
    """Whether a search under ``offense`` needs the second, named reason."""
    return offense in policy.protected_offenses


def attestation_problem(
    policy: Policy, offense: str, justification: str, attested: bool, protected_reason: str
) -> AttestationError | None:
    """Why a search may not run on what its requester attested and said, or None."""
    if not attested:
        return AttestationError(
            "attest that the search does not target anyone for exercising protected rights "
            f"(speech, assembly, worship): {ATTESTATION}",
            subject="attest",
        )
    if not protected_reason_asked(policy, offense):
        return None
    reason = " ".join(protected_reason.split())
    if len(reason) < MIN_PROTECTED_REASON:
        return AttestationError(
            f"the agency marks {offense!r} as close to protected activity: name the conduct, "
            "apart from taking part in a demonstration or gathering, that this search is about, "
            f"in a second reason of at least {MIN_PROTECTED_REASON} characters",
            subject="protected_reason",
        )
    if reason.casefold() == " ".join(justification.split()).casefold():
        return AttestationError(
            "the second reason repeats the justification: name the conduct, apart from taking "
            "part in a demonstration or gathering, that this search is about",
            subject="protected_reason",
        )
    return None
