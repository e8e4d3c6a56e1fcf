import re
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import LedgerEvent
from accounts.roles import Role
from incidents import services
from incidents.models import Incident, Signal, TimelineEntry


@pytest.fixture
def responder(make_user):
    return make_user(Role.RESPONDER)


@pytest.fixture
def make_signal(db, registry, make_user, actor_for):
    def make(**fields):
        defaults = {
            "source": "internal_monitoring",
            "title": "Classifier spike",
            "detail": "Hit rate tripled.",
            "severity_hint": "SEV2",
            "deployment": registry["atlas-chat"],
        }
        signal, _ = services.signal_ingest(actor=actor_for(make_user(Role.RESPONDER)), **(defaults | fields))
        return signal

    return make


def new_incident_form(registry, **fields):
    return {
        "title": "Model gives synthesis route",
        "summary": "Seen in red-team transcripts.",
        "severity": "SEV2",
        "category": "dangerous_capability",
        "risk_domain": "cbrn",
        "source": "red_team",
        "deployments": [registry["atlas-chat"].pk],
    } | fields


def flash(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- dashboard -----------------------------------------------------------------------------------


def test_dashboard_counts_open_incidents_by_severity_most_severe_first(client_for, make_incident, responder):
    make_incident(severity="SEV3", title="Third")
    make_incident(severity="SEV1", title="First")
    make_incident(severity="SEV3", title="Also third")
    response = client_for(responder).get(reverse("dashboard"))
    assert response.status_code == 200
    assert response.context["by_severity"] == {"SEV1": 1, "SEV2": 0, "SEV3": 2, "SEV4": 0}
    titles = [i.title for i in response.context["open_incidents"]]
    assert titles[0] == "First"
    content = response.content.decode()
    assert content.index("First") < content.index("Third")


def test_dashboard_shows_recent_changes_and_open_signals(client_for, make_incident, make_signal, responder):
    incident = make_incident(title="Recent one")
    make_signal()
    response = client_for(responder).get(reverse("dashboard"))
    assert response.context["open_signals"] == 1
    content = response.content.decode()
    assert incident.ref in content
    assert f"opened {incident.ref}" in content


def test_dashboard_hides_write_buttons_from_auditors(client_for, make_user, make_incident):
    make_incident()
    content = client_for(make_user(Role.AUDITOR)).get(reverse("dashboard")).content.decode()
    assert reverse("incident-new") not in content


# --- new incident --------------------------------------------------------------------------------


def test_responder_creates_an_incident_through_the_form_and_it_is_listed(client_for, responder, registry):
    client = client_for(responder)
    assert client.get(reverse("incident-new")).status_code == 200
    response = client.post(reverse("incident-new"), new_incident_form(registry), follow=True)
    incident = Incident.objects.get()
    assert response.redirect_chain == [(reverse("incident-detail", args=[incident.ref]), 302)]
    assert f"{incident.ref} created." in flash(response)
    assert incident.reporter == responder
    assert [d.slug for d in incident.deployments.all()] == ["atlas-chat"]
    event = LedgerEvent.objects.get(verb="incident.created")
    assert (event.source, event.actor_name) == ("web", responder.username)
    listing = client.get(reverse("incident-list")).content.decode()
    assert incident.ref in listing
    assert "Model gives synthesis route" in listing


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"category": "sabotage"}, "category"),
        ({"severity": "SEV9"}, "severity"),
        ({"risk_domain": ""}, "risk_domain"),
        ({"occurred_at": "yesterday-ish"}, "occurred_at"),
        ({"deployments": ["999999"]}, "deployments"),
    ],
)
def test_bad_new_incident_input_is_refused_with_field_errors(client_for, responder, registry, fields, bad_field):
    response = client_for(responder).post(reverse("incident-new"), new_incident_form(registry, **fields))
    assert response.status_code == 400
    assert bad_field in response.context["form"].errors
    assert b"errorlist" in response.content
    assert not Incident.objects.exists()
    assert not LedgerEvent.objects.exists()


def test_a_service_refusal_on_the_new_form_is_bound_to_its_field(client_for, responder, registry):
    future = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = client_for(responder).post(reverse("incident-new"), new_incident_form(registry, occurred_at=future))
    assert response.status_code == 400
    assert response.context["form"].errors["occurred_at"] == ["This time is in the future."]
    assert not Incident.objects.exists()


def test_restricted_incident_from_the_form_stays_visible_to_its_reporter(client_for, responder, registry, make_user):
    client_for(responder).post(reverse("incident-new"), new_incident_form(registry, restricted="on"))
    incident = Incident.objects.get()
    assert incident.restricted
    assert client_for(responder).get(reverse("incident-detail", args=[incident.ref])).status_code == 200
    assert client_for(make_user(Role.RESPONDER)).get(reverse("incident-detail", args=[incident.ref])).status_code == 404


# --- auditors: read everything they can see, change nothing -----------------------------------------


def _post_pages(incident, signal):
    ref = incident.ref
    return [
        (reverse("incident-new"), {"title": "x", "category": "misuse", "risk_domain": "cyber", "severity": "SEV3"}),
        (reverse("incident-add-entry", args=[ref]), {"kind": "note", "body": "hello"}),
        (reverse("incident-status", args=[ref]), {"status": "triaged", "reason": "because"}),
        (reverse("incident-severity", args=[ref]), {"severity": "SEV1", "reason": "because"}),
        (reverse("incident-escalate", args=[ref]), {"severity": "SEV1", "reason": "because"}),
        (reverse("incident-assign", args=[ref]), {"commander": incident.reporter_id}),
        (reverse("incident-edit-details", args=[ref]), {"title": "x", "category": "misuse", "risk_domain": "cyber"}),
        (reverse("signal-promote", args=[signal.pk]), {}),
        (reverse("signal-dismiss", args=[signal.pk]), {"reason": "noise"}),
    ]


def test_auditor_gets_403_on_every_post_and_nothing_changes(client_for, make_user, make_incident, make_signal):
    incident, signal = make_incident(), make_signal()
    events = LedgerEvent.objects.count()
    client = client_for(make_user(Role.AUDITOR))
    for url, data in _post_pages(incident, signal):
        assert client.post(url, data).status_code == 403, url
    assert LedgerEvent.objects.count() == events
    assert Incident.objects.count() == 1
    assert Signal.objects.get().state == Signal.State.OPEN


def test_auditor_sees_pages_without_write_forms(client_for, make_user, make_incident, make_signal):
    incident = make_incident()
    make_signal()
    client = client_for(make_user(Role.AUDITOR))
    for url in (reverse("dashboard"), reverse("incident-list"), reverse("signal-list")):
        response = client.get(url)
        assert response.status_code == 200
        assert response.content.count(b'method="post"') == 1, url  # sign out only
    detail = client.get(reverse("incident-detail", args=[incident.ref]))
    assert detail.status_code == 200
    assert incident.title.encode() in detail.content
    # The only form an auditor gets is the sign-out button.
    assert detail.content.count(b'method="post"') == 1
    assert client.get(reverse("incident-new")).status_code == 403


def test_writers_see_the_forms(client_for, responder, make_incident, make_signal):
    incident = make_incident()
    make_signal()
    detail = client_for(responder).get(reverse("incident-detail", args=[incident.ref])).content.decode()
    for name in (
        "incident-add-entry",
        "incident-status",
        "incident-severity",
        "incident-escalate",
        "incident-edit-details",
    ):
        assert reverse(name, args=[incident.ref]) in detail
    assert reverse("incident-assign", args=[incident.ref]) not in detail  # commanders only
    signals = client_for(responder).get(reverse("signal-list")).content.decode()
    assert "Promote to incident" in signals


def test_every_form_carries_a_csrf_token(client_for, make_user, make_incident, make_signal):
    incident = make_incident()
    make_signal()
    client = client_for(make_user(Role.INCIDENT_COMMANDER))
    for url in (reverse("incident-detail", args=[incident.ref]), reverse("signal-list"), reverse("incident-new")):
        content = client.get(url).content.decode()
        assert content.count('method="post"') == content.count("csrfmiddlewaretoken"), url


# --- visibility ----------------------------------------------------------------------------------


def test_unknown_ref_is_404(client_for, responder):
    assert client_for(responder).get(reverse("incident-detail", args=["INC-1999-0001"])).status_code == 404
    response = client_for(responder).post(reverse("incident-status", args=["INC-1999-0001"]), {"status": "triaged"})
    assert response.status_code == 404


def test_restricted_incident_is_invisible_to_a_responder_not_granted_it(
    client_for, make_user, make_incident, make_signal, actor_for
):
    secret = make_incident(restricted=True, severity="SEV1", title="Secret weights leak")
    make_incident(severity="SEV3", title="Ordinary")
    signal = make_signal(title="Leak signal")
    services.signal_promote(actor=actor_for(secret.reporter), signal=signal)  # hands the signal to a new incident
    other = make_user(Role.RESPONDER)
    client = client_for(other)
    assert client.get(reverse("incident-detail", args=[secret.ref])).status_code == 404
    note = {"kind": "note", "body": "x"}
    assert client.post(reverse("incident-add-entry", args=[secret.ref]), note).status_code == 404
    listing = client.get(reverse("incident-list"))
    assert secret.ref not in listing.content.decode()
    assert "Secret weights leak" not in listing.content.decode()
    dashboard = client.get(reverse("dashboard"))
    assert dashboard.context["by_severity"]["SEV1"] == 0
    assert secret.ref not in dashboard.content.decode()


def test_restricted_incident_is_visible_to_leadership(client_for, make_user, make_incident):
    secret = make_incident(restricted=True, severity="SEV1", title="Secret weights leak")
    client = client_for(make_user(Role.LEADERSHIP))
    assert client.get(reverse("incident-detail", args=[secret.ref])).status_code == 200
    assert secret.ref in client.get(reverse("incident-list")).content.decode()
    assert client.get(reverse("dashboard")).context["by_severity"]["SEV1"] == 1


# --- detail page ---------------------------------------------------------------------------------


def test_detail_shows_summary_people_deployments_definition_and_timeline(
    client_for, responder, make_incident, actor_for
):
    incident = make_incident(by=responder, severity="SEV1", summary="Weights copied to an unknown host.")
    services.timeline_entry_add(
        actor=actor_for(responder),
        incident=incident,
        kind="decision",
        body="Rotate every serving credential.",
        options_considered="Wait; rotate some; rotate all.",
        rationale="We cannot tell which were exposed.",
    )
    content = client_for(responder).get(reverse("incident-detail", args=[incident.ref])).content.decode()
    for text in (
        "Weights copied to an unknown host.",
        "Catastrophic harm is plausible",
        "atlas-api",
        responder.display_name,
        "Rotate every serving credential.",
        "Wait; rotate some; rotate all.",
        "We cannot tell which were exposed.",
        f"opened {incident.ref}",
        "Acknowledged",
    ):
        assert text in content, text


def test_add_note_redirects_with_a_message(client_for, responder, make_incident):
    incident = make_incident()
    response = client_for(responder).post(
        reverse("incident-add-entry", args=[incident.ref]), {"kind": "note", "body": "Looking at logs."}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("incident-detail", args=[incident.ref])
    assert f"Note added to {incident.ref}." in flash(response)
    assert "Looking at logs." in response.content.decode()


def test_backdated_note_keeps_its_time(client_for, responder, make_incident):
    incident = make_incident()
    client_for(responder).post(
        reverse("incident-add-entry", args=[incident.ref]),
        {"kind": "note", "body": "First saw it here.", "occurred_at": "2026-01-02T03:04"},
    )
    entry = TimelineEntry.objects.get()
    assert entry.occurred_at.isoformat() == "2026-01-02T03:04:00+00:00"
    content = client_for(responder).get(reverse("incident-detail", args=[incident.ref])).content.decode()
    assert "backdated" in content


def test_decision_without_rationale_is_refused_on_the_rationale_field(client_for, responder, make_incident):
    incident = make_incident()
    response = client_for(responder).post(
        reverse("incident-add-entry", args=[incident.ref]), {"kind": "decision", "body": "Pause chat."}
    )
    assert response.status_code == 400
    assert response.context["forms"]["entry"].errors["rationale"] == ["A decision needs its rationale."]
    assert response.context["failed"] == "entry"
    assert b'id="act-entry" class="action" open' in response.content
    assert not TimelineEntry.objects.exists()


def test_status_change_without_reason_is_refused(client_for, responder, make_incident):
    incident = make_incident()
    response = client_for(responder).post(reverse("incident-status", args=[incident.ref]), {"status": "triaged"})
    assert response.status_code == 400
    assert response.context["forms"]["status"].errors["reason"] == ["A reason is required for this change."]
    incident.refresh_from_db()
    assert incident.status == "reported"
    assert not LedgerEvent.objects.filter(verb="incident.status_changed").exists()


def test_status_change_with_reason_moves_the_incident(client_for, responder, make_incident):
    incident = make_incident()
    response = client_for(responder).post(
        reverse("incident-status", args=[incident.ref]), {"status": "triaged", "reason": "Confirmed."}, follow=True
    )
    assert f"{incident.ref} is now triaged." in flash(response)
    incident.refresh_from_db()
    assert incident.status == "triaged"
    assert LedgerEvent.objects.get(verb="incident.status_changed").reason == "Confirmed."


def test_illegal_status_transition_shows_the_services_message(client_for, responder, make_incident):
    incident = make_incident()
    response = client_for(responder).post(
        reverse("incident-status", args=[incident.ref]), {"status": "closed", "reason": "Done."}
    )
    assert response.status_code == 409
    content = response.content.decode()
    assert "An incident that is reported cannot become closed." in content
    assert response.context["forms"]["status"].errors["status"] == ["Not allowed from reported."]
    incident.refresh_from_db()
    assert incident.status == "reported"


def test_responder_cannot_declare_resolution(client_for, responder, make_incident, actor_for, make_user):
    incident = make_incident()
    commander = actor_for(make_user(Role.INCIDENT_COMMANDER))
    services.incident_edit(actor=commander, incident=incident, changes={"status": "responding"}, reason="Go.")
    response = client_for(responder).post(
        reverse("incident-status", args=[incident.ref]), {"status": "resolved", "reason": "Fixed."}
    )
    assert response.status_code == 403
    assert "Only an incident commander or leadership may mark an incident resolved." in response.content.decode()


def test_status_form_offers_only_the_allowed_next_statuses(client_for, responder, make_incident):
    incident = make_incident()
    content = client_for(responder).get(reverse("incident-detail", args=[incident.ref])).content.decode()
    select = re.search(r'<select name="status"[^>]*>(.*?)</select>', content, re.S).group(1)
    offered = re.findall(r'value="([a-z_]+)"', select)
    assert offered == incident.allowed_next_statuses


def test_severity_change_needs_a_reason_and_is_recorded(client_for, responder, make_incident):
    incident = make_incident(severity="SEV3")
    url = reverse("incident-severity", args=[incident.ref])
    assert client_for(responder).post(url, {"severity": "SEV2"}).status_code == 400
    response = client_for(responder).post(url, {"severity": "SEV2", "reason": "Spreading."}, follow=True)
    assert f"{incident.ref} severity changed from SEV3 to SEV2." in flash(response)
    event = LedgerEvent.objects.get(verb="incident.severity_changed")
    assert (event.before, event.after, event.reason) == ({"severity": "SEV3"}, {"severity": "SEV2"}, "Spreading.")


def test_escalating_to_sev1_pages_leadership(
    client_for, responder, make_incident, make_user, django_capture_on_commit_callbacks, task_sends,
    deliver_notifications,
):  # fmt: skip
    leader = make_user(Role.LEADERSHIP)
    incident = make_incident(severity="SEV3")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(responder).post(
            reverse("incident-escalate", args=[incident.ref]), {"severity": "SEV1", "reason": "Uplift confirmed."}
        )
    deliver_notifications()
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.severity == "SEV1"
    assert LedgerEvent.objects.get(verb="incident.escalated").reason == "Uplift confirmed."
    assert leader.email in {address for message in mail.outbox for address in message.to}


def test_escalation_cannot_lower_severity(client_for, responder, make_incident):
    incident = make_incident(severity="SEV2")
    response = client_for(responder).post(
        reverse("incident-escalate", args=[incident.ref]), {"severity": "SEV4", "reason": "Hmm."}
    )
    assert response.status_code == 400
    assert "severity" in response.context["forms"]["escalate"].errors
    incident.refresh_from_db()
    assert incident.severity == "SEV2"


def test_escalate_form_offers_only_higher_severities(client_for, responder, make_incident):
    incident = make_incident(severity="SEV3")
    content = client_for(responder).get(reverse("incident-detail", args=[incident.ref])).content.decode()
    select = re.search(r'<select name="severity" id="escalate-severity"[^>]*>(.*?)</select>', content, re.S).group(1)
    assert re.findall(r'value="(SEV\d)"', select) == ["SEV1", "SEV2"]


def _details_form(incident, **fields):
    return {
        "title": incident.title,
        "summary": incident.summary,
        "category": incident.category,
        "risk_domain": incident.risk_domain,
        "source": incident.source,
        "deployments": [d.pk for d in incident.deployments.all()],
        "occurred_at": "",
        "detected_at": incident.detected_at.strftime("%Y-%m-%dT%H:%M"),
    } | fields


def test_triage_sets_category_and_risk_domain_and_records_only_what_changed(client_for, responder, make_signal):
    signal = make_signal()
    client = client_for(responder)
    client.post(reverse("signal-promote", args=[signal.pk]))
    incident = Incident.objects.get()
    assert (incident.category, incident.risk_domain) == ("other", "other")
    response = client.post(
        reverse("incident-edit-details", args=[incident.ref]),
        _details_form(incident, category="dangerous_capability", risk_domain="cbrn", reason="Triage."),
        follow=True,
    )
    assert f"{incident.ref} details saved." in flash(response)
    incident.refresh_from_db()
    assert (incident.category, incident.risk_domain) == ("dangerous_capability", "cbrn")
    event = LedgerEvent.objects.get(verb="incident.updated")
    assert event.before == {"category": "other", "risk_domain": "other"}
    assert event.after == {"category": "dangerous_capability", "risk_domain": "cbrn"}
    assert event.reason == "Triage."


def test_saving_untouched_details_changes_nothing(client_for, responder, make_incident):
    incident = make_incident()
    response = client_for(responder).post(
        reverse("incident-edit-details", args=[incident.ref]), _details_form(incident), follow=True
    )
    assert f"Nothing changed on {incident.ref}." in flash(response)
    assert not LedgerEvent.objects.filter(verb="incident.updated").exists()


def test_details_with_an_empty_title_are_refused(client_for, responder, make_incident):
    incident = make_incident()
    response = client_for(responder).post(
        reverse("incident-edit-details", args=[incident.ref]), _details_form(incident, title="")
    )
    assert response.status_code == 400
    assert "title" in response.context["forms"]["details"].errors
    incident.refresh_from_db()
    assert incident.title


def test_commander_assigns_a_commander(client_for, make_user, make_incident):
    commander = make_user(Role.INCIDENT_COMMANDER)
    incident = make_incident()
    client = client_for(commander)
    assert (
        reverse("incident-assign", args=[incident.ref])
        in client.get(reverse("incident-detail", args=[incident.ref])).content.decode()
    )
    response = client.post(reverse("incident-assign", args=[incident.ref]), {"commander": commander.pk})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.commander == commander


def test_responder_cannot_assign_a_commander(client_for, responder, make_user, make_incident):
    commander = make_user(Role.INCIDENT_COMMANDER)
    incident = make_incident()
    response = client_for(responder).post(reverse("incident-assign", args=[incident.ref]), {"commander": commander.pk})
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.commander is None


def test_get_on_a_form_url_goes_back_to_the_incident(client_for, responder, make_incident):
    incident = make_incident()
    response = client_for(responder).get(reverse("incident-status", args=[incident.ref]))
    assert response.status_code == 302
    assert response["Location"] == reverse("incident-detail", args=[incident.ref])


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "memo", "body": "x"},
        {"kind": "note", "body": "x" * 20001},
        {"kind": "note", "body": "x", "occurred_at": "2026-13-45T99:99"},
        {"kind": "note", "body": ""},
    ],
)
def test_malformed_entries_answer_400_not_500(client_for, responder, make_incident, data):
    incident = make_incident()
    response = client_for(responder).post(reverse("incident-add-entry", args=[incident.ref]), data)
    assert response.status_code == 400
    assert not TimelineEntry.objects.exists()


# --- list: filters and pagination ----------------------------------------------------------------


def test_list_filters_by_severity_status_category_deployment_and_text(
    client_for, responder, make_incident, registry, actor_for
):
    a = make_incident(title="Alpha jailbreak", severity="SEV1", category="misuse", deployments=[registry["atlas-api"]])
    b = make_incident(
        title="Beta exfiltration", severity="SEV2", category="security", deployments=[registry["atlas-chat"]]
    )
    c = make_incident(title="Gamma", summary="mentions jailbreak", severity="SEV2", category="misuse", deployments=[])
    services.incident_edit(actor=actor_for(responder), incident=c, changes={"status": "dismissed"}, reason="Noise.")
    client = client_for(responder)

    def refs(**params):
        response = client.get(reverse("incident-list"), params)
        assert response.status_code == 200
        return {i.ref for i in response.context["page"].object_list}

    assert refs() == {a.ref, b.ref, c.ref}
    assert refs(severity="SEV2") == {b.ref, c.ref}
    assert refs(status="dismissed") == {c.ref}
    assert refs(status="open") == {a.ref, b.ref}
    assert refs(category="misuse") == {a.ref, c.ref}
    assert refs(deployment="atlas-chat") == {b.ref}
    assert refs(q="jailbreak") == {a.ref, c.ref}
    assert refs(q=b.ref) == {b.ref}
    assert refs(severity="SEV2", category="misuse") == {c.ref}


def test_list_shows_an_empty_state(client_for, responder, make_incident):
    make_incident(severity="SEV3")
    response = client_for(responder).get(reverse("incident-list"), {"severity": "SEV1"})
    assert "No incidents match these filters." in response.content.decode()


def test_unknown_filter_values_are_reported_not_crashed(client_for, responder, make_incident):
    make_incident()
    response = client_for(responder).get(reverse("incident-list"), {"severity": "SEV9", "page": "banana"})
    assert response.status_code == 400
    assert "severity" in response.context["form"].errors
    assert len(response.context["page"].object_list) == 1


def test_list_paginates_25_per_page_and_keeps_filters_in_page_links(client_for, responder, make_incident):
    for _ in range(30):
        make_incident(severity="SEV2")
    make_incident(severity="SEV4")
    client = client_for(responder)
    first = client.get(reverse("incident-list"), {"severity": "SEV2"})
    assert len(first.context["page"].object_list) == 25
    assert first.context["page"].paginator.count == 30
    content = first.content.decode()
    assert 'href="?severity=SEV2&amp;page=2"' in content
    second = client.get(reverse("incident-list"), {"severity": "SEV2", "page": 2})
    assert len(second.context["page"].object_list) == 5
    assert 'href="?severity=SEV2&amp;page=1"' in second.content.decode()


# --- signals -------------------------------------------------------------------------------------


def test_promote_a_signal_in_one_click(client_for, responder, make_signal):
    signal = make_signal(title="Classifier spike on chat")
    response = client_for(responder).post(reverse("signal-promote", args=[signal.pk]), follow=True)
    incident = Incident.objects.get()
    assert response.redirect_chain[-1][0] == reverse("incident-detail", args=[incident.ref])
    assert incident.title == "Classifier spike on chat"
    assert incident.severity == "SEV2"
    signal.refresh_from_db()
    assert (signal.state, signal.incident) == (Signal.State.PROMOTED, incident)


def test_promoting_twice_is_a_conflict(client_for, responder, make_signal):
    signal = make_signal()
    client = client_for(responder)
    client.post(reverse("signal-promote", args=[signal.pk]))
    response = client.post(reverse("signal-promote", args=[signal.pk]))
    assert response.status_code == 409
    assert "This signal is already promoted." in response.content.decode()
    assert Incident.objects.count() == 1


def test_dismiss_needs_a_reason(client_for, responder, make_signal):
    signal = make_signal()
    client = client_for(responder)
    response = client.post(reverse("signal-dismiss", args=[signal.pk]), {"reason": ""})
    assert response.status_code == 400
    assert "A reason is required for this change." in response.content.decode()
    signal.refresh_from_db()
    assert signal.state == Signal.State.OPEN
    response = client.post(reverse("signal-dismiss", args=[signal.pk]), {"reason": "Test traffic."}, follow=True)
    assert f"Signal “{signal.title}” dismissed." in flash(response)
    signal.refresh_from_db()
    assert signal.state == Signal.State.DISMISSED
    assert LedgerEvent.objects.get(verb="signal.dismissed").reason == "Test traffic."


def test_signal_list_tabs_by_state(client_for, responder, make_signal, actor_for):
    open_signal = make_signal(title="Still open")
    gone = make_signal(title="Went away", dedup_key="other")
    services.signal_dismiss(actor=actor_for(responder), signal=gone, reason="Noise.")
    client = client_for(responder)
    assert [s.pk for s in client.get(reverse("signal-list")).context["page"].object_list] == [open_signal.pk]
    dismissed = client.get(reverse("signal-list"), {"state": "dismissed"}).context["page"].object_list
    assert [s.pk for s in dismissed] == [gone.pk]
    assert len(client.get(reverse("signal-list"), {"state": "all"}).context["page"].object_list) == 2


def test_signal_of_a_restricted_incident_is_hidden(client_for, make_user, make_signal, actor_for):
    owner = make_user(Role.RESPONDER)
    signal = make_signal()
    incident = services.signal_promote(actor=actor_for(owner), signal=signal)
    Incident.objects.filter(pk=incident.pk).update(restricted=True)
    client = client_for(make_user(Role.RESPONDER))
    assert client.get(reverse("signal-list"), {"state": "all"}).context["page"].paginator.count == 0
    assert client.post(reverse("signal-dismiss", args=[signal.pk]), {"reason": "x"}).status_code == 404


# --- query counts --------------------------------------------------------------------------------


def _bulk_incidents(registry, reporter, count):
    """Many incidents without going through services: refs from a year no service will use."""
    now = timezone.now()
    incidents = Incident.objects.bulk_create(
        Incident(
            ref=f"INC-1999-{n:04d}",
            title=f"Bulk {n}",
            category="misuse",
            risk_domain="cyber",
            severity=f"SEV{n % 4 + 1}",
            status="reported" if n % 3 else "triaged",
            source="other",
            restricted=n % 10 == 0,
            reporter=reporter,
            reported_at=now - timedelta(minutes=n),
        )
        for n in range(1, count + 1)
    )
    through = Incident.deployments.through
    through.objects.bulk_create(
        through(incident_id=i.pk, deployment_id=registry[slug].pk)
        for i in incidents
        for slug in ("atlas-api", "atlas-chat")
    )


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize("url_name", ["incident-list", "dashboard"])
def test_page_costs_the_same_queries_for_10_and_1000_incidents(
    client_for, make_user, make_incident, registry, actor_for, url_name
):
    viewer = make_user(Role.RESPONDER)  # not leadership: exercises the restricted-incident filter
    commander = make_user(Role.INCIDENT_COMMANDER)
    for n in range(10):
        incident = make_incident(severity=f"SEV{n % 4 + 1}")
        services.incident_assign(actor=actor_for(commander), incident=incident, commander=commander)
    client = client_for(viewer)
    url = reverse(url_name)
    client.get(url)  # warm the session
    small = _queries(client, url)
    _bulk_incidents(registry, viewer, 990)
    assert Incident.objects.count() == 1000
    large = _queries(client, url)
    assert small == large, (small, large)
    # session, user, roles, then a handful for the page itself (+1 overdue follow-ups, +2 in-force badge and counts,
    # +1 the readiness warning, +1 who is on call: no rotation here, +1 the next regulators' deadlines on the
    # dashboard)
    assert large <= (16 if url_name == "dashboard" else 15)


# --- admin ---------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(make_user):
    user = make_user(Role.ADMIN)
    user.is_staff = user.is_superuser = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


def test_registry_edits_in_the_admin_are_ledger_events(admin_client, registry):
    response = admin_client.post(
        reverse("admin:incidents_deployment_add"),
        {"slug": "atlas-eu", "name": "Atlas EU", "model": registry["model"].pk, "surface": "api", "active": "on"},
    )
    assert response.status_code == 302, response.content
    event = LedgerEvent.objects.get(verb="registry.deployment_created")
    assert event.after["slug"] == "atlas-eu"
    assert event.actor_name.startswith("admin")


def test_ledger_admin_allows_no_add_change_or_delete_even_for_superusers(admin_client, make_incident):
    make_incident()
    event = LedgerEvent.objects.first()
    assert admin_client.get(reverse("admin:accounts_ledgerevent_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:accounts_ledgerevent_add")).status_code == 403
    assert admin_client.get(reverse("admin:accounts_ledgerevent_delete", args=[event.pk])).status_code == 403
    change = admin_client.post(reverse("admin:accounts_ledgerevent_change", args=[event.pk]), {"reason": "tampered"})
    assert change.status_code == 403
    event.refresh_from_db()
    assert event.reason == ""


def test_incident_admin_is_read_only_and_hides_restricted_incidents(admin_client, make_incident):
    open_incident = make_incident(title="Plain")
    secret = make_incident(title="Secret", restricted=True)
    listing = admin_client.get(reverse("admin:incidents_incident_changelist")).content.decode()
    assert open_incident.ref in listing
    assert secret.ref not in listing
    assert admin_client.get(reverse("admin:incidents_incident_add")).status_code == 403


def test_responder_is_not_offered_the_statuses_only_a_commander_may_set(client, make_user, make_incident):
    from incidents.services import next_statuses_for

    responder, commander = make_user("responder"), make_user("incident_commander")
    incident = make_incident(by=responder)
    incident.status = "responding"
    incident.save()
    assert "resolved" not in next_statuses_for(user=responder, incident=incident)
    assert "resolved" in next_statuses_for(user=commander, incident=incident)
    client.force_login(responder)
    page = client.get(f"/incidents/{incident.ref}/").content.decode()
    assert 'value="contained"' in page
    assert 'value="resolved"' not in page


def _note_at(client, incident, occurred_at: str):
    return client.post(
        reverse("incident-add-entry", args=[incident.ref]),
        {"kind": "note", "body": "Seen from far away.", "occurred_at": occurred_at},
    )


def test_a_time_with_an_offset_postgresql_cannot_store_is_kept_in_utc(client_for, responder, make_incident):
    # Python accepts UTC offsets up to ±23:59, PostgreSQL only up to ±15:59: the form hands on UTC.
    response = _note_at(client_for(responder), make_incident(), "2026-01-02T03:04-18:33")
    assert response.status_code == 302
    assert TimelineEntry.objects.get().occurred_at.isoformat() == "2026-01-02T21:37:00+00:00"


def test_a_time_outside_the_years_that_can_be_stored_is_a_field_error(client_for, responder, make_incident):
    response = _note_at(client_for(responder), make_incident(), "0001-01-01T00:00+05:00")
    assert response.status_code == 400
    assert "occurred_at" in response.context["form"].errors
    assert not TimelineEntry.objects.exists()
