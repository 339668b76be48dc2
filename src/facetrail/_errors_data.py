"""The typed errors of what facetrail reads, computes and keeps (``facetrail.errors``): images
taken in, model packs, faces and searches, the store and its indexes, evaluation datasets,
and the paths, fields and output files a request names.
"""

from __future__ import annotations

from facetrail._errors_base import FacetrailError, InvalidRequestError

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


class ProbeQualityError(FacetrailError):
    """The probe's face is too poor to search (small, blurred, turned away) and the agency's
    policy refuses such probes (``Policy.low_quality_probes``)."""

    code = "probe_quality"


class PackMismatchError(FacetrailError):
    """Templates made by different packs are never compared."""

    code = "pack_mismatch"


class SearchFailedError(FacetrailError):
    """The search engine failed for a reason of the system's own (not the probe's): the
    search is recorded as failed, does not count against the daily limit and can be re-run."""

    code = "search_failed"


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


class DatabaseUnavailableError(StoreError):
    """The database cannot be reached just now (its server down, restarting, or the
    connection dropped): nothing was done; the same request may be sent again shortly."""

    code = "database_unavailable"
    #: seconds a client waits before it asks again (the answer's ``Retry-After``)
    retry_after = 5


class StorageFullError(StoreError):
    """A disk (or the database's) has no room left for what was being written: nothing of it
    was stored (a partial file is removed, the transaction rolled back); what is stored
    already can still be read. The subject names what could not be written."""

    code = "storage_full"


class RateLimitStoreError(StoreError):
    """The shared store the rate limits are counted in (Redis) cannot be reached: the request
    is not let through uncounted; it may be sent again shortly."""

    code = "rate_limit_store_unavailable"
    retry_after = 5


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


class IndexIntegrityError(VectorIndexError):
    """A gallery's index still disagreed with the stored templates after it was rebuilt from
    them: a fault of the system's own, never of the probe (nothing is shown or stored)."""

    code = "index_integrity"


# --- evaluation -----------------------------------------------------------------------------


class DatasetError(FacetrailError):
    code = "dataset_invalid"


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
