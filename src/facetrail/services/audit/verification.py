"""1:1 verification: two images' faces compared, with the calibrated false match rate.

Authorisation: investigators and supervisors. Audit: every comparison (and refusal) is an
entry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Permission
from facetrail.governance.credentials import Principal
from facetrail.models.calibration import FalseMatchEstimate, false_match_rate
from facetrail.services.context import AppContext
from facetrail.services.searching._matching import probe_template
from facetrail.services.searching.search_model import (
    LEAD_NOTICE,
    ProbeFace,
    ProbeImage,
)
from facetrail.services.unit_of_work import action, require


@dataclass(frozen=True)
class VerifyRequest:
    a: ProbeImage
    b: ProbeImage
    pack: str | None = None
    face_a: int | None = None
    face_b: int | None = None


@dataclass(frozen=True)
class VerifyResult:
    pack: str
    score: float
    false_match: FalseMatchEstimate | None
    faces_a: list[ProbeFace]
    faces_b: list[ProbeFace]
    notice: str = LEAD_NOTICE


def verify(ctx: AppContext, actor: Principal, request: VerifyRequest) -> VerifyResult:
    """1:1 comparison of two images' faces with the calibrated false match rate of the score.

    Needs an investigator or supervisor; every comparison is audited.
    """
    require(ctx, actor, "verify", "verify", Permission.COMPARE_FACES)
    pack = request.pack or ctx.settings.default_pack
    ta, fa = probe_template(ctx, pack, (request.a,), request.face_a)
    tb, fb = probe_template(ctx, pack, (request.b,), request.face_b)
    score = float(np.dot(ta, tb))
    calibration = ctx.pipeline(pack).pack.manifest.calibration
    with action(ctx, actor, "verify", "verify", Permission.COMPARE_FACES) as (session, _):
        append(
            session,
            AuditEvent(
                actor.username,
                "verify.run",
                pack,
                {
                    "a": hashlib.sha256(request.a.data).hexdigest(),
                    "b": hashlib.sha256(request.b.data).hexdigest(),
                    "score": round(score, 6),
                },
            ),
        )
    return VerifyResult(pack, score, false_match_rate(calibration, score), fa, fb)
