"""What the gallery actions are sent: a gallery made, a source recorded, corrected or retired,
and a folder ingested."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from facetrail.edge.bodies import Body
from facetrail.services.galleries import admin, sources

__all__ = ["Ingestion", "NewGallery", "NewSource", "RetireSource", "SourceChanges"]

Short = Annotated[str, Field(min_length=1, max_length=200)]
Long = Annotated[str, Field(min_length=1, max_length=2000)]
Date = Annotated[str, Field(description="ISO date", max_length=40)]
Days = Annotated[int, Field(ge=1, le=36500)]


class NewGallery(Body):
    name: Short
    description: Annotated[str, Field(max_length=2000)] = ""
    pack: Annotated[str | None, Field(max_length=100)] = None
    #: a staff gallery of this agency (never searched; the staff_match alert rule's)
    staff_of: Annotated[str | None, Field(max_length=200)] = None


class NewSource(Body):
    name: Short
    kind: Short
    legal_basis: Long
    supplied_by: Short
    collected_at: Date
    retention_days: Days

    def request(self, gallery: str) -> admin.CreateSourceRequest:
        """The service's request to record this source in ``gallery``."""
        return admin.CreateSourceRequest(
            gallery,
            self.name,
            self.kind,
            self.legal_basis,
            self.supplied_by,
            self.collected_at,
            self.retention_days,
        )


class SourceChanges(Body):
    reason: Annotated[str, Field(min_length=1, max_length=2000, description="Why it changes")]
    kind: Short | None = None
    legal_basis: Long | None = None
    supplied_by: Short | None = None
    collected_at: Date | None = None
    retention_days: Days | None = None

    def request(self, gallery: str, source: str) -> sources.EditSourceRequest:
        """The service's request to change these fields of ``source`` (None: kept)."""
        return sources.EditSourceRequest(
            gallery,
            source,
            self.reason,
            self.kind,
            self.legal_basis,
            self.supplied_by,
            self.collected_at,
            self.retention_days,
        )


class RetireSource(Body):
    reason: Annotated[str, Field(min_length=1, max_length=2000, description="Why it retires")]


class Ingestion(Body):
    source: Short
    path: Annotated[
        str,
        Field(
            min_length=1,
            max_length=4096,
            description="A folder on the server, under an import root (FACETRAIL_IMPORT_ROOTS)",
        ),
    ]
    manifest: Annotated[
        str | None,
        Field(max_length=4096, description="A CSV (file,subject_ref) under an import root"),
    ] = None
