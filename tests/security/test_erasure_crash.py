"""A crash (kill -9) right after an erasure's commit loses none of the work after it (issue
21, sections 2 and 6): the blobs to delete and the index files to write anew are written in
the erasure's transaction (``purge_followups``), and housekeeping after the restart does
them. Seen failing before: the erased person's photos stayed on disk for good.
"""

from __future__ import annotations

import json
import textwrap

from sqlalchemy import func, select

from facetrail.config import Settings
from facetrail.governance.checkpoints import load_vkey
from facetrail.governance.receipts import open_receipt
from facetrail.governance.verify import verify_log
from facetrail.services.audit import log as audit
from facetrail.services.context import AppContext
from facetrail.services.galleries._index_files import files_of as _files
from facetrail.services.housekeeping import housekeeping
from facetrail.services.rights.erasure import ErasureRequest, decide_matches, show_erasure
from facetrail.store.schema import Gallery, PurgeFollowup
from tests.conftest import crash_in_child
from tests.services.test_erasure import _opened, _photos, _probe, _theirs, world  # noqa: F401

#: The child completes the erasure and is killed (SIGKILL) the moment its transaction has
#: committed, before anything after the commit runs.
_CHILD = textwrap.dedent(
    """
    import json, os, signal, sys
    from pathlib import Path
    from facetrail.config import Settings
    from facetrail.governance.credentials import Principal
    from facetrail.services.rights import erasure
    from facetrail.services.rights.erasure import completion
    from facetrail.services.context import AppContext

    home, who, erasure_id = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    completion.scrub_after = lambda ctx, plans: os.kill(os.getpid(), signal.SIGKILL)
    ctx = AppContext.open(Settings(home=Path(home), threads=1))
    head = Principal(who[0], who[1], who[2], who[3], frozenset(who[4]))
    erasure.complete_erasure(ctx, head, erasure_id)
    raise SystemExit("the erasure returned: the crash did not happen")
    """
)


def test_kill_9_after_an_erasures_commit_then_restart_removes_the_photos(world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    org, person, _tmp = world
    ctx: AppContext = org.ctx
    request = ErasureRequest(
        "REQ-2026-0077",
        "passport checked in person at the front desk",
        False,
        tuple(_probe(p) for p in _photos(person)[:3]),
    )
    gus, head = org.people["gus"], org.people["head"]
    opened = _opened(org, request)
    decide_matches(ctx, gus, opened.id, [m.id for m in opened.matches], [])
    mine = _theirs(ctx, person)
    stored = [sha for sha in mine["shas"] if ctx.blobs.path(sha).exists()]
    assert len(stored) == 3
    home = ctx.settings.home
    ctx.close()

    who = json.dumps([head.user_id, head.username, head.agency_id, head.agency, sorted(head.roles)])
    crash_in_child(_CHILD, str(home), who, str(opened.id))

    restarted = AppContext.open(Settings(home=home, threads=1))
    try:
        # The commit stands, and the work after it waits, written with it.
        with restarted.sessions() as s:
            assert s.scalar(select(func.count(PurgeFollowup.id))) == 1
        assert all(restarted.blobs.path(sha).exists() for sha in stored)

        housekeeping(restarted)  # what the restarted service (or any CLI command) runs

        assert not any(restarted.blobs.path(sha).exists() for sha in stored)
        with restarted.sessions() as s:
            assert s.scalar(select(func.count(PurgeFollowup.id))) == 0
            index_files = [_files(restarted, g).index_path for g in s.scalars(select(Gallery))]
            assert verify_log(s, audit.public_key(restarted)).ok
        erased = {bytes(v) for _, v in mine["templates"]}
        for path in index_files:  # written anew: no erased vector is left in them
            data = path.read_bytes()
            assert not any(vector in data for vector in erased)
        done = show_erasure(restarted, gus, opened.id)
        assert done.status == "done" and done.receipt is not None
        rid, body = open_receipt(done.receipt, load_vkey(audit.public_key_file(restarted)))
        assert rid == done.receipt_id and sorted(body["removed"]["images"]) == sorted(stored)
    finally:
        restarted.close()
