"""Adding evidence to an incident (issue 13 §4). Evidence is never changed or deleted here.

The checks come before anything is stored: who may add it, its size (FAILSAFE_EVIDENCE_MAX_BYTES),
then its content (incidents.evidence.sniff), read chunk by chunk while its SHA-256 is computed.
Only an accepted file reaches the "evidence" storage, under a fresh name Failsafe makes up
(<ref>/<random hex>), so no upload can overwrite another or choose where it lands. The row and
its ledger event are written in one transaction; if that fails, the stored file is removed.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
import uuid
from typing import Protocol

from django.conf import settings
from django.core.files.storage import storages
from django.db import transaction

from accounts import ledger
from accounts.actor import Actor
from accounts.models import User
from config.errors import DomainError
from incidents import locks
from incidents.evidence import sniff
from incidents.evidence.events import EvidenceEvent
from incidents.evidence.selectors import may_add_evidence
from incidents.models import Evidence, Incident
from incidents.selectors import can_view_incident

STORAGE = "evidence"
NAME_MAX = 200
DESCRIPTION_MAX = 500


class Upload(Protocol):
    """What Django's UploadedFile (and a File) offer: a name, a size and chunks."""

    name: str | None
    size: int

    def chunks(self, chunk_size: int | None = None): ...  # noqa: ANN201 - Django's own signature

    def seek(self, offset: int) -> int: ...


def max_bytes() -> int:
    return int(settings.FAILSAFE_EVIDENCE_MAX_BYTES)


def describe_bytes(size: int) -> str:
    """25 MB, 512 KB, 900 bytes: the limit as a person reads it (1 MB = 1024 × 1024 bytes)."""
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:g} {unit}" if size % scale == 0 else f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def too_large_message() -> str:
    return f"This file is larger than {describe_bytes(max_bytes())}, the limit for evidence."


def clean_name(name: str | None) -> str:
    """The uploader's file name without a path, control characters or surrounding spaces."""
    base = os.path.basename((name or "").replace("\\", "/"))
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip().strip(".")
    return base[:NAME_MAX] or "evidence"


def _person(actor: Actor) -> User:
    if actor.user is None:
        raise DomainError("Evidence is added by a person.", code="forbidden")
    return actor.user


def _read(upload: Upload, name: str) -> tuple[sniff.Kind, str, int]:
    """Stream the upload once: what it is, its SHA-256, its size (counted, not trusted)."""
    digest, sniffer, size, limit = hashlib.sha256(), sniff.Sniffer(), 0, max_bytes()
    upload.seek(0)
    for chunk in upload.chunks():
        size += len(chunk)
        if size > limit:
            raise DomainError.invalid_field("file", too_large_message())
        digest.update(chunk)
        try:
            sniffer.feed(chunk)
        except sniff.Refused as refused:
            raise DomainError.invalid_field("file", refused.message) from None
    try:
        kind = sniffer.result(name)
    except sniff.Refused as refused:
        raise DomainError.invalid_field("file", refused.message) from None
    return kind, digest.hexdigest(), size


def evidence_add(*, actor: Actor, incident: Incident, upload: Upload, description: str = "") -> Evidence:
    user = _person(actor)
    if not can_view_incident(user, incident):
        raise DomainError("No such incident.", code="not_found")
    if not may_add_evidence(user, incident):
        raise DomainError(
            "Only the incident's people (reporter, commander, participants), commanders and leadership add evidence.",
            code="forbidden",
        )
    description = (description or "").strip()
    if len(description) > DESCRIPTION_MAX:
        raise DomainError.invalid_field("description", f"At most {DESCRIPTION_MAX} characters.")
    if upload.size is not None and upload.size > max_bytes():  # said before a byte is read
        raise DomainError.invalid_field("file", too_large_message())
    name = clean_name(upload.name)
    kind, sha256, size = _read(upload, name)
    storage = storages[STORAGE]
    upload.seek(0)
    stored = storage.save(f"{incident.ref}/{uuid.uuid4().hex}", upload)
    try:
        return _record(actor, user, incident, stored, name=name, kind=kind, sha256=sha256, size=size,
                       description=description)  # fmt: skip
    except BaseException:
        storage.delete(stored)
        raise


@transaction.atomic
def _record(actor, user, incident, stored, *, name, kind, sha256, size, description) -> Evidence:
    incident = locks.lock_incident(incident.pk)
    if not can_view_incident(user, incident):  # restricted meanwhile, and not granted
        raise DomainError("No such incident.", code="not_found")
    evidence = Evidence.objects.create(
        incident=incident, name=name, description=description, kind=kind.kind, content_type=kind.content_type,
        size=size, sha256=sha256, storage_name=stored, uploaded_by=user,
    )  # fmt: skip
    ledger.record(
        actor=actor, verb=EvidenceEvent.ADDED, obj=evidence, incident_ref=incident.ref,
        after={"name": name, "kind": kind.kind.value, "content_type": kind.content_type, "size": size,
               "sha256": sha256, "description": description},
    )  # fmt: skip
    return evidence


def evidence_open(evidence: Evidence):
    """The stored bytes, for a download (the caller has checked the incident is visible)."""
    return storages[STORAGE].open(evidence.storage_name, "rb")
