"""Oversight over HTTP (issue 14): a network operator's search for the county shows in the
county head's view and digest, naming who ran it, and not in the network's own agency; an
alert is raised, listed, acknowledged and closed with notes; the open-case list is replaced."""

from __future__ import annotations

from typing import Any

from facetrail.governance.credentials import Role
from facetrail.services import accounts as acc
from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.org import CASE, JUSTIFICATION, OFFENSE

pytestmark = needs_lfw


def _search(world: World, who: str, case: str, **extra: str) -> dict[str, Any]:
    probe = next(iter(world.photos.values())).read_bytes()
    answer = world.client.post(
        "/api/v1/searches",
        data={
            "case_number": case,
            "offense": OFFENSE,
            "justification": JUSTIFICATION,
            "attest": "true",
            "galleries": ["bookings"],
        }
        | extra,
        files=[("probes", ("p.jpg", probe, "image/jpeg"))],
        headers=world.as_(who),
    )
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_a_networks_search_is_the_members_and_alerts_are_handled_over_http(world: World) -> None:
    org, client, ctx = world.org, world.client, world.ctx
    acc.create_network(ctx, org.admin, "metro")
    acc.create_agency(ctx, org.admin, "metro-ops", network="metro")
    with ctx.transaction() as s:
        acc.agency_by_name(s, "county").network_id = acc.agency_by_name(s, "metro-ops").network_id
    org.add("nora", "metro-ops", Role.NETWORK_OPERATOR)
    org.add("aud", "county", Role.AUDITOR)
    mine = _search(world, "ivy", CASE)
    theirs = _search(world, "nora", "2026-000888", on_behalf_of="county")

    view = client.get("/api/v1/agencies/county/oversight", headers=world.as_("head")).json()
    shown = {s["id"]: s for s in view["searches"]}
    assert set(shown) == {mine["search_id"], theirs["search_id"]}
    assert shown[theirs["search_id"]]["requester"] == "nora"
    assert shown[theirs["search_id"]]["requester_agency"] == "metro-ops"
    assert [p["username"] for p in view["network_people"]] == ["nora"]
    network = client.get("/api/v1/agencies/metro-ops/oversight", headers=world.as_("root"))
    assert network.json()["searches_total"] == 0
    digest = client.get("/api/v1/agencies/county/digest", headers=world.as_("head")).json()
    assert digest["network_searches"] == {"nora": 1} and digest["searches"] == 2
    assert client.get("/api/v1/agencies/county/digest", headers=world.as_("ivy")).status_code == 404

    # One photo under two case numbers: an alert for the head and the auditor to handle.
    run = client.post("/api/v1/agencies/county/alerts/run", headers=world.as_("aud")).json()
    assert len(run["raised"]) >= 1
    listed = client.get(
        "/api/v1/agencies/county/alerts?status=open", headers=world.as_("head")
    ).json()
    (alert,) = [a for a in listed if a["rule"] == "probe_cases"]
    assert alert["searches"] == [mine["search_id"], theirs["search_id"]]
    short = client.post(
        f"/api/v1/alerts/{alert['id']}/closure", json={"note": "ok"}, headers=world.as_("aud")
    )
    assert short.status_code in (400, 422) and short.json()["code"] == "invalid_request"
    seen = client.post(
        f"/api/v1/alerts/{alert['id']}/acknowledgement",
        json={"note": "asking ivy and nora about it"},
        headers=world.as_("aud"),
    ).json()
    assert seen["status"] == "acknowledged"
    closed = client.post(
        f"/api/v1/alerts/{alert['id']}/closure",
        json={"note": "the same suspect in two robberies"},
        headers=world.as_("head"),
    ).json()
    assert (closed["status"], closed["closed_by"]) == ("closed", "head")
    cases = client.put(
        "/api/v1/agencies/county/open-cases",
        json={"case_numbers": [CASE, "2026-000888", "2026-000999"]},
        headers=world.as_("head"),
    )
    assert cases.json() == {"agency": "county", "open_cases": 3}
    ran = client.post("/api/v1/oversight/run", headers=world.as_("root"))
    assert ran.status_code == 200 and "digests_sent" in ran.json()
