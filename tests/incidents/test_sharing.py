"""Sharing an incident (issue 13 §6): the package carries exactly the chosen fields, the share is
recorded, restricted incidents and drills are refused, and the STIX 2.1 bundle has the spec's shape."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from guardian.shortcuts import assign_perm

from accounts.models import LedgerEvent
from accounts.roles import Role
from config.errors import DomainError
from corrections import services as corrections
from incidents import services as incident_services
from incidents.audit import incident_bundle
from incidents.evidence.services import evidence_add
from incidents.models import Share, SharingRecipient
from incidents.sharing import package
from incidents.sharing.fields import field_keys
from incidents.sharing.services import sharing_create

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
OCCURRED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def leader(make_user):
    return make_user(Role.LEADERSHIP, username="lee-leader")


@pytest.fixture
def recipient(db):
    return SharingRecipient.objects.create(name="Frontier Lab B", kind="developer", contact="security@lab-b.example")


@pytest.fixture
def world(make_incident, make_user, actor_for, registry, leader):
    """An incident where every shareable field has a value found nowhere else (its marker)."""
    reporter = make_user(Role.RESPONDER, username="rita-reporter")
    incident = make_incident(
        by=reporter, title="Marker-title-QX", summary="Marker-summary-QX", category="dangerous_capability",
        risk_domain="child_safety", severity="SEV2", occurred_at=OCCURRED, deployments=[registry["atlas-api"]],
    )  # fmt: skip
    incident.participants.add(make_user(Role.RESPONDER, username="pat-participant"))
    incident_services.timeline_entry_add(
        actor=actor_for(reporter), incident=incident, kind="note", body="Marker-note-QX"
    )
    evidence = evidence_add(
        actor=actor_for(reporter), incident=incident, upload=SimpleUploadedFile("a.txt", b"Marker-evidence-QX\n")
    )
    corrections.correction_request(
        actor=actor_for(reporter), incident=incident, type="restrict_use_case", deployment="atlas-chat",
        params={"use_cases": ["bio_research"]}, rationale="Marker-rationale-QX",
    )  # fmt: skip
    markers = {
        "title": "Marker-title-QX",
        "summary": "Marker-summary-QX",
        "category": "dangerous_capability",
        "risk_domain": "child_safety",
        "severity": "SEV2",
        "status": None,  # "reported" is also a date's name: the keys are checked instead
        "dates": "2026-01-02T03:04:05",
        "models_deployments": "Atlas API",
        "timeline_excerpt": "Marker-note-QX",
        "evidence_hashes": evidence.sha256,
        "corrections": "restrict_use_case",
    }
    return {"incident": incident, "markers": markers, "reporter": reporter}


def share(actor_for, user, incident, recipient, *, fields, tlp="AMBER"):
    return sharing_create(
        actor=actor_for(user), incident=incident, recipient_id=recipient.pk, tlp=tlp, fields=fields,
        purpose="Warn a peer lab about the same jailbreak.",
    )  # fmt: skip


def test_every_shareable_field_has_a_marker_here(world):
    assert set(world["markers"]) == set(field_keys())


@pytest.mark.parametrize("chosen", field_keys())
def test_a_package_carries_the_ref_and_exactly_the_chosen_field(world, leader, recipient, actor_for, chosen):
    made = share(actor_for, leader, world["incident"], recipient, fields=[chosen])
    document = json.loads(made.package)
    bundle = json.loads(made.stix)
    note = next(o for o in bundle["objects"] if o["type"] == "note")

    assert set(document["incident"]) == {"ref", chosen} and document["fields"] == [chosen]
    assert set(json.loads(note["content"])) == {"ref", chosen}
    for field, marker in world["markers"].items():
        if marker is None:
            continue
        for text in (made.package, made.stix):
            assert (marker in text) == (field == chosen), (
                f"{field}'s value {'missing from' if field == chosen else 'leaked into'} a package of {chosen}"
            )
    # Nobody's name travels, whatever is chosen (the rationale of a correction neither).
    for secret in ("rita-reporter", "pat-participant", "lee-leader", "Marker-rationale-QX", "Warn a peer lab"):
        assert secret not in made.package and secret not in made.stix


def test_a_package_of_no_fields_carries_only_the_ref(world, leader, recipient, actor_for):
    made = share(actor_for, leader, world["incident"], recipient, fields=[])
    assert json.loads(made.package)["incident"] == {"ref": world["incident"].ref}
    assert all(m not in made.package + made.stix for m in world["markers"].values() if m)


def test_a_field_outside_the_allowlist_is_refused(world, leader, recipient, actor_for):
    with pytest.raises(DomainError) as refused:
        share(actor_for, leader, world["incident"], recipient, fields=["title", "participants"])
    assert "participants" in refused.value.fields["fields"][0]
    assert not Share.objects.exists()


def test_the_share_is_in_the_ledger_with_the_hashes_of_the_bytes_served(
    world, leader, recipient, actor_for, client_for
):
    made = share(actor_for, leader, world["incident"], recipient, fields=["title", "severity"])
    event = LedgerEvent.objects.get(verb="incident.shared")
    downloaded = client_for(leader).get(f"/incidents/{world['incident'].ref}/shares/{made.pk}/package.json")
    stix = client_for(leader).get(f"/incidents/{world['incident'].ref}/shares/{made.pk}/stix.json")

    assert event.incident_ref == world["incident"].ref and event.actor_name == "lee-leader"
    assert event.after["recipient"] == "Frontier Lab B"
    assert event.after["tlp"] == "AMBER" and event.after["fields"] == ["title", "severity"]
    assert event.reason == "Warn a peer lab about the same jailbreak."
    assert event.after["package_sha256"] == hashlib.sha256(downloaded.content).hexdigest() == made.package_sha256
    assert event.after["stix_sha256"] == hashlib.sha256(stix.content).hexdigest() == made.stix_sha256
    assert (
        downloaded["Content-Disposition"].startswith("attachment;")
        and downloaded["X-Content-Type-Options"] == "nosniff"
    )


def test_only_commanders_and_leadership_share(world, make_user, recipient, actor_for, api_for):
    responder = make_user(Role.RESPONDER)
    answer = api_for(responder).post(
        f"/api/v1/incidents/{world['incident'].ref}/shares/",
        {"recipient": recipient.pk, "tlp": "GREEN", "fields": ["title"], "purpose": "x"}, format="json",
    )  # fmt: skip
    assert answer.status_code == 403 and not Share.objects.exists()


def test_a_restricted_incident_is_404_to_an_ungranted_commander_and_shared_by_a_granted_one(
    make_incident, make_user, recipient, api_for, client_for
):
    incident = make_incident(restricted=True)
    ungranted, granted = make_user(Role.INCIDENT_COMMANDER), make_user(Role.INCIDENT_COMMANDER)
    assign_perm("view_restricted_incident", granted, incident)
    body = {"recipient": recipient.pk, "tlp": "RED", "fields": ["title", "summary"], "purpose": "Government asked."}
    url = f"/api/v1/incidents/{incident.ref}/shares/"

    refused = api_for(ungranted).post(url, body, format="json")
    page = client_for(ungranted).post(f"/incidents/{incident.ref}/shares/",
                                      {"recipient": recipient.pk, "tlp": "RED", "purpose": "x"})  # fmt: skip
    listed = api_for(ungranted).get(url)
    assert (refused.status_code, page.status_code, listed.status_code) == (404, 404, 404)
    assert not Share.objects.exists()

    made = api_for(granted).post(url, body, format="json")
    assert made.status_code == 201, made.content
    assert api_for(ungranted).get(f"{url}{made.json()['id']}/package/").status_code == 404
    assert api_for(granted).get(f"{url}{made.json()['id']}/package/").status_code == 200


def test_a_drill_is_never_shared(make_incident, leader, recipient, actor_for, api_for):
    drill = make_incident(is_drill=True)
    answer = api_for(leader).post(
        f"/api/v1/incidents/{drill.ref}/shares/",
        {"recipient": recipient.pk, "tlp": "CLEAR", "fields": ["title"], "purpose": "x"}, format="json",
    )  # fmt: skip
    assert answer.status_code == 409 and "drill" in answer.json()["detail"]
    assert not Share.objects.exists() and not LedgerEvent.objects.filter(verb="incident.shared").exists()


def test_an_inactive_recipient_is_refused(world, leader, recipient, actor_for):
    recipient.active = False
    recipient.save()
    with pytest.raises(DomainError) as refused:
        share(actor_for, leader, world["incident"], recipient, fields=["title"])
    assert "recipient" in refused.value.fields


@pytest.mark.parametrize("tlp", ["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"])
def test_the_stix_bundle_has_the_shape_of_stix_2_1_with_tlp_2_markings(world, leader, recipient, actor_for, tlp):
    made = share(actor_for, leader, world["incident"], recipient, fields=["title", "summary", "severity"], tlp=tlp)
    bundle = json.loads(made.stix)
    objects = {o["type"]: o for o in bundle["objects"]}
    marking_id = package.TLP_MARKINGS[tlp]

    assert bundle["type"] == "bundle" and re.fullmatch(rf"bundle--{UUID}", bundle["id"])
    assert "spec_version" not in bundle  # a 2.1 bundle has none of its own
    assert set(objects) == {"marking-definition", "identity", "incident", "note", "report"}
    for obj in bundle["objects"]:
        assert obj["spec_version"] == "2.1"
        assert re.fullmatch(rf"{obj['type']}--{UUID}", obj["id"]), obj["id"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", obj["created"])
        if obj["type"] != "marking-definition":
            assert obj["object_marking_refs"] == [marking_id]
            assert obj["modified"] == obj["created"]
    marking = objects["marking-definition"]
    assert marking["id"] == marking_id and marking["name"] == f"TLP:{tlp}"
    assert marking["extensions"][package.TLP_EXTENSION] == {
        "extension_type": "property-extension",
        "tlp_2_0": tlp.lower(),
    }
    ids = {o["id"] for o in bundle["objects"]}
    assert set(objects["report"]["object_refs"]) <= ids and objects["note"]["object_refs"] == [
        objects["incident"]["id"]
    ]
    assert (
        objects["incident"]["name"] == "Marker-title-QX" and objects["incident"]["description"] == "Marker-summary-QX"
    )
    assert objects["incident"]["created_by_ref"] == objects["identity"]["id"] == objects["report"]["created_by_ref"]
    assert json.loads(made.package)["tlp"] == f"TLP:{tlp}"


def test_without_the_title_the_stix_incident_is_named_by_its_ref(world, leader, recipient, actor_for):
    made = share(actor_for, leader, world["incident"], recipient, fields=["severity"])
    incident = next(o for o in json.loads(made.stix)["objects"] if o["type"] == "incident")
    assert incident["name"] == world["incident"].ref and "description" not in incident


def test_the_share_page_makes_a_package_and_lists_it(world, leader, recipient, client_for):
    client = client_for(leader)
    url = f"/incidents/{world['incident'].ref}/shares/"
    form = client.get(url)
    assert form.status_code == 200 and "Frontier Lab B" in form.content.decode()
    assert 'name="include" value="evidence_hashes"' in form.content.decode()  # every allowlisted field offered

    made = client.post(
        url, {"recipient": recipient.pk, "tlp": "GREEN", "include": ["title", "dates"], "purpose": "Peer warning."}
    )
    assert made.status_code == 302
    listing = client.get(url).content.decode()
    assert "TLP:GREEN" in listing and "title, dates" in listing
    assert Share.objects.get().fields == ["title", "dates"]


def test_the_regulator_bundle_carries_evidence_hashes_and_shares_not_files(world, leader, recipient, actor_for):
    share(actor_for, leader, world["incident"], recipient, fields=["title"])
    bundle = incident_bundle(user=leader, ref=world["incident"].ref)

    assert [e["sha256"] for e in bundle["evidence"]] == [world["markers"]["evidence_hashes"]]
    assert "Marker-evidence-QX" not in json.dumps(bundle)  # the hash, never the file
    assert bundle["shares"][0]["recipient"] == "Frontier Lab B" and bundle["shares"][0]["fields"] == ["title"]
    assert bundle["shares"][0]["package_sha256"] == Share.objects.get().package_sha256


def test_the_register_is_kept_in_the_admin_and_ledgered(make_user, client_for):
    admin = make_user(Role.ADMIN)
    admin.is_staff = admin.is_superuser = True
    admin.save()
    response = client_for(admin).post(
        "/admin/incidents/sharingrecipient/add/",
        {"name": "AI Safety Institute", "kind": "government", "contact": "incidents@aisi.example", "active": "on"},
    )
    assert response.status_code == 302, response.content[:500]
    assert LedgerEvent.objects.filter(verb="registry.sharingrecipient_created").exists()


@pytest.mark.parametrize("where", ["page", "api", "recipients"])
def test_share_lists_cost_the_same_queries_for_3_and_30(
    where, world, leader, actor_for, client_for, api_for, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ref = world["incident"].ref
    client = client_for(leader) if where == "page" else api_for(leader)
    url = {"page": f"/incidents/{ref}/shares/", "api": f"/api/v1/incidents/{ref}/shares/",
           "recipients": "/api/v1/sharing/recipients/"}[where]  # fmt: skip
    made = [0]

    def grow(n):
        for _ in range(n):
            made[0] += 1
            recipient = SharingRecipient.objects.create(name=f"R{made[0]}", kind="other", contact="x")
            share(actor_for, leader, world["incident"], recipient, fields=["title"])

    grow(3)
    client.get(url)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    grow(27)
    with django_assert_num_queries(len(small)):
        assert client.get(url).status_code == 200
