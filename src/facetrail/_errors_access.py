"""The typed errors of who may do what (``facetrail.errors``): signing in and accounts, the
policy that refuses a search before its probe is looked at, the two-person rule, agencies'
e-mail domains, second factors, password resets and the secrets sealed at rest.
"""

from __future__ import annotations

from facetrail._errors_base import (
    FacetrailError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    StateError,
)

# --- accounts and authorisation -------------------------------------------------------------


class AuthError(FacetrailError):
    """Wrong password, wrong or missing second factor, unknown user: deliberately vague."""

    code = "auth_failed"


class AccountLockedError(AuthError):
    code = "account_locked"


class AccountInactiveError(AuthError):
    """Requested (not yet approved), suspended, or an expired trial."""

    code = "account_inactive"


class TokenInvalidError(AuthError):
    code = "token_invalid"


class NotLoggedInError(AuthError):
    """A command that acts as a user was run without ``facetrail login``."""

    code = "not_logged_in"


class AccountExistsError(FacetrailError):
    code = "account_exists"


class ErasedError(NotFoundError):
    """What was asked for belonged to a person erased on request: only its tombstone is left
    (when, and the receipt)."""

    code = "erased"


class RateLimitedError(FacetrailError):
    """Too many of these requests in a short time (e.g. unauthenticated account requests)."""

    code = "rate_limited"
    #: seconds until another request would be accepted, when known
    retry_after: int | None = None


# --- policy: a search refused before its probe is looked at ---------------------------------


class PolicyRefusedError(PermissionDeniedError):
    code = "policy_refused"


class CaseNumberError(PolicyRefusedError):
    code = "case_number_invalid"


class OffenseNotAllowedError(PolicyRefusedError):
    code = "offense_not_allowed"


class JustificationError(PolicyRefusedError):
    code = "justification_too_short"


class GalleryNotAllowedError(PolicyRefusedError):
    code = "gallery_not_allowed"


class DailyLimitError(PolicyRefusedError):
    code = "daily_limit_reached"


class AttestationError(PolicyRefusedError):
    """A search asked for without the requester's attestation that it does not target anyone
    for exercising protected rights, or, under an offense category the agency marks as close
    to protected activity, without the second, named reason the policy asks for."""

    code = "attestation_missing"


class CrowdProbeError(PolicyRefusedError):
    """A probe photo holds more searchable faces than the agency's policy allows (a crowd:
    a demonstration, an assembly), and the policy refuses such probes."""

    code = "crowd_probe"


class ReviewError(PermissionDeniedError):
    """A review that the two-person rule does not allow (e.g. the same person twice)."""

    code = "review_refused"


class EmailDomainError(InvalidRequestError):
    """An account's e-mail is not on a domain its agency registered."""

    code = "email_domain_not_registered"


class NoEmailDomainError(StateError):
    """The agency has registered no e-mail domain yet: its head registers one first."""

    code = "agency_has_no_email_domain"


# --- credentials: second-factor enrolment, password resets, secrets at rest -----------------


class EnrolmentRequiredError(AuthError):
    """The account has no second factor yet: its owner enrols one (``facetrail enrol``)."""

    code = "mfa_enrolment_required"


class PasswordChangeRequiredError(AuthError):
    """The password is a one-time one from a reset: its owner sets their own first."""

    code = "password_change_required"


class SecretsKeyError(FacetrailError):
    """The key that seals TOTP secrets at rest is missing, unreadable or not the one that
    sealed them."""

    code = "secrets_key_unusable"


class SessionTokenFileError(FacetrailError):
    """The session token file is a link or not a plain file of this user: never followed."""

    code = "session_token_file_unsafe"
