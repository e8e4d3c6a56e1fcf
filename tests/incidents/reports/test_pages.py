"""The report pages: start, edit with field-level errors, submit, the amendment's diff, and the
exports (printable page, JSON) of every version."""

from __future__ import annotations

import json

from incidents.models.reports import ReportVersion
from incidents.reports import records
from tests.incidents.reports.conftest import GPAI, GPAI_INITIAL


def _url(incident, tail="") -> str:
    return f"/incidents/{incident.ref}/reports/{tail}"


def _edit_post(client, incident, draft: ReportVersion, **changes) -> object:
    fields = {k: v for k, v in draft.fields.items() if isinstance(v, str) or v is None}
    data = {**{k: v or "" for k, v in fields.items()}, **GPAI_INITIAL, **changes,
            "kind": draft.kind, "content_hash": draft.content_hash}  # fmt: skip
    for name in ("start_date", "end_date", "aware_of_involvement_at", "occurred_at", "detected_at", "reported_at",
                 "contained_at", "resolved_at"):  # fmt: skip
        data[name] = (changes.get(name) or draft.fields.get(name) or "")[:16]
    data["models"] = "\n".join(draft.fields.get("models", []))
    data["deployments"] = "\n".join(draft.fields.get("deployments", []))
    return client.post(_url(incident, f"{GPAI}/edit/"), data)


def _submit_post(client, incident, draft, **extra):
    data = {"content_hash": draft.content_hash, "channel": "portal", "channel_reference": "AIO-7", **extra}
    return client.post(_url(incident, f"{GPAI}/submit/"), data)


def _draft() -> ReportVersion:
    return ReportVersion.objects.filter(submitted_at__isnull=True).get()


def test_the_commander_files_an_initial_report_and_an_amendment_through_the_pages(exfiltration, people, client_for):
    incident = exfiltration()
    commander = client_for(people["commander"])

    started = commander.post(_url(incident), {"regime": GPAI, "kind": "", "reason": ""})
    assert started.status_code == 302 and started["Location"] == _url(incident, f"{GPAI}/edit/")
    page = commander.get(started["Location"])
    assert page.status_code == 200 and "Weights exfiltrated" in page.content.decode()
    assert _edit_post(commander, incident, _draft()).status_code == 302
    assert _submit_post(commander, incident, _draft()).status_code == 302

    commander.post(_url(incident), {"regime": GPAI, "kind": "amended", "reason": "Earlier start found"})
    assert _edit_post(commander, incident, _draft(), chain_of_events="A phished credential.").status_code == 302
    assert _submit_post(commander, incident, _draft()).status_code == 302

    page = commander.get(_url(incident, f"{GPAI}/"), {"version": 2}).content.decode()
    assert "Changes from version 1" in page
    assert "<ins>A phished credential.</ins>" in page and "<del>Stolen credential, then a bulk copy.</del>" in page
    assert ReportVersion.objects.filter(submitted_at__isnull=False).count() == 2


def test_the_draft_editor_shows_each_refusal_beside_its_field(exfiltration, people, client_for):
    incident = exfiltration()
    commander = client_for(people["commander"])
    commander.post(_url(incident), {"regime": GPAI})
    before = _draft().content_hash

    response = _edit_post(commander, incident, _draft(), title="x" * 250, incident_type="meteor")

    assert response.status_code == 400
    form = response.context["form"]
    assert "title" in form.errors and "incident_type" in form.errors
    assert _draft().content_hash == before


def test_submitting_an_incomplete_draft_names_what_is_missing(exfiltration, people, client_for):
    incident = exfiltration()
    commander = client_for(people["commander"])
    commander.post(_url(incident), {"regime": GPAI})

    page = commander.get(_url(incident, f"{GPAI}/")).content.decode()
    response = _submit_post(commander, incident, _draft())

    assert "Still needed to submit" in page and "Chain of events" in page
    assert response.status_code == 400
    assert any("Chain of events" in e for e in response.context["submit_form"].non_field_errors())
    assert not ReportVersion.objects.filter(submitted_at__isnull=False).exists()


def test_a_double_submitted_form_makes_one_version(exfiltration, people, client_for):
    incident = exfiltration()
    commander = client_for(people["commander"])
    commander.post(_url(incident), {"regime": GPAI})
    _edit_post(commander, incident, _draft())
    draft = _draft()

    first = _submit_post(commander, incident, draft, submit_token="t" * 20)
    again = _submit_post(commander, incident, draft, submit_token="t" * 20)

    assert first.status_code == again.status_code == 302 and first["Location"] == again["Location"]
    assert ReportVersion.objects.filter(submitted_at__isnull=False).count() == 1


def test_the_auditor_downloads_every_version_as_json_and_as_a_printable_page(exfiltration, people, client_for):
    incident = exfiltration()
    commander = client_for(people["commander"])
    commander.post(_url(incident), {"regime": GPAI})
    _edit_post(commander, incident, _draft())
    _submit_post(commander, incident, _draft())
    commander.post(_url(incident), {"regime": GPAI, "kind": "intermediate"})
    _edit_post(commander, incident, _draft(), actions="Still watching.")
    _submit_post(commander, incident, _draft())
    auditor = client_for(people["auditor"])

    for number in (1, 2):
        download = auditor.get(_url(incident, f"{GPAI}/versions/{number}/json/"))
        assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")
        document = json.loads(download.content)
        assert document["record"]["version"] == number and document["hash_ok"] is True
        assert records.sha256_of(document["record"]) == document["sha256"]
        printable = auditor.get(_url(incident, f"{GPAI}/versions/{number}/print/")).content.decode()
        assert document["sha256"] in printable and "css/report-print.css" in printable
        assert "style=" not in printable and "<style" not in printable and "<script" not in printable
    assert auditor.post(_url(incident), {"regime": "ca_sb53"}).status_code == 403


def test_a_restricted_incidents_report_pages_are_404_to_the_ungranted(exfiltration, people, client_for, make_user):
    incident = exfiltration(restricted=True)
    commander = client_for(people["commander"])
    commander.post(_url(incident), {"regime": GPAI})
    stranger = client_for(make_user("incident_commander"))

    for tail in ("", f"{GPAI}/", f"{GPAI}/edit/", f"{GPAI}/versions/1/print/", f"{GPAI}/versions/1/json/"):
        assert stranger.get(_url(incident, tail)).status_code == 404, tail
    assert stranger.post(_url(incident), {"regime": "ca_sb53"}).status_code == 404


def test_a_drill_says_it_gets_no_reports_and_refuses_one(make_incident, people, client_for):
    drill = make_incident(by=people["leader"], is_drill=True)
    leader = client_for(people["leader"])

    page = leader.get(_url(drill)).content.decode()
    response = leader.post(_url(drill), {"regime": GPAI})

    assert "drills get no regulator reports" in page
    assert response.status_code == 409
    assert not ReportVersion.objects.exists()


def test_a_version_downloads_as_a_pdf(exfiltration, people, client_for):
    incident = exfiltration()
    commander = client_for(people["commander"])
    commander.post(_url(incident), {"regime": GPAI})
    _edit_post(commander, incident, _draft())
    _submit_post(commander, incident, _draft())

    download = client_for(people["auditor"]).get(_url(incident, f"{GPAI}/versions/1/pdf/"))

    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    assert download.content.startswith(b"%PDF-") and download["Content-Disposition"].startswith("attachment")


def test_the_pdf_renderer_fetches_nothing_even_when_the_markup_asks(monkeypatch):
    from weasyprint.urls import URLFetcher, URLFetchingError

    from incidents.reports import pdf

    fetched = []

    def fetch(self, url, headers=None):  # WeasyPrint's own fetcher, which would go to the network
        fetched.append(url)
        raise URLFetchingError(url)

    monkeypatch.setattr(URLFetcher, "fetch", fetch)

    body = pdf.html_to_pdf('<img src="http://169.254.169.254/latest"><link rel="stylesheet" href="file:///etc/passwd">')

    assert body.startswith(b"%PDF-") and fetched == []


def test_without_weasyprint_the_pdf_link_leads_to_the_printable_page(exfiltration, people, client_for, monkeypatch):
    from incidents.reports import pdf

    def unavailable(html):
        raise pdf.PdfUnavailable("no Pango here")

    monkeypatch.setattr(pdf, "html_to_pdf", unavailable)
    incident = exfiltration()
    commander = client_for(people["commander"])
    commander.post(_url(incident), {"regime": GPAI})

    response = commander.get(_url(incident, f"{GPAI}/versions/1/pdf/"))

    assert response.status_code == 302 and response["Location"] == _url(incident, f"{GPAI}/versions/1/print/")
