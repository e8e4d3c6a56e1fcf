"""The Django admin obeys the same visibility as the pages (DESIGN §7): an admin without a grant
cannot reach a restricted incident, nor anything that belongs to one, through any admin view.

The test walks django.contrib.admin.site._registry, so an admin registered later for a model with
a path to Incident fails here until it is filtered (and given a factory below).
"""

from __future__ import annotations

import itertools

import pytest
from django.contrib import admin
from django.contrib.contenttypes.fields import GenericForeignKey
from django.urls import reverse
from django.utils import timezone

from accounts.models import LedgerEvent
from accounts.roles import Role
from corrections import services as corrections
from corrections.models import Approval, Correction, DispatchAttempt, OutboxEntry
from incidents.models import Delivery, Incident, Notification, Signal, TimelineEntry
from incidents.notifications import notify

_counter = itertools.count(1)


def reaches_incident(model, seen=None) -> bool:
    """Whether rows of `model` belong to an incident: a forward relation chain (or a generic one,
    which could point anywhere) ending at Incident, or the ledger's `incident_ref`."""
    seen = seen if seen is not None else set()
    if model is Incident:
        return True
    seen.add(model)
    for field in model._meta.get_fields():
        if field.name == "incident_ref" or isinstance(field, GenericForeignKey):
            return True
        forward = field.is_relation and field.concrete and field.related_model is not None
        if forward and field.related_model not in seen and reaches_incident(field.related_model, seen):
            return True
    return False


def _correction(incident, actor_for):  # by the reporter, who is granted a restricted incident
    return corrections.correction_request(
        actor=actor_for(incident.reporter), incident=incident, type="pause_deployment",
        deployment="atlas-chat", params={}, rationale=f"Rationale for {incident.ref}",
    )  # fmt: skip


def _outbox_entry(correction):
    return OutboxEntry.objects.create(
        correction=correction, action="apply", generation=next(_counter),
        idempotency_key=f"{correction.incident.ref}-{correction.pk}-{next(_counter)}",
    )  # fmt: skip


def make_incident_row(model, incident, make_user, actor_for):
    """A row of `model` belonging to `incident`, and a search term that finds it if not filtered."""
    if model is Incident:
        return incident, incident.ref
    if model is Signal:
        signal = Signal.objects.create(source="other", title=f"Signal of {incident.ref}", incident=incident)
        return signal, signal.title
    if model is LedgerEvent:
        return LedgerEvent.objects.filter(incident_ref=incident.ref).earliest("seq"), incident.ref
    if model is TimelineEntry:
        entry = TimelineEntry.objects.create(
            incident=incident, kind="note", author=make_user(Role.RESPONDER), body=f"Note on {incident.ref}",
            occurred_at=timezone.now(),
        )  # fmt: skip
        return entry, incident.ref
    if model in (Notification, Delivery):  # about the incident, to someone who may see it
        notify(incident=incident, users=[incident.reporter], subject=f"About {incident.ref}", body="b")
        notification = Notification.objects.filter(incident=incident).latest("id")
        return (notification if model is Notification else notification.deliveries.get()), incident.ref
    correction = _correction(incident, actor_for)
    if model is Correction:
        return correction, incident.ref
    if model is Approval:
        approval = Approval.objects.create(
            correction=correction, approver=make_user(Role.LEADERSHIP), requester=correction.requested_by,
            decision="approve", content_hash="x" * 64,
        )  # fmt: skip
        return approval, incident.ref
    if model is OutboxEntry:
        return _outbox_entry(correction), incident.ref
    if model is DispatchAttempt:
        attempt = DispatchAttempt.objects.create(
            correction=correction, outbox_entry=_outbox_entry(correction), deployment=correction.deployment,
            action="apply", number=1, method="PUT", url=f"https://actuator.test/corrections/{correction.pk}",
            outcome="ok", started_at=timezone.now(),
        )  # fmt: skip
        return attempt, incident.ref
    raise LookupError(model)


COVERED = {Incident, Signal, LedgerEvent, TimelineEntry, Correction, Approval, OutboxEntry, DispatchAttempt,
           Notification, Delivery}  # fmt: skip
LINKED = sorted((m for m in admin.site._registry if reaches_incident(m)), key=lambda m: m._meta.label)


def test_the_walk_finds_the_admins_of_incident_rows():
    assert {Incident, Signal, LedgerEvent, Correction, OutboxEntry, DispatchAttempt, Notification, Delivery} <= set(
        LINKED
    )


def test_every_admin_of_an_incident_row_is_covered_here():
    missing = [m._meta.label for m in LINKED if m not in COVERED]
    assert not missing, (
        f"{missing} reach Incident: filter their admin's get_queryset with the visibility selectors "
        "and add a factory to make_incident_row"
    )


@pytest.mark.parametrize("model", sorted(COVERED, key=lambda m: m._meta.label), ids=lambda m: m._meta.label)
def test_factories_make_a_row_of_the_given_incident(model, make_incident, make_user, actor_for):
    """The factories of models not (yet) in the admin must work the day one is registered."""
    incident = make_incident()
    row, term = make_incident_row(model, incident, make_user, actor_for)
    assert model.objects.filter(pk=row.pk).exists()
    assert incident.ref in term or term in str(Signal.objects.filter(incident=incident).values_list("title"))


@pytest.fixture
def admin_client(client, make_user):
    """A superuser holding the admin role, granted nothing."""
    user = make_user(Role.ADMIN)
    user.is_staff = user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])
    client.force_login(user)
    return client


def _urls(obj):
    info = obj._meta.app_label, obj._meta.model_name
    return {
        view: reverse(f"admin:{info[0]}_{info[1]}_{view}", args=[obj.pk]) for view in ("change", "history", "delete")
    }


def _listed(client, model, query: str = ""):
    info = model._meta.app_label, model._meta.model_name
    response = client.get(reverse(f"admin:{info[0]}_{info[1]}_changelist") + query)
    assert response.status_code == 200
    return response, {row.pk for row in response.context["cl"].queryset}


@pytest.mark.parametrize("model", LINKED, ids=lambda m: m._meta.label)
def test_admin_cannot_reach_a_restricted_incidents_rows(model, admin_client, make_incident, make_user, actor_for):
    open_row, open_term = make_incident_row(model, make_incident(), make_user, actor_for)
    hidden_row, hidden_term = make_incident_row(model, make_incident(restricted=True), make_user, actor_for)
    has_search = bool(admin.site._registry[model].search_fields)

    # The same admin shows the open incident's row: what follows is filtering, not a broken page.
    response, listed = _listed(admin_client, model)
    assert open_row.pk in listed
    assert _urls(open_row)["change"] in response.content.decode()
    assert admin_client.get(_urls(open_row)["change"]).status_code == 200
    if has_search:
        assert open_row.pk in _listed(admin_client, model, f"?q={open_term}")[1]

    assert hidden_row.pk not in listed
    assert _urls(hidden_row)["change"] not in response.content.decode()
    for view, url in _urls(hidden_row).items():
        answer = admin_client.get(url)
        assert answer.status_code in (302, 403, 404), (view, answer.status_code)
        assert hidden_term not in answer.content.decode(), view
    response, found = _listed(admin_client, model, f"?q={hidden_term}")
    assert hidden_row.pk not in found
    assert _urls(hidden_row)["change"] not in response.content.decode()


@pytest.mark.parametrize("model", sorted(admin.site._registry, key=lambda m: m._meta.label), ids=str)
def test_admin_changelist_and_change_urls_refuse_hostile_values(model, admin_client):
    """A NUL byte in a search or an object id is refused, not sent to PostgreSQL (a 500 there)."""
    info = model._meta.app_label, model._meta.model_name
    changelist = reverse(f"admin:{info[0]}_{info[1]}_changelist")
    for query in ("?q=%00", "?q=" + "x" * 10_000, "?q=%ff%fe", "?o=%00", "?p=%00"):
        assert admin_client.get(changelist + query).status_code < 500, query
    for object_id in ("%00", "9" * 10_000, "..%2f"):
        assert admin_client.get(f"{changelist}{object_id}/change/").status_code < 500, object_id
