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
