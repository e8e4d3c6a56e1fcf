"""The two forms a share takes, built only from the chosen fields (incidents.sharing.fields):

- the JSON package (`failsafe-share/1`): who from, who to, the TLP level, the incident's ref and
  exactly the chosen fields;
- a STIX 2.1 bundle, built by hand per the specification (no library): the sender's `identity`,
  the TLP 2.0 `marking-definition` (OASIS's published objects, ids and extension), an `incident`
  named by its title if chosen (else its ref) and described by its summary if chosen, a `note`
  carrying the chosen fields as JSON, and a `report` tying them together. Every object but the
  marking definition carries `object_marking_refs` to the TLP marking.

Ids of the objects are derived from the share's uid, so a package is reproducible from its row.
Both are serialised once (sorted keys, UTF-8) and stored as text; their SHA-256 is over those bytes.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

PACKAGE_FORMAT = "failsafe-share/1"

# TLP 2.0 in STIX 2.1: the OASIS extension and its five marking definitions
# (oasis-open/cti-stix-common-objects, extension-definition-specifications/tlp-2.0).
TLP_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP_CREATED = "2022-10-01T00:00:00.000Z"
TLP_CREATED_BY = "identity--b3bca3c2-1f3d-4b54-b44f-dac42c3a8f01"
TLP_MARKINGS = {
    "CLEAR": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "GREEN": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "AMBER": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "AMBER+STRICT": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "RED": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}


def stix_time(at: datetime) -> str:
    """STIX timestamps: UTC, 'Z', milliseconds."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def serialise(document: dict[str, Any]) -> tuple[str, str]:
    """The text stored and served, and the SHA-256 of its UTF-8 bytes."""
    text = json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    return text, hashlib.sha256(text.encode()).hexdigest()


def json_package(*, uid: uuid.UUID, sender: str, recipient: dict[str, str], tlp: str, shared_at: datetime,
                 ref: str, chosen: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    return {
        "format": PACKAGE_FORMAT,
        "share_id": str(uid),
        "from": sender,
        "to": recipient,
        "tlp": f"TLP:{tlp}",
        "shared_at": stix_time(shared_at),
        "fields": list(chosen),
        "incident": {"ref": ref, **chosen},
    }


def tlp_marking(tlp: str) -> dict[str, Any]:
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP_MARKINGS[tlp],
        "created_by_ref": TLP_CREATED_BY,
        "created": TLP_CREATED,
        "name": f"TLP:{tlp}",
        "extensions": {TLP_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": tlp.lower()}},
    }


def stix_bundle(*, uid: uuid.UUID, sender: str, tlp: str, shared_at: datetime, ref: str,
                chosen: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    def sid(kind: str) -> str:
        return f"{kind}--{uuid.uuid5(uid, kind)}"

    at = stix_time(shared_at)
    marking = TLP_MARKINGS[tlp]
    common = {"spec_version": "2.1", "created": at, "modified": at, "object_marking_refs": [marking]}
    identity = {"type": "identity", "id": sid("identity"), "name": sender, "identity_class": "organization", **common}
    by = {"created_by_ref": identity["id"]}
    incident: dict[str, Any] = {
        "type": "incident", "id": sid("incident"), "name": chosen.get("title") or ref, **common, **by,
        "external_references": [{"source_name": "failsafe", "external_id": ref}],
    }  # fmt: skip
    if chosen.get("summary"):
        incident["description"] = chosen["summary"]
    note = {
        "type": "note", "id": sid("note"), "abstract": f"Fields shared from {ref}",
        "content": json.dumps({"ref": ref, **chosen}, sort_keys=True, ensure_ascii=False),
        "object_refs": [incident["id"]], **common, **by,
    }  # fmt: skip
    report = {
        "type": "report", "id": sid("report"), "name": f"{ref} shared by {sender}", "published": at,
        "report_types": ["threat-report"], "object_refs": [incident["id"], note["id"]], **common, **by,
    }  # fmt: skip
    return {"type": "bundle", "id": f"bundle--{uid}", "objects": [tlp_marking(tlp), identity, incident, note, report]}
