"""Sharing an incident (issue 13 §6): one package, to one recipient, at one TLP level.

Refused: a person who may not see the incident (404, so a restricted incident cannot even be
named), a role that may not share, a drill (nothing about a rehearsal reaches outsiders:
incidents.drills), an inactive or unknown recipient, a field outside the allowlist. The package
is built from exactly the chosen fields, stored byte for byte with its hashes, and ledgered.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import ledger
from accounts.actor import Actor
from accounts.models import User
from config.errors import DomainError
from incidents import drills, locks
from incidents.models import Incident, Share, SharingRecipient, Tlp
from incidents.selectors import can_view_incident
from incidents.sharing import fields as share_fields
from incidents.sharing import package
from incidents.sharing.events import SharingEvent
from incidents.sharing.selectors import may_share

PURPOSE_MAX = 2000


def _person(actor: Actor) -> User:
    if actor.user is None:
        raise DomainError("Sharing is decided by a person.", code="forbidden")
    return actor.user


def _chosen_fields(fields: Any) -> list[str]:
    allowed = share_fields.field_keys()
    if not isinstance(fields, list | tuple) or not all(isinstance(f, str) for f in fields):
        raise DomainError.invalid_field("fields", "Give the fields as a list of names.")
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise DomainError.invalid_field(
            "fields", f"Not a field that can be shared: {', '.join(unknown)}. Choose from {', '.join(allowed)}."
        )
    return [key for key in allowed if key in set(fields)]  # the allowlist's order, each once


@transaction.atomic
def sharing_create(
    *, actor: Actor, incident: Incident, recipient_id: int, tlp: str, fields: Any, purpose: str
) -> Share:
    user = _person(actor)
    incident = locks.lock_incident(incident.pk)
    if not can_view_incident(user, incident):
        raise DomainError("No such incident.", code="not_found")
    if not may_share(user):
        raise DomainError("Only incident commanders and leadership share incidents outside.", code="forbidden")
    if not drills.reaches_outsiders(incident):
        raise DomainError(f"{incident.ref} is a drill: nothing about a drill is shared outside.", code="conflict")
    recipient = SharingRecipient.objects.filter(pk=recipient_id, active=True).first()
    if recipient is None:
        raise DomainError.invalid_field("recipient", "Choose an active recipient from the register.")
    if tlp not in Tlp.values:
        raise DomainError.invalid_field("tlp", f"Choose a TLP level: {', '.join(Tlp.values)}.")
    purpose = (purpose or "").strip()
    if not purpose:
        raise DomainError.invalid_field("purpose", "Say why this is shared, and why with them.")
    if len(purpose) > PURPOSE_MAX:
        raise DomainError.invalid_field("purpose", f"At most {PURPOSE_MAX} characters.")
    keys = _chosen_fields(fields)
    builders = {f.key: f for f in share_fields.share_fields()}
    chosen = {key: builders[key].build(incident, user) for key in keys}
    uid, now = uuid.uuid4(), timezone.now()
    sender = settings.FAILSAFE_ORGANISATION_NAME
    to = {"name": recipient.name, "kind": recipient.kind}
    package_text, package_sha256 = package.serialise(
        package.json_package(uid=uid, sender=sender, recipient=to, tlp=tlp, shared_at=now, ref=incident.ref,
                             chosen=chosen)
    )  # fmt: skip
    stix_text, stix_sha256 = package.serialise(
        package.stix_bundle(uid=uid, sender=sender, tlp=tlp, shared_at=now, ref=incident.ref, chosen=chosen)
    )
    share = Share.objects.create(
        uid=uid, incident=incident, recipient=recipient, tlp=tlp, fields=keys, purpose=purpose,
        package=package_text, package_sha256=package_sha256, stix=stix_text, stix_sha256=stix_sha256,
        shared_by=user, shared_at=now,
    )  # fmt: skip
    ledger.record(
        actor=actor, verb=SharingEvent.SHARED, obj=share, incident_ref=incident.ref,
        after={"recipient": recipient.name, "recipient_kind": recipient.kind, "tlp": tlp, "fields": keys,
               "share_id": str(uid), "package_sha256": package_sha256, "stix_sha256": stix_sha256},
        reason=purpose,
    )  # fmt: skip
    return share
