"""The three erasure attacks of issue 21 section 2, as they went through on the code before
erasure under four eyes (main at ba61a5b; this script uses that code's API and does not run on
later code, where ``tests/security/test_erasure_four_eyes.py`` holds the same attacks refused):

    git worktree add /tmp/before ba61a5b && ln -s "$PWD/.venv" /tmp/before/.venv
    ln -sfn "$PWD/../shared" /tmp/shared   # the tests' data, beside the worktree
    cd /tmp/before && PYTHONPATH=src:. .venv/bin/python "$OLDPWD/scripts/before/erasure_attacks.py"

It prints what each attack obtained."""

import hashlib
import tempfile
from pathlib import Path

from sqlalchemy import select
from tests.conftest import copy_first_images, lfw_people
from tests.org import make_gallery, make_org

from facetrail.config import Settings
from facetrail.governance.policy import ApprovalMode
from facetrail.services.context import AppContext
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.services.rights.erasure import (
    ErasureRequest,
    cancel_erasure,
    complete_erasure,
    decide_matches,
    open_erasure,
)
from facetrail.services.searching.search import ProbeImage
from facetrail.store.schema import Image

tmp = Path(tempfile.mkdtemp())
ctx = AppContext.open(Settings(home=tmp / "home", threads=1))
org = make_org(ctx)
make_gallery(org)
people = lfw_people(40, min_images=4)
a, b, others = people[0], people[1], people[2:12]
folder = tmp / "g"
copy_first_images(folder, others)
for p in (a, b):
    for photo in sorted(p.glob("*.jpg"))[:2]:
        (folder / photo.name).write_bytes(photo.read_bytes())
ingest(ctx, org.people["gus"], IngestRequest(folder, "bookings", "county", workers=1))
org.set_policy(galleries=("bookings",), approval=ApprovalMode.NEVER)


def probe(p: Path, i: int) -> ProbeImage:
    return ProbeImage(p.name, sorted(p.glob("*.jpg"))[i].read_bytes())


gus = org.people["gus"]
# 1. a gallery admin alone learns which booking images match, then cancels
r = open_erasure(ctx, gus, ErasureRequest("X-1", "looking only, no id seen", False, (probe(a, 3),)))
print(
    "attack 1: matches shown to the gallery admin alone at open:",
    [(m.gallery, m.image_sha256[:12]) for m in r.matches],
)
cancel_erasure(ctx, gus, r.id, "just looking")
# 3. an open case's candidate erased without anyone told
lead = org.search(("bookings",), (probe(a, 3),))
r = open_erasure(ctx, gus, ErasureRequest("X-3", "passport checked at desk", False, (probe(a, 2),)))
decide_matches(ctx, gus, r.id, [m.id for m in r.matches], [])
done = complete_erasure(ctx, gus, r.id)
print(
    "attack 3: an open case's candidate images erased, no hold:",
    done.status,
    "receipt",
    done.receipt_id[:12],
)
# 2. two people's photos, consent, every match rejected: they vanish from later searches
r = open_erasure(
    ctx, gus, ErasureRequest("X-2", "passport checked at desk", True, (probe(b, 2), probe(b, 3)))
)
decide_matches(ctx, gus, r.id, [], [m.id for m in r.matches])
complete_erasure(ctx, gus, r.id)
shown = org.search(("bookings",), (probe(b, 3),))
with ctx.sessions() as s:
    bs = {hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(b.glob("*.jpg"))[:2]}
    stored = bs & set(s.scalars(select(Image.sha256)))
print(
    "attack 2: person b's images still stored:",
    len(stored),
    "; b among later candidates:",
    bool(bs & {c.image_sha256 for c in shown.candidates}),
    "; result says withheld:",
    getattr(shown, "withheld", "(no such field)"),
)
