"""A photo written before an action's commit never outlives the action on disk (issue 21,
section 6: work around a commit is never lost to a crash). A search writes its probe photo
before it stores the request; killed (kill -9) in between, it left the probe on disk with
no row to say it is there, nor to delete it when probe retention ends or the person asks.
Housekeeping deletes such photos once they are older than any action takes
(``services.rights._orphans``), and never one a row holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from facetrail.config import Settings
from facetrail.governance.verify import verify_log
from facetrail.services.audit import log as audit
from facetrail.services.context import AppContext
from facetrail.services.housekeeping import housekeeping
from facetrail.services.rights._orphans import ORPHAN_GRACE, sweep_orphans
from facetrail.store.schema import AuditEntryRow, Image, SearchRecord
from tests.conftest import crash_in_child
from tests.org import CASE, JUSTIFICATION, OFFENSE
from tests.services.test_erasure import _photos, _probe, world  # noqa: F401

#: The child asks for a search and is killed (SIGKILL) the moment its probe photo is on disk,
#: inside the action that would store the request.
_CHILD = textwrap.dedent(
    """
    import json, os, signal, sys
    from pathlib import Path
    from facetrail.config import Settings
    from facetrail.governance.credentials import Principal
    from facetrail.services.context import AppContext
    from facetrail.services.searching import _requests, search
    from facetrail.services.searching.search_model import ProbeImage

    home, who, photo = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    _requests.insert_search = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    ctx = AppContext.open(Settings(home=Path(home), threads=1))
    ivy = Principal(who[0], who[1], who[2], who[3], frozenset(who[4]))
    probe = ProbeImage("probe.jpg", Path(photo).read_bytes())
    search.search(ctx, search.SearchRequest(
        requester=ivy, galleries=("bookings",), probes=(probe,), case_number=who[5],
        offense=who[6], justification=who[7], attested=True))
    raise SystemExit("the search returned: the crash did not happen")
    """
)


def _aged(ctx: AppContext, sha: str, by: timedelta) -> None:
    path = ctx.blobs.path(sha)
    then = time.time() - by.total_seconds()
    os.utime(path, (then, then))


def test_a_probe_left_by_a_crash_before_the_commit_is_swept_and_held_ones_stay(world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    org, person, _tmp = world
    ctx: AppContext = org.ctx
    photo = _photos(person)[3]  # in no gallery
    ivy = org.people["ivy"]
    home = ctx.settings.home
    with ctx.sessions() as s:
        searches_before = s.scalar(select(func.count(SearchRecord.id)))
        gallery_photos = list(s.scalars(select(Image.sha256)))
    ctx.close()

    signed_in = [ivy.user_id, ivy.username, ivy.agency_id, ivy.agency, sorted(ivy.roles)]
    who = json.dumps([*signed_in, CASE, OFFENSE, JUSTIFICATION])
    crash_in_child(_CHILD, str(home), who, str(photo))

    restarted = AppContext.open(Settings(home=home, threads=1))
    try:
        probe = hashlib.sha256(photo.read_bytes()).hexdigest()
        with restarted.sessions() as s:  # nothing of the search was stored ...
            assert s.scalar(select(func.count(SearchRecord.id))) == searches_before
        assert restarted.blobs.path(probe).exists()  # ... but its probe photo was written

        # Younger than any action takes: it may be a photo whose row is being written.
        assert sweep_orphans(restarted, force=True) == 0
        assert restarted.blobs.path(probe).exists()

        _aged(restarted, probe, ORPHAN_GRACE + timedelta(minutes=5))
        for sha in gallery_photos:  # as old, but held by their images
            _aged(restarted, sha, ORPHAN_GRACE * 24 * 365)
        later = datetime.now(UTC) + timedelta(days=2)  # the daily sweep is due
        report = housekeeping(restarted, now=later)

        assert report.orphan_blobs_deleted == 1
        assert not restarted.blobs.path(probe).exists()
        assert all(restarted.blobs.path(sha).exists() for sha in gallery_photos)
        with restarted.sessions() as s:
            entry = s.scalars(
                select(AuditEntryRow).where(AuditEntryRow.kind == "blob.orphans.purge")
            ).one()
            assert json.loads(entry.details)["blobs"] == 1 and probe not in entry.details
            assert verify_log(s, audit.public_key(restarted)).ok
        # Once a day: a second run the same day sweeps nothing, whatever lies there.
        stray = restarted.blobs.put(b"a photo no row holds")
        _aged(restarted, stray, ORPHAN_GRACE * 2)
        assert housekeeping(restarted, now=later).orphan_blobs_deleted == 0
        assert restarted.blobs.path(stray).exists()
        # A marker dated ahead by hand does not put the sweep off: it is due at once.
        ahead = (later + timedelta(days=365)).timestamp()
        os.utime(restarted.blobs.root / ".swept", (ahead, ahead))
        assert housekeeping(restarted, now=later).orphan_blobs_deleted == 1
        assert not restarted.blobs.path(stray).exists()
    finally:
        restarted.close()
