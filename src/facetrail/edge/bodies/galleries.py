"""What the gallery actions are sent: a gallery made, a source recorded, corrected or retired,
and a folder ingested."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from facetrail.edge.bodies import Body

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


class SourceChanges(Body):
    reason: Annotated[str, Field(min_length=1, max_length=2000, description="Why it changes")]
    kind: Short | None = None
    legal_basis: Long | None = None
    supplied_by: Short | None = None
    collected_at: Date | None = None
    retention_days: Days | None = None


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
