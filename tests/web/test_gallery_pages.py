"""The gallery admin's pages without a browser: galleries with their sources' legal basis and
retention, a new gallery and source, a folder of the server ingested as a background job whose
page shows its progress and summary, the job list and cancelling; people who do not
administer galleries are refused with the stable code, and the refusal is in the log."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select

from facetrail.services.galleries import jobs
from facetrail.store.schema import AuditEntryRow
from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.web.conftest import csrf_in, is_error_page, last_kinds, lfw_folder

pytestmark = needs_lfw
Clients = Callable[[str], TestClient]

_SOURCE = {
    "name": "walk-in photos",
    "kind": "consented photographs",
    "legal_basis": "Written consent, County Order 7/2026",
    "supplied_by": "County Sheriff",
    "collected_at": "2026-10-01",
    "retention_days": "730",
}


def _post(client: TestClient, path: str, data: dict[str, str], form_page: str) -> Response:
    """``data`` posted as a page's form (with its CSRF value) would send it."""
    return client.post(path, data={"csrf_token": csrf_in(client.get(form_page).text), **data})


def test_galleries_show_their_sources_legal_basis_and_retention(client_of: Clients) -> None:
    gus = client_of("gus")
    listed = gus.get("/galleries")
    assert listed.status_code == 200
    assert 'href="/galleries/bookings"' in listed.text and "New gallery" in listed.text
    shown = gus.get("/galleries/bookings")
    assert shown.status_code == 200
    assert "State Code 12-345" in shown.text and "3,650 days" in shown.text
    assert "Ingest a folder" in shown.text and "Add a source" in shown.text
    # What galleries exist is no secret, but only their admins are offered the forms.
    ivy = client_of("ivy").get("/galleries/bookings")
    assert ivy.status_code == 200 and "State Code 12-345" in ivy.text
    assert (
        "Add a source" not in ivy.text
        and "New gallery" not in client_of("ivy").get("/galleries").text
    )


def test_a_gallery_admin_creates_a_gallery_and_adds_a_source(client_of: Clients) -> None:
    gus = client_of("gus")
    made = _post(gus, "/galleries", {"name": "intake", "description": "walk-ins"}, "/galleries")
    assert made.status_code == 303 and made.headers["location"] == "/galleries/intake?created=1"
    added = _post(gus, "/galleries/intake/sources", _SOURCE, "/galleries/intake")
    assert added.status_code == 303
    assert added.headers["location"] == "/galleries/intake?added=walk-in%20photos#sources"
    page = gus.get(added.headers["location"]).text
    assert "Source walk-in photos added." in page
    assert "Written consent, County Order 7/2026" in page and "730 days" in page

    taken = _post(gus, "/galleries", {"name": "intake"}, "/galleries")
    assert taken.status_code == 409 and is_error_page(taken.text, "gallery_exists")
    assert 'value="intake"' in taken.text  # kept as typed


def test_a_source_without_a_date_is_shown_on_its_form(client_of: Clients) -> None:
    gus = client_of("gus")
    bad = _post(
        gus, "/galleries/bookings/sources", _SOURCE | {"collected_at": "soon"}, "/galleries"
    )
    assert bad.status_code == 422 and is_error_page(bad.text, "invalid_request")
    assert "Written consent, County Order 7/2026</textarea>" in bad.text
    assert "is not a date (YYYY-MM-DD)" in bad.text
    future = _post(
        gus, "/galleries/bookings/sources", _SOURCE | {"collected_at": "2999-01-01"}, "/galleries"
    )
    assert future.status_code == 422 and "is in the future" in future.text


def test_an_ingestion_runs_in_the_background_with_its_progress(
    web_world: World, client_of: Clients, tmp_path: Path
) -> None:
    gus = client_of("gus")
    if "intake" not in gus.get("/galleries").text:
        _post(gus, "/galleries", {"name": "intake"}, "/galleries")
        _post(gus, "/galleries/intake/sources", _SOURCE, "/galleries/intake")
    folder = lfw_folder(tmp_path / "drop", 7, 2)
    sent = _post(
        gus,
        "/galleries/intake/ingestions",
        {"source": "walk-in photos", "path": str(folder)},
        "/galleries/intake",
    )
    assert sent.status_code == 303
    job_page = sent.headers["location"]
    job_id = int(job_page.rsplit("/", 1)[1])
    queued = gus.get(job_page)
    assert queued.status_code == 200 and "Queued" in queued.text
    assert f'data-job="/api/v1/jobs/{job_id}"' in queued.text
    assert 'http-equiv="refresh"' in queued.text  # without script, the page follows the job
    assert f"Cancel job {job_id}" in queued.text
    # What the page's script reads, with the session cookie alone.
    assert gus.get(f"/api/v1/jobs/{job_id}").json()["status"] == "queued"

    assert (job_id, "done") in jobs.run_pending(web_world.ctx, "test")
    done = gus.get(job_page).text
    assert "Done" in done and "2 of 2 files" in done
    assert re.search(r"<dt>Photos ingested</dt><dd>2</dd>", done)
    assert 'http-equiv="refresh"' not in done and "Cancel job" not in done
    listed = gus.get("/jobs").text
    assert f'<a href="/jobs/{job_id}">Job {job_id}</a>' in listed and "2 of 2" in listed


def test_a_queued_ingestion_is_cancelled(
    web_world: World, client_of: Clients, tmp_path: Path
) -> None:
    gus = client_of("gus")
    folder = lfw_folder(tmp_path / "drop", 9, 1)
    sent = _post(
        gus,
        "/galleries/bookings/ingestions",
        {"source": "county", "path": str(folder)},
        "/galleries/bookings",
    )
    job_page = sent.headers["location"]
    stopped = _post(gus, f"{job_page}/cancel", {}, job_page)
    assert stopped.status_code == 303
    page = gus.get(stopped.headers["location"]).text
    assert "Cancelled." in page and "Cancel job" not in page
    assert last_kinds(web_world, 2) == ["job.cancel", "auth.token.use"]  # then the page


def test_a_folder_that_is_not_one_is_shown_on_its_form(client_of: Clients) -> None:
    gus = client_of("gus")
    bad = _post(
        gus,
        "/galleries/bookings/ingestions",
        {"source": "county", "path": "relative/folder"},
        "/galleries/bookings",
    )
    assert bad.status_code == 422 and is_error_page(bad.text, "invalid_request")
    assert 'value="relative/folder"' in bad.text


def test_people_who_do_not_administer_galleries_are_refused(
    web_world: World, client_of: Clients, tmp_path: Path
) -> None:
    ivy = client_of("ivy")
    for path, data, refused in (
        ("/galleries", {"name": "mine"}, "gallery.create.refused"),
        ("/galleries/bookings/sources", _SOURCE, "gallery.source.add.refused"),
        (
            "/galleries/bookings/ingestions",
            {"source": "county", "path": str(tmp_path)},
            "job.submit.refused",
        ),
    ):
        answer = _post(ivy, path, data, "/")
        assert answer.status_code == 403, path
        assert is_error_page(answer.text, "permission_denied"), path
        assert last_kinds(web_world) == [refused], path
    for path, refused in (("/jobs", "job.list.refused"), ("/jobs/1", "job.view.refused")):
        answer = ivy.get(path)
        assert answer.status_code == 403 and is_error_page(answer.text, "permission_denied")
        assert last_kinds(web_world) == [refused], path


def test_a_gallery_admin_corrects_a_source_and_retires_it_after_confirming(
    web_world: World, client_of: Clients, tmp_path: Path
) -> None:
    gus = client_of("gus")
    _post(gus, "/galleries", {"name": "archive"}, "/galleries")
    _post(gus, "/galleries/archive/sources", _SOURCE | {"name": "old"}, "/galleries/archive")
    listed = gus.get("/galleries/archive").text
    assert 'href="/galleries/archive/sources/old"' in listed and "In use" in listed
    page = gus.get("/galleries/archive/sources/old").text
    assert "Change what is recorded" in page and "Retire the source" in page

    fields = {k: v for k, v in _SOURCE.items() if k != "name"}
    # A correction that keeps nothing longer is saved at once, with its reason.
    fixed = _post(
        gus,
        "/galleries/archive/sources/old",
        fields | {"supplied_by": "County Sheriff's Office", "reason": "the supplier's full name"},
        "/galleries/archive/sources/old",
    )
    assert fixed.status_code == 303
    assert "Source old changed." in gus.get(fixed.headers["location"]).text
    assert last_kinds(web_world, 2) == ["gallery.source.edit", "auth.token.use"]
    # Keeping photos longer asks first, saying what will happen; nothing changes until then.
    longer = fields | {"retention_days": "1000", "reason": "the order was extended to 1000"}
    asked = _post(gus, "/galleries/archive/sources/old", longer, "/galleries/archive/sources/old")
    assert asked.status_code == 200 and "Keep photos longer from source old?" in asked.text
    assert "kept for 1,000 days instead of 730" in asked.text
    assert "730 days" in gus.get("/galleries/archive/sources/old").text
    done = _post(
        gus,
        "/galleries/archive/sources/old",
        longer | {"confirmed": "yes"},
        "/galleries/archive/sources/old",
    )
    assert done.status_code == 303 and "1,000 days" in gus.get("/galleries/archive").text
    # A reason too short is said on the form, nothing asked or changed.
    short = _post(
        gus, "/galleries/archive/sources/old/retire", {"reason": "ended"}, "/galleries/archive"
    )
    assert short.status_code == 422 and "at least 10 characters" in short.text
    # Retiring asks first, then takes effect.
    why = {"reason": "the supply agreement ended"}
    asked = _post(gus, "/galleries/archive/sources/old/retire", why, "/galleries/archive")
    assert asked.status_code == 200 and "Retire source old?" in asked.text
    assert "This cannot be undone" in asked.text
    assert "In use" in gus.get("/galleries/archive").text
    retired = _post(
        gus,
        "/galleries/archive/sources/old/retire",
        why | {"confirmed": "yes"},
        "/galleries/archive",
    )
    assert retired.status_code == 303
    shown = gus.get(retired.headers["location"]).text
    assert "Source old retired" in shown and "Retired on" in shown
    assert last_kinds(web_world, 2) == ["gallery.source.retire", "auth.token.use"]
    # No ingestion is offered into it, and one sent anyway is refused on the form.
    assert '<option value="old"' not in shown and "every source of this gallery is retired" in shown
    refused = _post(
        gus,
        "/galleries/archive/ingestions",
        {"source": "old", "path": str(lfw_folder(tmp_path / "drop", 11, 1))},
        "/galleries/archive",
    )
    assert refused.status_code == 409 and "was retired on" in refused.text


def test_people_who_do_not_administer_galleries_may_not_change_sources(
    web_world: World, client_of: Clients
) -> None:
    ivy = client_of("ivy")
    assert ivy.get("/galleries/bookings/sources/county").status_code == 403
    for path, data, refused in (
        (
            "/galleries/bookings/sources/county",
            {**{k: v for k, v in _SOURCE.items() if k != "name"}, "reason": "I would like to"},
            "gallery.source.edit.refused",
        ),
        (
            "/galleries/bookings/sources/county/retire",
            {"reason": "I would like it gone", "confirmed": "yes"},
            "gallery.source.retire.refused",
        ),
    ):
        answer = _post(ivy, path, data, "/")
        assert answer.status_code == 403 and is_error_page(answer.text, "permission_denied")
        assert last_kinds(web_world) == [refused], path


def test_a_gallery_admin_browses_the_photos_with_their_provenance(
    web_world: World, client_of: Clients
) -> None:
    gus = client_of("gus")
    assert 'href="/galleries/bookings/photos"' in gus.get("/galleries/bookings").text
    shown = gus.get("/galleries/bookings/photos")
    assert shown.status_code == 200
    assert "Photos 1 to 4 of 4, newest first; page 1 of 1." in shown.text
    assert shown.text.count('<img class="thumb" src="data:image/jpeg;base64,') == 4
    assert "State Code 12-345" in shown.text and "Next page" not in shown.text
    assert last_kinds(web_world, 2) == ["auth.token.use", "gallery.browse"]
    with web_world.ctx.sessions() as s:
        details = json.loads(
            s.scalars(
                select(AuditEntryRow.details)
                .where(AuditEntryRow.kind == "gallery.browse")
                .order_by(AuditEntryRow.seq.desc())
            ).first()
            or "{}"
        )
    assert len(details["images"]) == 4 and details["total"] == 4
    by_name = gus.get("/galleries/bookings/photos?order=name&source=county").text
    names = re.findall(r'<h2 class="h3">([^<]+)</h2>', by_name)
    assert names == sorted(names) and len(names) == 4
    beyond = gus.get("/galleries/bookings/photos?page=3").text
    assert "No photos on page 3." in beyond  # and the way back is to the last page there is
    assert '<a href="/galleries/bookings/photos">Previous page</a>' in beyond
    nobody = gus.get("/galleries/bookings/photos?subject=nobody-by-this-name").text
    assert "No photos match these filters." in nobody


def test_people_who_do_not_administer_galleries_may_not_browse_its_photos(
    web_world: World, client_of: Clients
) -> None:
    ivy = client_of("ivy")
    answer = ivy.get("/galleries/bookings/photos")
    assert answer.status_code == 403 and is_error_page(answer.text, "permission_denied")
    assert last_kinds(web_world) == ["gallery.browse.refused"]
    assert "/photos" not in ivy.get("/galleries/bookings").text


def test_a_retention_run_says_what_it_removes_and_asks_first(
    web_world: World, client_of: Clients
) -> None:
    gus = client_of("gus")
    asked = _post(gus, "/retention", {}, "/erasures")
    assert asked.status_code == 200 and "Run retention now?" in asked.text
    assert "No photo is past its source's retention period" in asked.text  # kept 3,650 days
    ran = _post(gus, "/retention", {"confirmed": "yes"}, "/erasures")
    assert ran.status_code == 303 and ran.headers["location"] == "/erasures?retention=0"
    ivy = _post(client_of("ivy"), "/retention", {}, "/")
    assert ivy.status_code == 403 and last_kinds(web_world) == ["retention.preview.refused"]


def test_a_gallery_admin_checks_and_rebuilds_the_index(
    web_world: World, client_of: Clients
) -> None:
    gus = client_of("gus")
    checked = _post(gus, "/galleries/bookings/index", {"step": "check"}, "/galleries/bookings")
    assert checked.status_code == 303 and checked.headers["location"].endswith("#index")
    page = gus.get(checked.headers["location"]).text
    assert re.search(r"The index was checked: its \d+ entries agree with the database", page)
    rebuilt = _post(gus, "/galleries/bookings/index", {"step": "rebuild"}, "/galleries/bookings")
    assert "The index was rebuilt from the database" in gus.get(rebuilt.headers["location"]).text
    assert "index.rebuild" in last_kinds(web_world, 3)
    ivy = _post(client_of("ivy"), "/galleries/bookings/index", {"step": "check"}, "/")
    assert ivy.status_code == 403 and last_kinds(web_world) == ["index.check.refused"]
