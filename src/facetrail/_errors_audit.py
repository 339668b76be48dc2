"""The typed errors of the audit log (``facetrail.errors``): its signing key, unreadable
inputs and signed notes, witnesses that refuse a checkpoint, and stored records (rows,
photos) that disagree with what the log vouches for.
"""

from __future__ import annotations

from facetrail._errors_base import FacetrailError

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


class TilesConflictError(AuditLogError):
    """Published tiles (c2sp.org/tlog-tiles) that the log's database does not give: a full
    tile with other bytes, a checkpoint it never signed, or entries changed since signing."""

    code = "tiles_conflict"


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


# --- records held to the log ----------------------------------------------------------------


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
