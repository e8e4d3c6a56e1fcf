"""Customer notices (issue 13 §5): drafted with the request, flagged against the agreement before
approval, explained when broken, edited and sent by a commander, recorded when delivered."""

from __future__ import annotations

from datetime import date, timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import LedgerEvent
from accounts.roles import Role
from corrections import services
from corrections.customers import checks
from corrections.customers import services as notice_services
from corrections.customers.selectors import correction_flags
from corrections.models import Correction, CustomerNotice
from incidents.customers import services as customers
from incidents.models import CustomerAccount, CustomerOrganisation

DAY = 24 * 60
API = "/api/v1"


@pytest.fixture
def acme(registry, make_user, actor_for):
    """Acme Health on atlas-api: blocks and disabling a capability with 24 h notice after; tightening a
    safeguard (tier 2, for the acceptance test) and withdrawing the model with 30 days' notice before."""
    admin = actor_for(make_user(Role.ADMIN))
    CustomerAccount.objects.create(account_id="acct-acme", tier="enterprise")
    CustomerAccount.objects.create(account_id="acct-mallory", tier="free")
    org = customers.customer_create(
        actor=admin, name="Acme Health", slug="acme-health", deployments=["atlas-api"], accounts=["acct-acme"]
    )
    customers.agreement_create(
        actor=admin, organisation=org, effective_from=date(2026, 1, 1),
        terms=[{"type": "block_accounts", "timing": "after", "minutes": DAY},
               {"type": "disable_capability", "timing": "after", "minutes": DAY},
               {"type": "tighten_safeguard", "timing": "before", "minutes": 30 * DAY},
               {"type": "withdraw_model", "timing": "before", "minutes": 30 * DAY}],
    )  # fmt: skip
    customers.contact_add(actor=admin, organisation=org, name="Dana", email="safety@acme.example", role="CISO")
    return org


def _request(api, incident, **body):
    return api.post(f"{API}/incidents/{incident.ref}/corrections/", {"rationale": "Stop it.", **body}, format="json")


def _approve(api, cid, **body):
    body.setdefault("content_hash", api.get(f"{API}/corrections/{cid}/").json()["content_hash"])
    return api.post(f"{API}/corrections/{cid}/approve/", body, format="json")


SAFEGUARD = {"type": "tighten_safeguard", "deployment": "atlas-api",
             "params": {"safeguard": "cbrn_classifier", "setting": "strict"}}  # fmt: skip


def test_thirty_day_notice_is_flagged_before_approval_and_recorded_when_sent(
    acme, make_user, make_incident, api_for, deliver_notifications, task_sends
):
    """The acceptance bullet: a correction on a deployment whose customer needs 30 days' notice is
    flagged before approval (API, pages); approving it needs an explanation; the notice, once sent,
    is delivered through the outbox and recorded with its time."""
    responder, commander = make_user(Role.RESPONDER), make_user(Role.INCIDENT_COMMANDER)
    incident = make_incident(by=responder)
    created = _request(api_for(responder), incident, **SAFEGUARD)
    assert created.status_code == 201, created.json()
    cid = created.json()["id"]
    detail = api_for(commander).get(f"{API}/corrections/{cid}/").json()
    assert detail["state"] == "pending_approval"
    assert [(f["customer"], f["code"]) for f in detail["notice_flags"]] == [("acme-health", "late")]
    assert "30 d notice before" in detail["notice_flags"][0]["message"]

    refused = _approve(api_for(commander), cid)
    assert refused.status_code == 400
    assert "notice_explanation" in refused.json()["errors"]
    assert Correction.objects.get(pk=cid).state == "pending_approval"

    approved = _approve(api_for(commander), cid, notice_explanation="Active CBRN uplift; cannot wait 30 days.")
    assert approved.status_code == 200, approved.json()
    assert approved.json()["state"] == "approved"
    event = LedgerEvent.objects.get(verb="correction.notice_breach_explained", object_id=str(cid))
    assert event.reason == "Active CBRN uplift; cannot wait 30 days."
    assert event.after["flags"][0]["code"] == "late"

    [notice] = api_for(commander).get(f"{API}/corrections/{cid}/notices/").json()
    assert notice["state"] == "draft" and notice["delivery"]["state"] == "draft"
    sent = api_for(commander).post(f"{API}/notices/{notice['id']}/send/", {}, format="json")
    assert sent.status_code == 200, sent.json()
    assert sent.json()["state"] == "sent" and sent.json()["sent_at"]
    assert sent.json()["delivery"]["state"] == "sending"

    deliver_notifications()
    after = api_for(commander).get(f"{API}/notices/{notice['id']}/").json()
    assert after["delivery"]["state"] == "delivered"
    assert after["delivery"]["at"] is not None
    assert [d["address"] for d in after["delivery"]["deliveries"]] == ["safety@acme.example"]
    [message] = [m for m in mail.outbox if "safety@acme.example" in m.to]
    assert message.to == ["safety@acme.example"] and message.subject.endswith(notice["subject"])
    assert LedgerEvent.objects.filter(verb="correction.notice_sent", object_id=str(cid)).exists()


def test_withdrawing_the_model_is_flagged_for_a_customer_of_any_of_its_deployments(acme, make_user, make_incident,
                                                                                    actor_for):  # fmt: skip
    commander = make_user(Role.INCIDENT_COMMANDER)
    correction = services.correction_request(
        actor=actor_for(commander), incident=make_incident(), type="withdraw_model", params={"model": "atlas"},
        rationale="x",
    )  # fmt: skip
    [notice] = CustomerNotice.objects.filter(correction=correction)
    assert notice.organisation == acme and notice.term["minutes"] == 30 * DAY
    assert [f["code"] for f in correction_flags(correction)] == ["late"]


def test_a_type_the_customer_never_accepted_is_flagged(acme, make_user, make_incident, api_for):
    responder = make_user(Role.RESPONDER)
    created = _request(api_for(responder), make_incident(by=responder), type="restrict_use_case",
                       deployment="atlas-api", params={"use_cases": ["bio_research"]})  # fmt: skip
    flags = api_for(responder).get(f"{API}/corrections/{created.json()['id']}/").json()["notice_flags"]
    assert [f["code"] for f in flags] == ["not_accepted"]
    assert "never accepted restrict_use_case" in flags[0]["message"]


def test_after_notice_is_not_flagged_late(acme, make_user, make_incident, api_for, task_sends):
    """24 h after: nothing is late before approval, nor just after; it is approved without explanation."""
    responder, commander = make_user(Role.RESPONDER), make_user(Role.INCIDENT_COMMANDER)
    created = _request(api_for(responder), make_incident(by=responder), type="disable_capability",
                       deployment="atlas-api", params={"capability": "browsing"})  # fmt: skip
    cid = created.json()["id"]
    assert api_for(commander).get(f"{API}/corrections/{cid}/").json()["notice_flags"] == []
    approved = _approve(api_for(commander), cid)
    assert approved.status_code == 200, approved.json()
    assert approved.json()["notice_flags"] == []
    assert not LedgerEvent.objects.filter(verb="correction.notice_breach_explained").exists()


def test_after_notice_becomes_late_only_once_its_window_after_the_start_has_passed():
    term = {"type": "disable_capability", "timing": "after", "minutes": DAY}
    start = timezone.now()

    def codes(now, sent_at=None, started_at=start):
        flags = checks.flags_for(customer="Acme", correction_type="disable_capability", term=term, contacts=1,
                                 now=now, started_at=started_at, sent_at=sent_at)  # fmt: skip
        return [f.code for f in flags]

    assert codes(start - timedelta(hours=1), started_at=None) == []  # not started: cannot be late
    assert codes(start + timedelta(hours=23)) == []
    assert codes(start + timedelta(hours=25)) == ["late"]
    assert codes(start + timedelta(hours=25), sent_at=start + timedelta(hours=2)) == []


def test_before_notice_sent_long_enough_ago_is_not_late():
    term = {"type": "withdraw_model", "timing": "before", "minutes": 30 * DAY}
    now = timezone.now()
    flags = checks.flags_for(customer="Acme", correction_type="withdraw_model", term=term, contacts=1, now=now,
                             started_at=None, sent_at=now - timedelta(days=31))  # fmt: skip
    assert flags == []
    late = checks.flags_for(customer="Acme", correction_type="withdraw_model", term=term, contacts=1, now=now,
                            started_at=None, sent_at=now - timedelta(days=29))  # fmt: skip
    assert [f.code for f in late] == ["late"]


def test_restricted_incident_notice_has_no_details(acme, make_user, make_incident, actor_for):
    commander = make_user(Role.INCIDENT_COMMANDER)
    incident = make_incident(by=commander, restricted=True, title="Sarin synthesis route leaked",
                             summary="The model gave step 4 of the route.")  # fmt: skip
    correction = services.correction_request(
        actor=actor_for(commander), incident=incident, type="disable_capability", deployment="atlas-api",
        params={"capability": "tool_use"}, rationale="Tool use reaches the synthesis planner.",
    )  # fmt: skip
    [notice] = CustomerNotice.objects.filter(correction=correction)
    text = notice.subject + notice.body
    for secret in ("Sarin", "step 4", "synthesis", incident.ref, "misuse"):
        assert secret not in text
    assert checks.GENERIC_WHY in notice.body


def test_unrestricted_notice_says_why_in_customer_words_not_the_incident_title(acme, make_user, make_incident,
                                                                                actor_for):  # fmt: skip
    commander = make_user(Role.INCIDENT_COMMANDER)
    incident = make_incident(by=commander, title="Jailbreak ring at acct-mallory")
    correction = services.correction_request(
        actor=actor_for(commander), incident=incident, type="disable_capability", deployment="atlas-api",
        params={"capability": "browsing"}, rationale="Internal rationale.",
    )  # fmt: skip
    notice = CustomerNotice.objects.get(correction=correction)
    assert "Jailbreak ring" not in notice.body and "Internal rationale" not in notice.body
    assert incident.ref not in notice.body
    assert checks.WHY_BY_CATEGORY["misuse"] in notice.body


def test_a_drill_has_no_notices(acme, registry, make_user, actor_for):
    from corrections.drills import services as drills

    leader, commander = make_user(Role.LEADERSHIP), make_user(Role.INCIDENT_COMMANDER)
    drill = drills.drill_start(actor=actor_for(leader), title="Drill", category="misuse", risk_domain="cyber",
                               severity="SEV3", deployments=[registry["atlas-api"]])  # fmt: skip
    correction = services.correction_request(
        actor=actor_for(commander), incident=drill.incident, type="tighten_safeguard", deployment="atlas-api",
        params={"safeguard": "cbrn_classifier", "setting": "strict"}, rationale="drill",
    )  # fmt: skip
    assert not CustomerNotice.objects.filter(correction=correction).exists()
    assert not LedgerEvent.objects.filter(verb="correction.notices_drafted").exists()


def test_blocking_another_customers_account_drafts_no_notice_for_acme(acme, make_user, make_incident, actor_for):
    responder = make_user(Role.RESPONDER)
    correction = services.correction_request(
        actor=actor_for(responder), incident=make_incident(by=responder), type="block_accounts",
        deployment="atlas-api", params={"accounts": ["acct-mallory"]}, rationale="abuse",
    )  # fmt: skip
    assert not CustomerNotice.objects.filter(correction=correction).exists()


def test_a_pre_authorised_request_that_breaks_an_agreement_needs_its_explanation(
    acme, make_user, make_incident, actor_for, api_for, task_sends
):
    """Tier 1 runs at once, so the explanation is asked on the request; the refused request leaves nothing."""
    customers.agreement_create(
        actor=actor_for(make_user(Role.ADMIN)), organisation=acme, effective_from=date(2025, 1, 1),
        effective_until=date(2025, 12, 31), terms=[{"type": "rate_limit", "timing": "before", "minutes": 60}],
    )  # fmt: skip
    responder = make_user(Role.RESPONDER)
    incident = make_incident(by=responder)
    body = {"type": "rate_limit", "deployment": "atlas-api",
            "params": {"scope": "account", "subject": "acct-acme", "requests_per_minute": 10}}  # fmt: skip
    refused = _request(api_for(responder), incident, **body)
    assert refused.status_code == 400
    assert "notice_explanation" in refused.json()["errors"]
    assert not Correction.objects.filter(incident=incident).exists()  # the old agreement is not in effect
    done = _request(api_for(responder), incident, **body, notice_explanation="Scraping at 10k rpm now.")
    assert done.status_code == 201, done.json()
    assert done.json()["state"] == "approved" and done.json()["notice_explanation"] == "Scraping at 10k rpm now."


def test_missing_contact_is_flagged_and_sending_is_refused(registry, make_user, make_incident, actor_for, api_for):
    admin = actor_for(make_user(Role.ADMIN))
    org = customers.customer_create(actor=admin, name="Quiet Co", deployments=["atlas-api"])
    customers.agreement_create(actor=admin, organisation=org, effective_from=date(2026, 1, 1),
                               terms=[{"type": "pause_deployment", "timing": "after", "minutes": 0}])  # fmt: skip
    commander = make_user(Role.INCIDENT_COMMANDER)
    correction = services.correction_request(
        actor=actor_for(commander), incident=make_incident(), type="pause_deployment", deployment="atlas-api",
        params={}, rationale="x",
    )  # fmt: skip
    [notice] = api_for(commander).get(f"{API}/corrections/{correction.pk}/notices/").json()
    assert [f["code"] for f in notice["flags"]] == ["no_contact"]
    refused = api_for(commander).post(f"{API}/notices/{notice['id']}/send/", {}, format="json")
    assert refused.status_code == 409
    assert CustomerNotice.objects.get(pk=notice["id"]).state == "draft"


def test_commander_edits_then_sends_once_and_a_responder_may_not(acme, make_user, make_incident, actor_for, api_for):
    responder, commander = make_user(Role.RESPONDER), make_user(Role.INCIDENT_COMMANDER)
    correction = services.correction_request(
        actor=actor_for(responder), incident=make_incident(by=responder), type="disable_capability",
        deployment="atlas-api", params={"capability": "browsing"}, rationale="x",
    )  # fmt: skip
    notice = CustomerNotice.objects.get(correction=correction)
    url = f"{API}/notices/{notice.pk}/"
    assert api_for(responder).patch(url, {"subject": "s", "body": "b"}, format="json").status_code == 403
    blank = api_for(commander).patch(url, {"subject": "Heads up", "body": "  "}, format="json")
    assert blank.status_code == 400 and "body" in blank.json()["errors"]
    edited = api_for(commander).patch(url, {"subject": "Heads up", "body": "Browsing is off for a day."},
                                      format="json")  # fmt: skip
    assert edited.status_code == 200 and edited.json()["body"] == "Browsing is off for a day."
    assert edited.json()["edited_by"] == commander.username
    assert api_for(responder).post(f"{url}send/", {}, format="json").status_code == 403
    assert api_for(commander).post(f"{url}send/", {}, format="json").status_code == 200
    assert api_for(commander).post(f"{url}send/", {}, format="json").status_code == 409  # repeat
    assert api_for(commander).patch(url, {"subject": "x", "body": "y"}, format="json").status_code == 409  # stale
    assert LedgerEvent.objects.filter(verb="correction.notice_edited").count() == 1
    assert LedgerEvent.objects.filter(verb="correction.notice_sent").count() == 1


def test_a_restricted_incidents_notices_are_404_to_the_ungranted(acme, make_user, make_incident, actor_for,
                                                                  api_for, client_for):  # fmt: skip
    commander, outsider = make_user(Role.INCIDENT_COMMANDER), make_user(Role.INCIDENT_COMMANDER)
    incident = make_incident(by=commander, restricted=True)
    correction = services.correction_request(
        actor=actor_for(commander), incident=incident, type="disable_capability", deployment="atlas-api",
        params={"capability": "browsing"}, rationale="x",
    )  # fmt: skip
    notice = CustomerNotice.objects.get(correction=correction)
    assert api_for(outsider).get(f"{API}/notices/{notice.pk}/").status_code == 404
    assert api_for(outsider).post(f"{API}/notices/{notice.pk}/send/", {}, format="json").status_code == 404
    assert api_for(outsider).get(f"{API}/corrections/{correction.pk}/notices/").status_code == 404
    assert client_for(outsider).get(f"/corrections/{correction.pk}/notices/").status_code == 404
    assert client_for(outsider).post(f"/notices/{notice.pk}/send/").status_code == 404
    assert CustomerNotice.objects.get(pk=notice.pk).state == "draft"


# --- pages ---------------------------------------------------------------------------------------------


def test_request_confirmation_page_shows_the_flags_and_asks_why(acme, make_user, make_incident, client_for):
    responder = make_user(Role.RESPONDER)
    incident = make_incident(by=responder)
    client = client_for(responder)
    page = client.get(f"/incidents/{incident.ref}/corrections/new/?type=rate_limit")
    token = page.context["form"]["submit_token"].value() if "submit_token" in page.context["form"].fields else None
    data = {"type": "rate_limit", "deployment": "atlas-api", "param_scope": "deployment",
            "param_requests_per_minute": "10", "rationale": "Scraping."}  # fmt: skip
    if token:
        data["submit_token"] = token
    confirm = client.post(f"/incidents/{incident.ref}/corrections/new/?type=rate_limit", data)
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert 'id="customer-notices"' in html and "never accepted rate_limit" in html
    assert 'name="notice_explanation"' in html
    assert not Correction.objects.filter(incident=incident).exists()  # nothing requested before confirming


def test_approval_page_shows_flags_and_the_notices_page_sends(acme, make_user, make_incident, actor_for,
                                                               client_for, task_sends):  # fmt: skip
    responder, commander = make_user(Role.RESPONDER), make_user(Role.INCIDENT_COMMANDER)
    correction = services.correction_request(
        actor=actor_for(responder), incident=make_incident(by=responder), **SAFEGUARD, rationale="x",
    )  # fmt: skip
    client = client_for(commander)
    detail = client.get(f"/corrections/{correction.pk}/").content.decode()
    assert 'id="customer-notices"' in detail and "30 d notice before" in detail
    assert 'name="notice_explanation"' in detail
    approve = client.post(f"/corrections/{correction.pk}/approve/", {"content_hash": correction.content_hash})
    assert approve.status_code == 400
    assert "could not be given" in approve.content.decode()
    assert Correction.objects.get(pk=correction.pk).state == "pending_approval"
    body = {"content_hash": correction.content_hash, "notice_explanation": "Cannot wait."}
    explained = client.post(f"/corrections/{correction.pk}/approve/", body)
    assert explained.status_code == 302
    assert Correction.objects.get(pk=correction.pk).state == "approved"
    assert "Cannot wait." in client.get(f"/corrections/{correction.pk}/").content.decode()

    notices = client.get(f"/corrections/{correction.pk}/notices/")
    assert notices.status_code == 200 and "Acme Health" in notices.content.decode()
    notice = CustomerNotice.objects.get(correction=correction)
    edit = client.post(f"/notices/{notice.pk}/edit/", {f"notice-{notice.pk}-subject": "Safeguard change",
                                                       f"notice-{notice.pk}-body": "We tighten a filter."})  # fmt: skip
    assert edit.status_code == 302
    sent = client.post(f"/notices/{notice.pk}/send/")
    assert sent.status_code == 302
    notice.refresh_from_db()
    assert (notice.state, notice.subject, notice.recipients) == ("sent", "Safeguard change", ["safety@acme.example"])
    auditor = client_for(make_user(Role.AUDITOR))
    assert auditor.get(f"/corrections/{correction.pk}/notices/").status_code == 200
    assert auditor.post(f"/notices/{notice.pk}/send/").status_code == 403


def test_notices_page_has_an_empty_state(registry, make_user, make_incident, actor_for, client_for):
    responder = make_user(Role.RESPONDER)
    correction = services.correction_request(
        actor=actor_for(responder), incident=make_incident(by=responder), type="disable_capability",
        deployment="atlas-api", params={"capability": "browsing"}, rationale="x",
    )  # fmt: skip
    page = client_for(responder).get(f"/corrections/{correction.pk}/notices/")
    assert page.status_code == 200 and "nobody to tell" in page.content.decode()


# --- query counts --------------------------------------------------------------------------------------


def test_notice_list_costs_the_same_queries_for_3_and_30_customers(
    registry, make_user, make_incident, actor_for, api_for, client_for, django_assert_num_queries
):
    admin, commander = actor_for(make_user(Role.ADMIN)), make_user(Role.INCIDENT_COMMANDER)

    def grow(start, n):
        for i in range(start, start + n):
            org = customers.customer_create(actor=admin, name=f"Customer {i}", deployments=["atlas-api"])
            terms = [{"type": "pause_deployment", "timing": "after", "minutes": 60}]
            customers.agreement_create(actor=admin, organisation=org, effective_from=date(2026, 1, 1), terms=terms)
            customers.contact_add(actor=admin, organisation=org, name="C", email=f"c{i}@example.com")

    def counted(n_start, n):
        grow(n_start, n)
        correction = services.correction_request(
            actor=actor_for(commander), incident=make_incident(by=commander), type="pause_deployment",
            deployment="atlas-api", params={}, rationale="x",
        )  # fmt: skip
        for notice in CustomerNotice.objects.filter(correction=correction)[:2]:
            notice_services.notice_send(actor=actor_for(commander), notice=notice)
        return correction

    small = counted(0, 3)
    api, page = api_for(commander), client_for(commander)
    page.get(f"/corrections/{small.pk}/notices/")
    urls = [(api, f"{API}/corrections/{{}}/notices/"), (page, "/corrections/{}/notices/"), (api, f"{API}/customers/")]
    counts = []
    for client, url in urls:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url.format(small.pk)).status_code == 200
        counts.append(len(queries))
    assert counts[0] <= 9 and counts[1] <= 16 and counts[2] <= 6, counts  # ceilings, whatever the size
    big = counted(3, 27)
    for (client, url), count in zip(urls, counts, strict=True):
        with django_assert_num_queries(count):
            response = client.get(url.format(big.pk))
        assert response.status_code == 200
    assert len(api.get(f"{API}/corrections/{big.pk}/notices/").json()) == 30


def test_seed_demo_adds_acme_health_whose_withdrawal_notice_is_flagged(db, tmp_path, make_user, make_incident,
                                                                       actor_for):  # fmt: skip
    for _ in range(2):  # safe to repeat
        call_command("seed_demo", force=True, gateway_state_dir=str(tmp_path), stdout=StringIO())
    acme = CustomerOrganisation.objects.get(slug="acme-health")
    assert [d.slug for d in acme.deployments.all()] == ["atlas-api"]
    [agreement] = acme.agreements.all()
    assert agreement.term_for("withdraw_model") == {"type": "withdraw_model", "timing": "before", "minutes": 30 * DAY}
    assert agreement.term_for("disable_capability")["timing"] == "after"
    correction = services.correction_request(
        actor=actor_for(make_user(Role.INCIDENT_COMMANDER)), incident=make_incident(), type="withdraw_model",
        params={"model": "atlas"}, rationale="x",
    )  # fmt: skip
    assert [(f["customer"], f["code"]) for f in correction_flags(correction)] == [("acme-health", "late")]


def test_the_audit_bundle_and_history_show_what_each_customer_was_told(
    acme, make_user, make_incident, actor_for, api_for, client_for, task_sends
):
    from incidents.audit.bundle import incident_bundle

    responder, commander = make_user(Role.RESPONDER), make_user(Role.INCIDENT_COMMANDER)
    incident = make_incident(by=responder)
    correction = services.correction_request(
        actor=actor_for(responder), incident=incident, type="disable_capability",
        deployment="atlas-api", params={"capability": "browsing"}, rationale="x",
    )  # fmt: skip
    notice = CustomerNotice.objects.get(correction=correction)
    notice_services.notice_send(actor=actor_for(commander), notice=notice)
    auditor = make_user(Role.AUDITOR)
    [row] = incident_bundle(user=auditor, ref=incident.ref)["customer_notices"]
    assert row["customer"] == "Acme Health" and row["correction"] == correction.pk
    assert row["state"] == "sent" and row["recipients"] == ["safety@acme.example"]
    assert row["sent_by"] == commander.username and row["subject"] == notice.subject and row["sent_at"]
    page = client_for(auditor).get(f"/audit/incidents/{incident.ref}/").content.decode()
    assert "Customer notices" in page and "safety@acme.example" in page
