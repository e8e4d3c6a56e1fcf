"""Customers and their agreements (issue 13 §5): admin-managed, validated field by field, ledgered."""

from __future__ import annotations

from datetime import date

import pytest

from accounts.models import LedgerEvent
from accounts.roles import Role
from config.errors import DomainError
from incidents.customers import services as customers
from incidents.models import Agreement, CustomerAccount

API = "/api/v1/customers/"


@pytest.fixture
def admin(make_user):
    return make_user(Role.ADMIN)


@pytest.fixture
def acme(registry, admin, api_for):
    CustomerAccount.objects.create(account_id="acct-acme")
    response = api_for(admin).post(
        API, {"name": "Acme Health", "deployments": ["atlas-api"], "accounts": ["acct-acme"]}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def _agreement(api, customer, **body):
    body = {"effective_from": "2026-01-01", "terms": [{"type": "withdraw_model", "timing": "before",
                                                       "minutes": 43200}]} | body  # fmt: skip
    return api.post(f"{API}{customer['id']}/agreements/", body, format="json")


def test_admin_adds_a_customer_with_an_agreement_and_a_contact_all_ledgered(acme, admin, api_for):
    assert acme["slug"] == "acme-health" and acme["deployments"] == ["atlas-api"]
    assert CustomerAccount.objects.get(account_id="acct-acme").customer_id == acme["id"]
    made = _agreement(api_for(admin), acme, terms=[{"type": "disable_capability", "timing": "after", "minutes": 1440}])
    assert made.status_code == 201, made.json()
    assert made.json()["agreements"][0]["terms"] == [{"type": "disable_capability", "timing": "after",
                                                      "minutes": 1440}]  # fmt: skip
    contact = api_for(admin).post(f"{API}{acme['id']}/contacts/", {"name": "Dana", "email": "d@acme.example",
                                                                  "role": "CISO"}, format="json")  # fmt: skip
    assert contact.status_code == 201 and contact.json()["contacts"][0]["email"] == "d@acme.example"
    verbs = set(LedgerEvent.objects.values_list("verb", flat=True))
    assert {"customer.created", "customer.agreement_created", "customer.contact_added"} <= verbs


@pytest.mark.parametrize(
    ("terms", "field", "words"),
    [
        ([{"type": "nuke_it", "timing": "before", "minutes": 10}], "terms.0.type", "Unknown correction type"),
        ([{"type": "rate_limit", "timing": "before", "minutes": -5}], "terms.0.minutes", "cannot be negative"),
        ([{"type": "rate_limit", "timing": "soon", "minutes": 5}], "terms.0.timing", "before"),
        ([{"type": "rate_limit", "timing": "after", "minutes": 1},
          {"type": "rate_limit", "timing": "after", "minutes": 2}], "terms.1.type", "twice"),
        ([], "terms", "at least one"),
    ],
)  # fmt: skip
def test_bad_agreement_is_refused_with_a_field_message(acme, admin, api_for, terms, field, words):
    response = _agreement(api_for(admin), acme, terms=terms)
    assert response.status_code == 400
    assert words in response.json()["errors"][field][0]
    assert not Agreement.objects.exists()


def test_overlapping_agreements_for_one_customer_are_refused(acme, admin, api_for):
    api = api_for(admin)
    assert _agreement(api, acme, effective_until="2026-06-30").status_code == 201
    clash = _agreement(api, acme, effective_from="2026-06-01")
    assert clash.status_code == 400
    assert "Overlaps" in clash.json()["errors"]["effective_from"][0]
    assert _agreement(api, acme, effective_from="2026-07-01").status_code == 201  # the next one is fine
    ends_first = _agreement(api, acme, effective_from="2027-01-01", effective_until="2026-12-31")
    assert "effective_until" in ends_first.json()["errors"]


def test_only_admins_manage_customers(acme, make_user, api_for):
    commander = make_user(Role.INCIDENT_COMMANDER)
    assert api_for(commander).get(API).status_code == 200
    assert _agreement(api_for(commander), acme).status_code == 403
    assert api_for(make_user(Role.AUDITOR)).post(API, {"name": "X"}, format="json").status_code == 403


def test_a_contact_needs_a_valid_email_and_an_account_one_customer(acme, admin, api_for, actor_for):
    bad = api_for(admin).post(f"{API}{acme['id']}/contacts/", {"name": "D", "email": "nope"}, format="json")
    assert bad.status_code == 400 and "email" in bad.json()["errors"]
    taken = api_for(admin).post(API, {"name": "Other", "accounts": ["acct-acme"]}, format="json")
    assert taken.status_code == 400 and "Already another customer's" in taken.json()["errors"]["accounts"][0]


def test_admin_agreement_form_checks_like_the_api(acme, admin, client_for):
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client = client_for(admin)
    response = client.post("/admin/incidents/agreement/add/", {
        "organisation": acme["id"], "terms": '[{"type": "rate_limit", "timing": "before", "minutes": -1}]',
        "effective_from": "2026-01-01",
    })  # fmt: skip
    assert response.status_code == 200
    assert "cannot be negative" in response.content.decode()
    assert not Agreement.objects.exists()
    ok = client.post("/admin/incidents/agreement/add/", {
        "organisation": acme["id"], "terms": '[{"type": "rate_limit", "timing": "after", "minutes": 60}]',
        "effective_from": "2026-01-01",
    })  # fmt: skip
    assert ok.status_code == 302
    assert LedgerEvent.objects.filter(verb="registry.agreement_created").exists()


def test_terms_clean_is_the_one_check(registry):
    with pytest.raises(DomainError) as refused:
        customers.terms_clean([{"type": "withdraw_model", "timing": "before", "minutes": "30d"}])
    assert "terms.0.minutes" in refused.value.fields
    assert customers.terms_clean([{"type": "withdraw_model", "timing": "before", "minutes": 0}])[0]["minutes"] == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_admin_page_agreement_waits_for_an_api_one_and_sees_the_overlap(acme, admin, client_for, actor_for):
    """The API creates an agreement while the admin form is being saved: the form waits for the
    customer's row, then refuses the overlap instead of saving a second agreement in effect."""
    import threading

    from django.db import connection, transaction

    from incidents import locks
    from incidents.models import CustomerOrganisation

    admin.is_staff = admin.is_superuser = True
    admin.save()
    organisation = CustomerOrganisation.objects.get(pk=acme["id"])
    locked, done = threading.Event(), threading.Event()

    def api_create():
        try:
            with transaction.atomic():
                locks.lock_customer_organisation(organisation.pk)
                locked.set()
                done.wait(1.0)  # the admin's POST is under way, waiting for the row
                customers.agreement_create(
                    actor=actor_for(admin), organisation=organisation, effective_from=date(2026, 1, 1),
                    terms=[{"type": "rate_limit", "timing": "after", "minutes": 60}],
                )  # fmt: skip
        finally:
            connection.close()

    thread = threading.Thread(target=api_create)
    thread.start()
    assert locked.wait(5)
    response = client_for(admin).post("/admin/incidents/agreement/add/", {
        "organisation": organisation.pk, "terms": '[{"type": "rate_limit", "timing": "after", "minutes": 60}]',
        "effective_from": "2026-03-01",
    })  # fmt: skip
    done.set()
    thread.join()
    assert response.status_code == 200 and "Overlaps the agreement" in response.content.decode()
    assert Agreement.objects.filter(organisation=organisation).count() == 1
