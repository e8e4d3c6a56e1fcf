"""Auditor pages (issue 5 §2, §4, §5): history with filters and diffs, narrative, verify now,
exports, restricted incidents and grants, read-only everywhere."""

from __future__ import annotations

import json

import pytest
from django.db import transaction
from django.http import StreamingHttpResponse
from django.urls import reverse

from accounts import ledger
from accounts.access import ACCESS_ATTR
from accounts.models import LedgerEvent, LedgerHead
from accounts.roles import Role
from config.errors import DomainError
from incidents import audit, services
from incidents.audit import narrative, sections
from incidents.audit import urls as audit_urls
from incidents.models import IncidentUserObjectPermission
from tests.urlwalk import routes


@pytest.fixture
def people(make_user):
    return {role: make_user(role) for role in Role}


@pytest.fixture
def story(make_incident, people, actor_for):
    commander = people[Role.INCIDENT_COMMANDER]
    sev1 = make_incident(title="Weights exfiltration attempt", severity="SEV3", category="security")
    services.incident_edit(
        actor=actor_for(commander), incident=sev1, changes={"severity": "SEV1"}, reason="Exfiltration confirmed"
    )
    services.timeline_entry_add(
        actor=actor_for(commander), incident=sev1, kind="decision", body="Pause atlas-api",
        options_considered="pause; rate limit", rationale="Stops the exfiltration path at once.",
    )  # fmt: skip
    secret = make_incident(title="Hazardous synthesis details", restricted=True, by=commander)
    return {"sev1": sev1, "secret": secret}


def _signed_in(client, user):
    client.force_login(user)
    return client


def _audit_routes() -> list[tuple[str, str]]:
    """(url name, example path) for every auditor page, found from the URL conf itself."""
    routes = []
    for pattern in audit_urls.urlpatterns:
        kwargs = {name: "INC-2026-0001" for name in pattern.pattern.converters}
        routes.append((pattern.name, reverse(pattern.name, kwargs=kwargs)))
    return routes


AUDIT_ROUTES = _audit_routes()
READ_ONLY_ROUTES = [(name, path) for name, path in AUDIT_ROUTES if name != "audit-incident-access"]


# --- access: declared on every view, read-only for auditors -----------------------------------------


@pytest.mark.parametrize("pattern", audit_urls.urlpatterns, ids=lambda p: p.name)
def test_every_audit_page_declares_its_roles(pattern):
    access = getattr(pattern.callback, ACCESS_ATTR, None)
    assert isinstance(access, dict), f"{pattern.name} must be decorated with role_required"
    assert Role.RESPONDER not in access["roles"]
    # What writes are allowed is checked by behaviour below (403 for every non-GET method).


@pytest.mark.parametrize(("name", "path"), READ_ONLY_ROUTES)
@pytest.mark.parametrize("role", [Role.AUDITOR, Role.LEADERSHIP, Role.INCIDENT_COMMANDER, Role.ADMIN])
def test_audit_roles_may_open_every_audit_page(client, people, story, name, path, role):
    path = path.replace("INC-2026-0001", story["sev1"].ref)
    assert _signed_in(client, people[role]).get(path).status_code == 200


@pytest.mark.parametrize(("name", "path"), AUDIT_ROUTES)
def test_responders_may_not_open_audit_pages(client, people, story, name, path):
    assert _signed_in(client, people[Role.RESPONDER]).get(path).status_code == 403


@pytest.mark.parametrize(("name", "path"), AUDIT_ROUTES)
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_auditors_get_403_for_any_write_to_an_audit_page(client, people, story, name, path, method):
    path = path.replace("INC-2026-0001", story["secret"].ref)
    response = getattr(_signed_in(client, people[Role.AUDITOR]), method)(path, {})
    assert response.status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(client, story):
    response = client.get(reverse("audit-events"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


# --- auditors may not change anything anywhere (parametrised over the whole URL conf) ---------------


def _example_path(route: str) -> str:
    import re

    path = re.sub(r"<int:[^>]+>", "1", route)
    path = re.sub(r"<(?:str|slug):[^>]+>", "INC-2026-0001", path)
    path = re.sub(r"<[^>]+>", "x", path)
    return "/" + path.lstrip("^").rstrip("$")


def _may_be_written_by_anyone(callback) -> bool:
    """Sign-in and sign-out pages: writing there changes only the caller's own session."""
    name = getattr(callback, "__name__", "")
    return getattr(callback, ACCESS_ATTR, None) == "public" or name in {"login", "logout", "token_obtain"}


MUTATING_ROUTES = [
    (route, _example_path(route))
    for route, callback in routes()
    if not _may_be_written_by_anyone(callback)
    # /healthz, /readyz, /-/metrics: GET only for everyone, roles count for nothing there (test_ops.py)
    and getattr(callback, ACCESS_ATTR, None) != "ops"
    and not getattr(getattr(callback, "cls", None), "public_endpoint", False)
    and not (getattr(callback, "cls", None) or type(None)).__module__.startswith("drf_spectacular")
]


@pytest.mark.parametrize(("route", "path"), MUTATING_ROUTES, ids=[r for r, _ in MUTATING_ROUTES])
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_an_auditor_is_refused_on_every_mutating_endpoint(client, people, story, route, path, method):
    response = getattr(_signed_in(client, people[Role.AUDITOR]), method)(
        path, data=json.dumps({}), content_type="application/json"
    )
    # The role check comes before anything else, so even a method the endpoint lacks answers 403.
    assert response.status_code == 403, f"{method.upper()} {path}: {response.status_code}"


def test_auditors_cannot_use_the_django_admin(client, people):
    response = _signed_in(client, people[Role.AUDITOR]).get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


# --- the whole history ------------------------------------------------------------------------------


def test_history_lists_events_newest_first_with_readable_diffs(client, people, story):
    response = _signed_in(client, people[Role.AUDITOR]).get(reverse("audit-events"))
    body = response.content.decode()
    assert response.status_code == 200
    seqs = [item.event.seq for item in response.context["items"]]
    assert seqs == sorted(seqs, reverse=True)
    # The severity change reads as a diff: the old value struck out, the new one inserted.
    assert "changed the severity from SEV3 to SEV1" in body
    assert "<del>SEV3</del>" in body and "<ins>SEV1</ins>" in body
    assert "Exfiltration confirmed" in body  # the reason


def test_history_never_shows_a_restricted_incident_to_an_auditor_without_a_grant(client, people, story):
    body = _signed_in(client, people[Role.AUDITOR]).get(reverse("audit-events")).content.decode()
    assert story["secret"].ref not in body and "Hazardous synthesis" not in body


@pytest.mark.parametrize(
    ("params", "verbs"),
    [
        ({"verb": "incident.severity_changed"}, {"incident.severity_changed"}),
        ({"verb": "timeline."}, {"timeline.decision_recorded"}),
        ({"object_type": "incidents.timelineentry"}, {"timeline.decision_recorded"}),
    ],
)
def test_history_filters(client, people, story, params, verbs):
    response = _signed_in(client, people[Role.AUDITOR]).get(reverse("audit-events"), params)
    assert {item.event.verb for item in response.context["items"]} == verbs


def test_history_filters_by_actor_incident_and_time(client, people, story):
    client = _signed_in(client, people[Role.AUDITOR])
    commander = people[Role.INCIDENT_COMMANDER].username
    by_actor = client.get(reverse("audit-events"), {"actor": commander, "incident": story["sev1"].ref})
    assert by_actor.context["items"]
    assert {i.event.actor_name for i in by_actor.context["items"]} == {commander}
    future = client.get(reverse("audit-events"), {"since": "2999-01-01T00:00"})
    assert future.context["items"] == []


def test_a_filter_that_does_not_parse_is_shown_not_applied(client, people, story):
    response = _signed_in(client, people[Role.AUDITOR]).get(reverse("audit-events"), {"since": "last tuesday"})
    assert response.status_code == 400
    assert response.context["items"]


def test_history_pages_by_sequence_number(client, people, story, make_incident, monkeypatch):
    from incidents.audit import views as audit_views

    monkeypatch.setattr(audit_views, "PAGE_SIZE", 2)
    for _ in range(3):
        make_incident()
    client = _signed_in(client, people[Role.LEADERSHIP])
    total = LedgerEvent.objects.count()
    seen, response = [], client.get(reverse("audit-events"))
    while True:
        seen += [item.event.seq for item in response.context["items"]]
        if response.context["older"] is None:
            break
        response = client.get(reverse("audit-events"), {"before": response.context["older"]})
    assert seen == list(range(total, 0, -1))
    newest_on_last_page = response.context["newest_seq"]
    back = client.get(reverse("audit-events"), {"after": newest_on_last_page})
    assert [item.event.seq for item in back.context["items"]] == [newest_on_last_page + 2, newest_on_last_page + 1]


def test_history_page_costs_the_same_queries_whatever_the_volume(
    client, people, story, make_incident, django_assert_max_num_queries
):
    client = _signed_in(client, people[Role.AUDITOR])
    client.get(reverse("audit-events"))
    with django_assert_max_num_queries(6) as few:
        client.get(reverse("audit-events"))
    for _ in range(8):
        make_incident()
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("audit-events"))


# --- an incident's history as a narrative ---------------------------------------------------------------


def test_incident_history_tells_who_did_what_with_decisions_and_rationale(client, people, story):
    sev1 = story["sev1"]
    response = _signed_in(client, people[Role.AUDITOR]).get(reverse("audit-incident", args=[sev1.ref]))
    body = response.content.decode()
    assert response.status_code == 200
    assert f"opened {sev1.ref}" in body
    assert "recorded a decision" in body
    assert "Pause atlas-api" in body and "Stops the exfiltration path at once." in body and "pause; rate limit" in body
    sentences = [item.sentence for item in response.context["history"].items]
    assert sentences.index("recorded a decision") > sentences.index("changed the severity from SEV3 to SEV1")


def test_incident_history_includes_other_apps_events_and_sections(client, people, story, monkeypatch):
    sev1 = story["sev1"]
    actor = services.Actor(user=people[Role.LEADERSHIP], source="web")
    with transaction.atomic():
        ledger.record(actor=actor, verb="correction.approved", object_type="corrections.correction", object_id="7",
                      incident_ref=sev1.ref, after={"state": "approved"})  # fmt: skip
    monkeypatch.setattr(sections, "_SECTIONS", {})
    audit.register_section(
        audit.AuditSection(key="corrections", title="Corrections", build=lambda i: [{"approvals": 2}])
    )
    monkeypatch.setattr(narrative, "_PHRASES", dict(narrative._PHRASES))
    audit.register_phrase("correction.approved", lambda event: f"approved correction #{event.object_id}")
    body = _signed_in(client, people[Role.AUDITOR]).get(reverse("audit-incident", args=[sev1.ref])).content.decode()
    assert "approved correction #7" in body
    assert "Corrections" in body and "approvals" in body


def test_incident_history_of_a_restricted_incident_is_404_without_a_grant(client, people, story):
    response = _signed_in(client, people[Role.AUDITOR]).get(reverse("audit-incident", args=[story["secret"].ref]))
    assert response.status_code == 404


def test_incident_list_counts_only_what_the_auditor_may_see(client, people, story, actor_for):
    auditor = people[Role.AUDITOR]
    client = _signed_in(client, auditor)
    before = client.get(reverse("audit-incidents")).context["page"].paginator.count
    services.incident_grant_access(
        actor=actor_for(people[Role.INCIDENT_COMMANDER]), incident=story["secret"], user=auditor, reason="Audit"
    )
    after = client.get(reverse("audit-incidents"))
    assert after.context["page"].paginator.count == before + 1
    assert story["secret"].ref in after.content.decode()
    assert client.get(reverse("audit-incident", args=[story["secret"].ref])).status_code == 200


# --- verify now -----------------------------------------------------------------------------------------


def test_verify_page_shows_the_head_and_verifies_on_demand(client, people, story):
    client = _signed_in(client, people[Role.AUDITOR])
    head = LedgerHead.objects.get()
    idle = client.get(reverse("audit-verify"))
    assert head.hash in idle.content.decode() and idle.context["result"] is None
    run = client.get(reverse("audit-verify"), {"run": "1"})
    assert run.context["result"].ok
    assert "Intact" in run.content.decode() and head.hash in run.content.decode()


def test_verify_page_names_the_altered_event(client, people, story, tamper):
    tamper("UPDATE {ledger} SET after = %s WHERE seq = 2", ['{"severity": "SEV4"}'])
    response = _signed_in(client, people[Role.AUDITOR]).get(reverse("audit-verify"), {"run": "1"})
    assert "Broken at event #2" in response.content.decode()
    assert "content does not match its hash" in response.content.decode()


# --- exports from the pages -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["audit-export-jsonl", "audit-export-csv"])
def test_page_exports_stream_as_attachments_carrying_the_head_hash(client, people, story, name):
    response = _signed_in(client, people[Role.AUDITOR]).get(reverse(name))
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Disposition"].startswith("attachment;")
    body = b"".join(response.streaming_content).decode()
    assert LedgerHead.objects.get().hash in body.splitlines()[0 if name.endswith("jsonl") else 1]
    assert story["secret"].ref not in body


def test_page_export_honours_the_filters(client, people, story):
    response = _signed_in(client, people[Role.AUDITOR]).get(
        reverse("audit-export-jsonl"), {"incident": story["sev1"].ref}
    )
    events = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()][1:-1]
    assert events and {e["incident_ref"] for e in events} == {story["sev1"].ref}


# --- granting access to a restricted incident --------------------------------------------------------------


def test_a_commander_grants_an_auditor_access_and_it_is_recorded(client, people, story):
    auditor, secret = people[Role.AUDITOR], story["secret"]
    commander_client = _signed_in(client, people[Role.INCIDENT_COMMANDER])
    page = commander_client.get(reverse("audit-incident-access", args=[secret.ref]))
    assert page.status_code == 200
    response = commander_client.post(
        reverse("audit-incident-access", args=[secret.ref]), {"user": auditor.pk, "reason": "Quarterly audit"}
    )
    assert response.status_code == 302
    event = LedgerEvent.objects.get(verb="incident.access_granted", incident_ref=secret.ref)
    assert event.after == {"user": auditor.username} and event.reason == "Quarterly audit"
    assert audit.incident_history_for(user=auditor, ref=secret.ref) is not None
    commander_client.post(
        reverse("audit-incident-access", args=[secret.ref]),
        {"action": "revoke", "user": auditor.pk, "reason": "Audit finished"},
    )
    assert LedgerEvent.objects.filter(verb="incident.access_revoked", incident_ref=secret.ref).exists()
    assert audit.incident_history_for(user=auditor, ref=secret.ref) is None


def test_no_grant_lies_in_wait_on_an_unrestricted_incident(people, story, actor_for):
    """Another channel than the page (a script, the shell): the service itself refuses, so the grant
    cannot sit unseen until someone restricts the incident and it quietly lets this person in."""
    auditor, open_incident = people[Role.AUDITOR], story["sev1"]
    with pytest.raises(DomainError, match="not restricted"):
        services.incident_grant_access(
            actor=actor_for(people[Role.INCIDENT_COMMANDER]), incident=open_incident, user=auditor, reason="Audit"
        )
    assert not IncidentUserObjectPermission.objects.filter(user=auditor).exists()
    assert not LedgerEvent.objects.filter(verb="incident.access_granted").exists()


def test_the_page_refuses_a_grant_on_an_unrestricted_incident(client, people, story):
    auditor, open_incident = people[Role.AUDITOR], story["sev1"]
    response = _signed_in(client, people[Role.INCIDENT_COMMANDER]).post(
        reverse("audit-incident-access", args=[open_incident.ref]), {"user": auditor.pk, "reason": "Quarterly audit"}
    )
    assert response.status_code == 400
    assert "not restricted" in response.content.decode()
    assert not IncidentUserObjectPermission.objects.filter(user=auditor).exists()
    assert not LedgerEvent.objects.filter(verb="incident.access_granted").exists()


def test_a_grant_needs_a_reason(client, people, story):
    response = _signed_in(client, people[Role.INCIDENT_COMMANDER]).post(
        reverse("audit-incident-access", args=[story["secret"].ref]), {"user": people[Role.AUDITOR].pk, "reason": ""}
    )
    assert response.status_code == 400
    assert not LedgerEvent.objects.filter(verb="incident.access_granted").exists()


def test_auditors_cannot_grant_themselves_access(client, people, story):
    auditor = people[Role.AUDITOR]
    response = _signed_in(client, auditor).post(
        reverse("audit-incident-access", args=[story["secret"].ref]), {"user": auditor.pk, "reason": "please"}
    )
    assert response.status_code == 403
    assert audit.incident_history_for(user=auditor, ref=story["secret"].ref) is None
