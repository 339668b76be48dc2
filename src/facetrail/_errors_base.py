"""The base of facetrail's typed errors (``facetrail.errors``), ``FacetrailError``, with its
stable ``code`` and the thing that failed, and the general kinds the errors of each topic
refine: an invalid request, a permission denied, a thing not found, a wrong state, and a
setting facetrail cannot use.
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


class InvalidRequestError(FacetrailError):
    code = "invalid_request"


class PermissionDeniedError(FacetrailError):
    code = "permission_denied"


class NotFoundError(FacetrailError):
    code = "not_found"


class StateError(FacetrailError):
    """The thing is not in a state that allows this (e.g. approving a search twice)."""

    code = "wrong_state"


class SettingError(FacetrailError):
    """A ``FACETRAIL_*`` setting holds a value facetrail cannot use: refused when the
    settings are read, before anything starts. The subject names the variable."""

    code = "setting_invalid"
