"""The audit log's pages without a browser: an auditor filters the log and pages through it,
opens an entry with its inclusion proof, and verifies the log with its checkpoints; an
auditor of another agency never sees this agency's people's entries; anyone else is refused
with the stable code, and the refusal is in the log."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from facetrail.governance import merkle
from facetrail.services.audit import audit_entries
from facetrail.services.audit.log import make_checkpoint
from facetrail.store.schema import AuditEntryRow
from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.web.conftest import is_error_page, last_kinds, search_by

pytestmark = needs_lfw
Clients = Callable[[str], TestClient]

_ROW = re.compile(
    r'<a class="entry" href="/audit/entries/(\d+)">\d+</a></td>\s*<td><time[^>]*>[^<]*</time></td>'
    r"\s*<td>([^<]*)</td>\s*<td><code>([^<]*)</code></td>"
)


def _rows(html: str) -> list[tuple[int, str, str]]:
    """(entry, actor, kind) of each row of the log's table."""
    return [(int(seq), actor, kind) for seq, actor, kind in _ROW.findall(html)]


def test_an_auditor_filters_the_log_by_actor_and_kind(web_world: World, client_of: Clients) -> None:
    aude = client_of("aude")
    answer = aude.get("/audit", params={"actor": "ivy", "kind": "auth.", "looks": "1"})
    assert answer.status_code == 200
    rows = _rows(answer.text)
    assert rows and all(actor == "ivy" and kind.startswith("auth.") for _, actor, kind in rows)
    assert [seq for seq, _, _ in rows] == sorted((seq for seq, _, _ in rows), reverse=True)
    assert 'value="ivy"' in answer.text and 'value="auth."' in answer.text  # kept as typed
    assert last_kinds(web_world) == ["audit.read"]

    # Her agency's people's entries, and the entries about her agency (a system admin who
    # granted its accounts); nothing of the other agency's, nor of the system.
    everyone = {actor for _, actor, _ in _rows(aude.get("/audit").text)}
    assert "ivy" in everyone or "head" in everyone
    assert not everyone & {"olga", "otto", "oona", "system"}
    by_root = audit_entries.list_entries(
        web_world.ctx, web_world.org.people["aude"], audit_entries.AuditEntryQuery(actor="root")
    )
    assert by_root and {e.agency for e in by_root} == {"county"}


def test_the_log_pages_both_ways_newest_first_with_its_filters(client_of: Clients) -> None:
    aude = client_of("aude")
    mine = {"subject": "audit", "actor": "aude", "looks": "1"}  # her own reads: looks
    first = aude.get("/audit", params=mine)
    while len(_rows(first.text)) < 50:  # her own reading fills a page
        first = aude.get("/audit", params=mine)
    first = aude.get("/audit", params=mine)  # and one more: an older page holds one at least
    rows = _rows(first.text)
    query = "actor=aude&amp;subject=audit&amp;looks=1"
    older = re.findall(r'<a href="(/audit\?[^"]+)">Older entries</a>', first.text)
    assert older == [f"/audit?{query}&amp;before={rows[-1][0]}"]
    assert "Newer entries" not in first.text  # the newest page
    second = aude.get(older[0].replace("&amp;", "&"))
    following = _rows(second.text)
    assert following and following[0][0] < rows[-1][0]
    assert all(actor == "aude" for _, actor, _ in following)
    assert f'href="/audit?{query}">Newest</a>' in second.text
    newer = re.findall(r'<a href="(/audit\?[^"]+)">Newer entries</a>', second.text)
    assert newer == [f"/audit?{query}&amp;after={following[0][0]}"]
    back = _rows(aude.get(newer[0].replace("&amp;", "&")).text)
    assert back and back[-1][0] > following[0][0] and back[0][0] > back[-1][0]


def test_the_looks_are_hidden_unless_asked_for_and_the_log_exports_as_csv(
    web_world: World, client_of: Clients
) -> None:
    """Before: token uses and reads were half the log, shown among the acts."""
    search_by(web_world, "ivy", "2026-000931")
    aude = client_of("aude")
    acts = aude.get("/audit").text
    kinds = {kind for _, _, kind in _rows(acts)}
    assert kinds and not {k for k in kinds if k == "auth.token.use" or k.endswith(".read")}
    assert ("without the looks" in acts and "latest signed checkpoint" in acts.lower()) or (
        "No checkpoint is signed yet" in acts
    )
    looks = {kind for _, _, kind in _rows(aude.get("/audit", params={"looks": "1"}).text)}
    assert "audit.read" in looks
    exported = aude.get("/audit.csv", params={"actor": "ivy"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    lines = exported.text.splitlines()
    assert lines[0] == "entry,time,actor,kind,subject,agency,details"
    assert len(lines) > 1 and all(",ivy," in line for line in lines[1:] if line.count(",") > 3)
    assert last_kinds(web_world) == ["audit.export"]


def test_a_time_that_is_not_one_is_shown_on_the_form(client_of: Clients) -> None:
    answer = client_of("aude").get("/audit", params={"since": "last tuesday"})
    assert answer.status_code == 422 and is_error_page(answer.text, "invalid_request")
    assert 'id="since" name="since" value="last tuesday" aria-invalid="true"' in answer.text


def test_another_agencys_auditor_sees_none_of_its_people(
    web_world: World, client_of: Clients
) -> None:
    oona = client_of("oona")
    rows = _rows(oona.get("/audit").text)
    assert rows and {actor for _, actor, _ in rows} <= {"olga", "otto", "oona", "root"}
    assert _rows(oona.get("/audit", params={"actor": "ivy"}).text) == []


def test_an_entry_shows_its_inclusion_proof(web_world: World, client_of: Clients) -> None:
    aude = client_of("aude")
    seq = _rows(aude.get("/audit", params={"actor": "ivy"}).text)[0][0]
    make_checkpoint(web_world.ctx)
    answer = aude.get(f"/audit/entries/{seq}")
    assert answer.status_code == 200
    assert f"Audit entry {seq}" in answer.text and "ivy" in answer.text
    leaf = re.search(r"<dt>Leaf hash</dt><dd><code>([0-9a-f]{64})</code>", answer.text)
    root = re.search(r"<dt>Root</dt><dd><code>([0-9a-f]{64})</code>", answer.text)
    size = re.search(r"<dt>Tree size</dt><dd>(\d+)</dd>", answer.text)
    assert leaf and root and size
    path = re.findall(r"<li><code>([0-9a-f]{64})</code></li>", answer.text)
    # What the page shows is a proof that checks out: the leaf and path give the root.
    assert merkle.verify_inclusion(
        bytes.fromhex(leaf.group(1)),
        seq - 1,
        int(size.group(1)),
        [bytes.fromhex(h) for h in path],
        bytes.fromhex(root.group(1)),
    )
    assert "which the checkpoint signed at" in answer.text
    assert last_kinds(web_world) == ["audit.read"]


def test_an_entry_newer_than_the_last_checkpoint_says_so(
    web_world: World, client_of: Clients
) -> None:
    aude = client_of("aude")
    make_checkpoint(web_world.ctx)
    aude.get("/audit", params={"actor": "aude"})  # an entry of hers after the checkpoint
    with web_world.ctx.sessions() as session:
        newest = session.scalar(select(func.max(AuditEntryRow.seq)))
    answer = aude.get(f"/audit/entries/{newest}")
    assert answer.status_code == 200
    assert "No proof yet" in answer.text and "next checkpoint will include it" in answer.text


def test_another_agencys_entry_answers_as_not_found(web_world: World, client_of: Clients) -> None:
    seq = _rows(client_of("aude").get("/audit", params={"actor": "ivy"}).text)[0][0]
    answer = client_of("oona").get(f"/audit/entries/{seq}")
    assert answer.status_code == 404 and is_error_page(answer.text, "not_found")
    assert "ivy" not in answer.text
    assert last_kinds(web_world, 2) == ["audit.read", "audit.entry.refused"]
    missing = client_of("oona").get("/audit/entries/99999999")
    assert missing.status_code == 404 and is_error_page(missing.text, "not_found")


def test_the_log_verifies_with_its_checkpoints(web_world: World, client_of: Clients) -> None:
    make_checkpoint(web_world.ctx)
    answer = client_of("aude").get("/audit/verification")
    assert answer.status_code == 200
    assert "The log verifies." in answer.text
    assert "Signed checkpoints" in answer.text and '<pre class="note">' in answer.text
    assert last_kinds(web_world) == ["audit.verify"]


def test_people_who_do_not_audit_are_refused(web_world: World, client_of: Clients) -> None:
    ivy = client_of("ivy")
    for path, refused in (
        ("/audit", "audit.read.refused"),
        ("/audit/entries/1", "audit.read.refused"),
        ("/audit/verification", "audit.verify.refused"),
    ):
        answer = ivy.get(path)
        assert answer.status_code == 403, path
        assert is_error_page(answer.text, "permission_denied"), path
        assert last_kinds(web_world) == [refused], path
