"""Typed errors. Each carries a stable ``code`` and names the thing that failed.

The CLI prints ``code: message`` and exits non-zero; the API (later) maps codes to HTTP
statuses. Never raise a bare ``Exception`` from facetrail code.
"""

from __future__ import annotations


class FacetrailError(Exception):
    """Base of every error facetrail raises on purpose."""

    code: str = "facetrail_error"

    def __init__(self, message: str, *, subject: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: The file, gallery, pack, ... the error is about.
        self.subject = subject

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}" if self.subject else self.message


# --- image intake ---------------------------------------------------------------------------


class ImageError(FacetrailError):
    code = "image_error"


class EmptyImageError(ImageError):
    code = "image_empty"


class NotAnImageError(ImageError):
    code = "image_not_an_image"


class UnsupportedImageFormatError(ImageError):
    code = "image_unsupported_format"


class CorruptImageError(ImageError):
    code = "image_corrupt"


class ImageTooLargeError(ImageError):
    """The file is over the byte limit or the image over the pixel limit (decompression bomb)."""

    code = "image_too_large"


class ImageReadError(ImageError):
    code = "image_unreadable"


# --- models ---------------------------------------------------------------------------------


class ModelPackError(FacetrailError):
    code = "model_pack_error"


class UnknownPackError(ModelPackError):
    code = "model_pack_unknown"


class PackNotInstalledError(ModelPackError):
    code = "model_pack_not_installed"


class ModelIntegrityError(ModelPackError):
    code = "model_integrity"


# --- faces / pipeline -----------------------------------------------------------------------


class NoFaceError(FacetrailError):
    code = "no_face"


class FaceIndexError(FacetrailError):
    code = "face_index_out_of_range"


class PackMismatchError(FacetrailError):
    """Templates made by different packs are never compared."""

    code = "pack_mismatch"


# --- store ----------------------------------------------------------------------------------


class StoreError(FacetrailError):
    code = "store_error"


class SchemaOutdatedError(StoreError):
    """The database was made by another facetrail version: a table lacks a column this one
    needs. Nothing is read or written."""

    code = "schema_outdated"


class DatabaseUnreadableError(StoreError):
    """The database cannot be opened as one (not a database, damaged, or not readable)."""

    code = "database_unreadable"


class NoHomeError(StoreError):
    """There is no facetrail home where the command looked (nothing was created)."""

    code = "no_home"


class DatabaseDriverMissingError(StoreError):
    """The database URL names a driver that is not installed (an optional extra)."""

    code = "database_driver_missing"


class MigrationRefusedError(StoreError):
    """A migration found rows it cannot carry into the schema it makes (a status outside the
    values a new CHECK constraint allows, an id too large for a narrower column) and stopped
    before changing anything; the subject names the table and column."""

    code = "migration_refused"


class GalleryNotFoundError(StoreError):
    code = "gallery_not_found"


class GalleryExistsError(StoreError):
    code = "gallery_exists"


class SourceNotFoundError(StoreError):
    code = "source_not_found"


class SourceExistsError(StoreError):
    code = "source_exists"


class ManifestError(StoreError):
    code = "ingest_manifest_invalid"


class VectorIndexError(StoreError):
    code = "index_error"


# --- evaluation -----------------------------------------------------------------------------


class DatasetError(FacetrailError):
    code = "dataset_invalid"


class InvalidRequestError(FacetrailError):
    code = "invalid_request"


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


class PermissionDeniedError(FacetrailError):
    code = "permission_denied"


class AccountExistsError(FacetrailError):
    code = "account_exists"


class NotFoundError(FacetrailError):
    code = "not_found"


class ErasedError(NotFoundError):
    """What was asked for belonged to a person erased on request: only its tombstone is left
    (when, and the receipt)."""

    code = "erased"


class NotLoggedInError(AuthError):
    """A command that acts as a user was run without ``facetrail login``."""

    code = "not_logged_in"


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


class ReviewError(PermissionDeniedError):
    """A review that the two-person rule does not allow (e.g. the same person twice)."""

    code = "review_refused"


class StateError(FacetrailError):
    """The thing is not in a state that allows this (e.g. approving a search twice)."""

    code = "wrong_state"


class EmailDomainError(InvalidRequestError):
    """An account's e-mail is not on a domain its agency registered."""

    code = "email_domain_not_registered"


class NoEmailDomainError(StateError):
    """The agency has registered no e-mail domain yet: its head registers one first."""

    code = "agency_has_no_email_domain"


# --- the audit log's keys, checkpoints and witnesses ----------------------------------------


class AuditLogError(FacetrailError):
    code = "audit_log_error"


class SigningKeyUnavailableError(AuditLogError):
    """The checkpoint signing key is absent or not readable by this process (by design for
    every process but the checkpointer)."""

    code = "audit_signing_key_unavailable"


class AuditInputError(AuditLogError):
    """A database, key, checkpoint or request file that cannot be read or parsed."""

    code = "audit_input_unreadable"


class NoteError(AuditInputError):
    """A malformed or unverifiable C2SP signed note, checkpoint or key."""

    code = "signed_note_invalid"


class WitnessRefusedError(AuditLogError):
    """A witness refused a checkpoint: the log is not the one it saw (tlog-witness)."""

    code = "witness_refused"


class WitnessUnknownLogError(WitnessRefusedError):
    """The checkpoint's origin is not the log this witness follows (HTTP 404)."""

    code = "witness_unknown_log"


class WitnessSignatureError(WitnessRefusedError):
    """No signature of the trusted log key verifies (HTTP 403)."""

    code = "witness_signature_invalid"


class WitnessConflictError(WitnessRefusedError):
    """The old size is not the size the witness last cosigned, or the same size has another
    root (HTTP 409): a shortened, wiped or forked log."""

    code = "witness_conflict"

    def __init__(self, message: str, *, latest_size: int, subject: str | None = None) -> None:
        super().__init__(message, subject=subject)
        self.latest_size = latest_size


class WitnessInconsistentError(WitnessRefusedError):
    """The consistency proof does not lead from what the witness saw to the new checkpoint
    (HTTP 422): history was rewritten."""

    code = "witness_inconsistent_proof"


class RateLimitedError(FacetrailError):
    """Too many of these requests in a short time (e.g. unauthenticated account requests)."""

    code = "rate_limited"
    #: seconds until another request would be accepted, when known
    retry_after: int | None = None


class RecordMismatchError(FacetrailError):
    """A stored record disagrees with the audit entry that authorised it: it was edited
    outside facetrail, and facetrail will not act on it."""

    code = "record_tampered"


class SealRefusedError(RecordMismatchError):
    """A transaction wrote a row that had been changed outside facetrail: sealing it would
    make the log vouch for that change, so the transaction is rolled back (and the refusal
    logged as ``row.seal.refused``)."""


class BlobMismatchError(RecordMismatchError):
    """A stored photo's bytes no longer hash to the name they are stored under: the file was
    replaced outside facetrail, and facetrail will not show, search or match it."""


# --- input safety: paths and user-supplied text ---------------------------------------------


class PathOutsideFolderError(InvalidRequestError):
    """A file (symlink, manifest row with ``..`` or an absolute path) leads outside the folder
    that was given: facetrail never reads it."""

    code = "path_outside_folder"


class FolderNotAllowedError(InvalidRequestError):
    """A folder (or manifest) facetrail may not read: one of its own (the home, the blobs
    that hold every agency's probes, the index, the keys and secrets), one holding them, or,
    asked for over the service, one outside the import roots its operator configured."""

    code = "folder_not_allowed"


class BrokenLinkError(InvalidRequestError):
    """A symlink that loops or points at nothing: refused, never followed."""

    code = "path_link_broken"


class NotARegularFileError(ImageReadError):
    """A FIFO, device, socket or folder where a file was expected: refused without opening it
    for reading (a FIFO would block for ever)."""

    code = "not_a_regular_file"


class InvalidFieldError(InvalidRequestError):
    """User-supplied text breaks the documented rules for its field (governance/fields.py);
    ``subject`` names the field."""

    code = "invalid_field"


class ReservedNameError(InvalidFieldError):
    """A username that is, or looks like, one facetrail writes its own audit entries under
    (``governance.fields.RESERVED_USERNAMES``): no account may take it."""

    code = "username_reserved"


class OutputPathError(InvalidRequestError):
    """A file or folder to write cannot be written; refused before anything is read or done."""

    code = "output_path_unwritable"


class OutputExistsError(OutputPathError):
    """Something is already at the path of a file to write (a file, perhaps planted by
    another user to receive it, or a symlink): facetrail writes only new files of its own."""

    code = "output_path_exists"


# --- credentials: second-factor enrolment, password resets, secrets at rest ------------------


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


class SearchFailedError(FacetrailError):
    """The search engine failed for a reason of the system's own (not the probe's): the
    search is recorded as failed, does not count against the daily limit and can be re-run."""

    code = "search_failed"


class IndexIntegrityError(VectorIndexError):
    """A gallery's index still disagreed with the stored templates after it was rebuilt from
    them: a fault of the system's own, never of the probe (nothing is shown or stored)."""

    code = "index_integrity"
