"""Typed audit events: each kind reads back as the class it was logged as, with its agency
from the indexed column; the agency is hashed with the entry, so moving an entry to another
agency's figures is caught like any other edit."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import update

from facetrail.config import Settings
from facetrail.governance.audit import append
from facetrail.governance.events import (
    EVENT_CLASSES,
    AlertRaised,
    Event,
    OutcomeRecorded,
    SearchRan,
    SearchRequested,
    read_events,
)
from facetrail.governance.verify import verify_log
from facetrail.services.accounts import NewAccount, init_system
from facetrail.services.audit import log as audit
from facetrail.services.context import AppContext
from facetrail.store.schema import AuditEntryRow
from tests.org import PASSWORD


@pytest.fixture()
def ctx(tmp_path: Path):  # type: ignore[no-untyped-def]
    context = AppContext.open(Settings(home=tmp_path / "home"))
    init_system(context, NewAccount("root", "r@ops", PASSWORD, "operators"))
    yield context
    context.close()


def _requested(agency: str, search_id: int, actor: str = "ivy") -> SearchRequested:
    return SearchRequested(
        actor=actor,
        agency=agency,
        search_id=search_id,
        case="2026-1",
        offense="arson",
        justification="a fire",
        galleries=["bookings"],
        probes=["ab" * 32],
        on_behalf_of=agency if actor == "nora" else None,
        policy_version=2,
        needs_approval=False,
        second_review=True,
        top=5,
        face=None,
    )


def test_every_kind_has_one_class_and_reads_back_as_logged(ctx: AppContext) -> None:
    assert all(cls.kind == kind for kind, cls in EVENT_CLASSES.items())
    logged: list[Event] = [
        _requested("county", 7),
        _requested("county", 8, actor="nora"),
        SearchRan(
            actor="ivy",
            agency="county",
            search_id=7,
            produced_by={"bookings": {"pack": "p"}},
            candidates={"bookings": [[11, 0.5], [12, 0.25]]},
            seconds=0.1,
        ),
        OutcomeRecorded(
            actor="ivy", agency="county", search_id=7, outcome="lead", confirmed=[3], note="n"
        ),
        AlertRaised(
            actor="facetrail",
            agency="harbour",
            alert_id=1,
            rule="volume",
            key="k",
            summary="s",
            user="x",
        ),
    ]
    with ctx.transaction() as s:
        for event in logged:
            append(s, event.entry())
    with ctx.sessions() as s:
        back = read_events(s, [SearchRequested, SearchRan, OutcomeRecorded, AlertRaised])
        county = read_events(s, [SearchRequested], agencies=["county"])
    stripped = [dataclasses.replace(e, seq=0, at="") for e in back]
    assert stripped == logged
    assert [e.search_id for e in county] == [7, 8] and county[1].on_behalf_of == "county"
    assert isinstance(back[1], SearchRequested) and back[1].actor == "nora"
    assert back[2].seq == back[1].seq + 1 and back[2].at >= back[1].at
    assert isinstance(back[2], SearchRan) and back[2].template_ids() == [11, 12]


def test_moving_an_entry_to_another_agency_fails_verification(ctx: AppContext) -> None:
    with ctx.transaction() as s:
        seq = append(s, _requested("county", 7).entry()).seq
    with ctx.sessions() as s:
        assert verify_log(s, audit.public_key(ctx)).ok
    with ctx.transaction() as s:  # an insider moves the search out of the county's figures
        s.execute(update(AuditEntryRow).where(AuditEntryRow.seq == seq).values(agency="harbour"))
    with ctx.sessions() as s:
        report = verify_log(s, audit.public_key(ctx))
    assert not report.ok and report.first_bad_entry == seq
    with ctx.transaction() as s:  # or out of every agency's
        s.execute(update(AuditEntryRow).where(AuditEntryRow.seq == seq).values(agency=None))
    with ctx.sessions() as s:
        assert verify_log(s, audit.public_key(ctx)).first_bad_entry == seq
