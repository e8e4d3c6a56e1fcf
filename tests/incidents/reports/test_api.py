"""The reports API: start, draft, submit (idempotent), versions, diff, JSON export; visibility,
drills and query counts."""

from __future__ import annotations

import pytest

from incidents.models.reports import ReportVersion
from incidents.reports import records
from tests.incidents.reports.conftest import GPAI, GPAI_INITIAL


def _base(incident) -> str:
    return f"/api/v1/incidents/{incident.ref}/reports/"


def _drafted(api, incident, fields=GPAI_INITIAL) -> dict:
    assert api.post(_base(incident), {"regime": GPAI}, format="json").status_code == 201
    response = api.put(f"{_base(incident)}{GPAI}/draft/", {"fields": fields}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def _submit(api, incident, content_hash, **headers):
    body = {"content_hash": content_hash, "channel": "api", "channel_reference": "OES-1"}
    return api.post(f"{_base(incident)}{GPAI}/submit/", body, format="json", **headers)


def test_a_draft_put_with_bad_fields_is_400_naming_each_field(exfiltration, people, api_for):
    incident = exfiltration()
    api = api_for(people["commander"])
    api.post(_base(incident), {"regime": GPAI}, format="json")

    response = api.put(
        f"{_base(incident)}{GPAI}/draft/",
        {"fields": {"incident_type": "meteor", "start_date": "soon", "nonsense": 1}},
        format="json",
    )

    assert response.status_code == 400
    assert {"incident_type", "start_date", "nonsense"} <= set(response.json()["errors"])


def test_submitting_twice_with_one_key_makes_one_version_and_replays_the_answer(exfiltration, people, api_for):
    incident = exfiltration()
    api = api_for(people["commander"])
    draft = _drafted(api, incident)

    first = _submit(api, incident, draft["content_hash"], HTTP_IDEMPOTENCY_KEY="submit-once-1")
    again = _submit(api, incident, draft["content_hash"], HTTP_IDEMPOTENCY_KEY="submit-once-1")
    without_key = _submit(api, incident, draft["content_hash"])

    assert first.status_code == 200 and first.json()["hash_ok"] is True
    assert (again.status_code, again.json()) == (200, first.json())
    assert again["Idempotent-Replayed"] == "true"
    assert without_key.status_code == 409  # no draft left: nothing is submitted twice
    assert ReportVersion.objects.filter(submitted_at__isnull=False).count() == 1


def test_submit_lists_what_the_regime_still_needs(exfiltration, people, api_for):
    incident = exfiltration()
    api = api_for(people["commander"])
    api.post(_base(incident), {"regime": GPAI}, format="json")
    draft = api.get(f"{_base(incident)}{GPAI}/draft/").json()

    response = _submit(api, incident, draft["content_hash"])

    assert response.status_code == 400
    assert {"incident_type", "chain_of_events"} <= set(response.json()["errors"])


def test_versions_diff_and_json_export_of_an_amendment(exfiltration, people, api_for):
    incident = exfiltration()
    api = api_for(people["commander"])
    draft = _drafted(api, incident)
    v1 = _submit(api, incident, draft["content_hash"]).json()
    started = api.post(_base(incident), {"regime": GPAI, "kind": "amended", "reason": "Root cause found"},
                       format="json")  # fmt: skip
    assert started.status_code == 201 and started.json()["number"] == 2
    draft = api.put(f"{_base(incident)}{GPAI}/draft/", {"fields": {"actions": "Restored from backup."}},
                    format="json").json()  # fmt: skip
    _submit(api, incident, draft["content_hash"])

    auditor = api_for(people["auditor"])
    versions = auditor.get(f"{_base(incident)}{GPAI}/versions/").json()
    diff = auditor.get(f"{_base(incident)}{GPAI}/versions/2/diff/").json()
    exported = [auditor.get(f"{_base(incident)}{GPAI}/versions/{n}/").json() for n in (1, 2)]

    assert [(v["number"], v["kind"], v["state"]) for v in versions["results"]] == [
        (1, "initial", "submitted"), (2, "amended", "submitted")
    ]  # fmt: skip
    assert diff["previous"] == 1
    assert {line["field"]: line["after"] for line in diff["changes"]} == {"Kind": "Amended",
                                                                          "What we have done or intend to do":
                                                                          "Restored from backup."}  # fmt: skip
    assert exported[0] == v1
    for document in exported:
        assert document["hash_ok"] is True and records.sha256_of(document["record"]) == document["sha256"]
    assert exported[1]["record"]["reason"] == "Root cause found"


def test_an_auditor_reads_reports_but_cannot_write_them(exfiltration, people, api_for):
    incident = exfiltration()
    _drafted(api_for(people["commander"]), incident)
    auditor = api_for(people["auditor"])

    assert auditor.get(f"{_base(incident)}{GPAI}/").status_code == 200
    assert auditor.post(_base(incident), {"regime": "ca_sb53"}, format="json").status_code == 403
    assert auditor.put(f"{_base(incident)}{GPAI}/draft/", {"fields": {}}, format="json").status_code == 403


def test_a_restricted_incidents_reports_are_404_to_the_ungranted(exfiltration, people, api_for, make_user):
    incident = exfiltration(restricted=True)
    draft = _drafted(api_for(people["commander"]), incident)
    _submit(api_for(people["commander"]), incident, draft["content_hash"])
    stranger = api_for(make_user("incident_commander"))

    for url in ("", f"{GPAI}/", f"{GPAI}/draft/", f"{GPAI}/versions/", f"{GPAI}/versions/1/",
                f"{GPAI}/versions/1/diff/"):  # fmt: skip
        assert stranger.get(_base(incident) + url).status_code == 404, url
    assert stranger.post(_base(incident), {"regime": "ca_sb53"}, format="json").status_code == 404
    assert api_for(people["leader"]).get(f"{_base(incident)}{GPAI}/versions/1/").status_code == 200


def test_a_drill_report_is_409_with_the_reason(make_incident, people, api_for):
    drill = make_incident(by=people["leader"], is_drill=True)

    response = api_for(people["leader"]).post(_base(drill), {"regime": GPAI}, format="json")

    assert response.status_code == 409
    assert "drill" in response.json()["detail"]


def test_unknown_regimes_and_versions_are_404(exfiltration, people, api_for):
    incident = exfiltration()
    api = api_for(people["commander"])
    _drafted(api, incident)
    assert api.get(f"{_base(incident)}no_such_regime/").status_code == 404
    assert api.get(f"{_base(incident)}{GPAI}/versions/9/").status_code == 404
    assert api.get(f"{_base(incident)}{GPAI}/versions/99999999999999999999/").status_code == 404
    assert api.post(_base(incident), {"regime": "no_such"}, format="json").status_code == 400


def _queries(client, url, django_assert_max_num_queries) -> int:
    with django_assert_max_num_queries(30) as counted:
        assert client.get(url).status_code == 200
    return len(counted)


def test_the_report_lists_cost_the_same_queries_for_1_and_4_versions(
    exfiltration, people, api_for, django_assert_max_num_queries
):
    incident = exfiltration()
    api = api_for(people["commander"])
    draft = _drafted(api, incident)
    _submit(api, incident, draft["content_hash"])
    urls = (_base(incident), f"{_base(incident)}{GPAI}/versions/", f"{_base(incident)}{GPAI}/")
    small = [_queries(api, url, django_assert_max_num_queries) for url in urls]
    for _ in range(3):
        api.post(_base(incident), {"regime": GPAI, "kind": "intermediate"}, format="json")
        draft = api.get(f"{_base(incident)}{GPAI}/draft/").json()
        assert _submit(api, incident, draft["content_hash"]).status_code == 200
    api.post(_base(incident), {"regime": "ca_sb53"}, format="json")

    assert [_queries(api, url, django_assert_max_num_queries) for url in urls] == small
    assert len(api.get(f"{_base(incident)}{GPAI}/versions/").json()["results"]) == 4


@pytest.mark.postgres
def test_two_submits_at_once_make_one_version(transactional_db, exfiltration, people, actor_for, task_sends):
    import threading

    from django.db import connection

    from config.errors import DomainError
    from incidents.reports import services

    incident = exfiltration()
    commander, leader = actor_for(people["commander"]), actor_for(people["leader"])
    services.report_start(actor=commander, incident=incident, regime=GPAI)
    draft = services.report_save_draft(actor=commander, incident=incident, regime=GPAI, fields=GPAI_INITIAL)
    barrier = threading.Barrier(2)
    outcomes: list[str] = ["", ""]

    def run(i, actor):
        try:
            barrier.wait()
            services.report_submit(actor=actor, incident=incident, regime=GPAI, content_hash=draft.content_hash,
                                   channel="portal")  # fmt: skip
            outcomes[i] = "ok"
        except DomainError as error:
            outcomes[i] = error.code
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate((commander, leader))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert sorted(outcomes) == ["conflict", "ok"]
    assert ReportVersion.objects.filter(submitted_at__isnull=False).count() == 1
    assert ReportVersion.objects.count() == 1


def test_a_draft_time_outside_the_storable_years_is_400_naming_it(exfiltration, people, api_for):
    incident = exfiltration()
    api = api_for(people["commander"])
    api.post(_base(incident), {"regime": GPAI}, format="json")

    response = api.put(
        f"{_base(incident)}{GPAI}/draft/", {"fields": {"start_date": "0001-01-01T00:00:00+05:00"}}, format="json"
    )

    assert response.status_code == 400
    assert "start_date" in response.json()["errors"]
