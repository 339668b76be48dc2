"""Crowd probes (private to ``search`` and ``probe_preview``): a probe photo holding more
searchable faces than the agency's policy allows (``Policy.crowd_faces``) is a crowd, a
demonstration or an assembly, and searching a face out of it is governed apart: the policy
holds it for a supervisor's approval or refuses it (``Policy.crowd_probes``).

A face counts when the detector finds it fit to search (``governance.probe_quality``: not too
small, blurred or turned away), so that a poster in the background does not make a booking
photo a crowd, and a crowd is not hidden by one blurred face more."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from facetrail.errors import CrowdProbeError, FacetrailError
from facetrail.governance.policy import Policy
from facetrail.governance.probe_quality import quality_warnings
from facetrail.imaging.decode import decode_image
from facetrail.pipeline.faces import Face
from facetrail.services.context import AppContext
from facetrail.services.galleries.admin import get_gallery_row
from facetrail.services.searching.search_model import ProbeImage, SearchRequest

__all__ = ["Crowd", "count_faces", "crowd_of", "searchable"]


@dataclass(frozen=True)
class Crowd:
    """The searchable faces counted in each probe, against the policy's limit."""

    faces: tuple[int, ...]
    limit: int
    #: "approval" or "refuse" (``Policy.crowd_probes``)
    action: str
    #: the faces found in each probe (pack, its position), for the search to use again
    analysed: Mapping[tuple[str, int], list[Face]] = field(default_factory=dict, repr=False)

    @property
    def is_crowd(self) -> bool:
        return max(self.faces, default=0) > self.limit

    def in_words(self) -> str:
        """Why the search is held or refused, as the investigator reads it before the search."""
        what = (
            "it needs a supervisor's approval first"
            if self.action == "approval"
            else "the agency's policy refuses such a search"
        )
        return (
            f"a crowd probe: the photo holds {max(self.faces)} faces fit to search, more than "
            f"the {self.limit} the policy allows in one photo (a demonstration or an "
            f"assembly); {what}"
        )

    def refusal(self) -> CrowdProbeError:
        return CrowdProbeError(self.in_words(), subject="probes")


def searchable(face: Face) -> bool:
    q = face.quality
    return not quality_warnings(q.inter_eye_px, q.blur, q.yaw_deg)


def count_faces(
    ctx: AppContext, pack: str, probes: tuple[ProbeImage, ...]
) -> tuple[tuple[int, ...], dict[tuple[str, int], list[Face]]]:
    """The searchable faces in each probe, found by ``pack``'s pipeline, and the faces found
    (by pack and probe position: the search of a gallery of that pack, and the preview, take
    them instead of finding them again)."""
    pipeline = ctx.pipeline(pack)
    counts: list[int] = []
    analysed: dict[tuple[str, int], list[Face]] = {}
    for i, probe in enumerate(probes):
        image = decode_image(probe.data, name=probe.name, limits=ctx.limits)
        analysed[(pack, i)] = faces = pipeline.analyse(image.bgr)
        counts.append(sum(1 for f in faces if searchable(f)))
    return tuple(counts), analysed


def crowd_of(ctx: AppContext, request: SearchRequest, policy: Policy) -> Crowd:
    """The request's probes counted against ``policy`` (a probe that does not decode counts
    none here: the search refuses it as it would without this count)."""
    try:
        with ctx.sessions() as session:  # the first gallery's pack, as the search's
            pack = get_gallery_row(session, request.galleries[0]).pack
        counts, analysed = count_faces(ctx, pack, request.probes)
    except FacetrailError:  # the search's own decoding reports what is wrong with the probe
        counts, analysed = (), {}
    return Crowd(counts, policy.crowd_faces, policy.crowd_probes, analysed)
