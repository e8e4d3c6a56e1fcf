"""Response metrics (issue 10.6): exact p50/p90 on a hand-built set of incidents with known
durations, the visibility rule for restricted incidents on every channel, the page's fixed
query count, and its charts as well-formed, accessible SVG."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import xml.etree.ElementTree as ET

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.roles import Role
from incidents.metrics import registered_groups, selectors, svg
from incidents.metrics.definitions import INCIDENT_GROUP
from incidents.metrics.selectors import ALL, MetricFilters, metrics_for, percentile_cont
from incidents.metrics.views import csv_rows
from incidents.models import Incident

UTC = dt.UTC
JAN, FEB = dt.date(2026, 1, 1), dt.date(2026, 2, 1)
RANGE = {"since": "2026-01-01", "until": "2026-02-28"}
FILTERS = MetricFilters(since=dt.date(2026, 1, 1), until=dt.date(2026, 2, 28))
MIN, HOUR, DAY = 60, 3600, 86400
SVG_NS = "{http://www.w3.org/2000/svg}"


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def milestones(incident: Incident, *, reported: dt.datetime, **offsets: float | None) -> Incident:
    """Set an incident's milestones: reported at `reported`, each other one `offsets[name]`
    seconds after it (negative: before), or None (not reached). Unnamed ones are cleared."""
    names = ["occurred", "detected", "acknowledged", "contained", "resolved", "closed"]
    values = {
        f"{n}_at": (None if offsets.get(n) is None else reported + dt.timedelta(seconds=offsets[n])) for n in names
    }
    Incident.objects.filter(pk=incident.pk).update(reported_at=reported, **values)
    return Incident.objects.get(pk=incident.pk)


@pytest.fixture
def hand_built(make_incident, make_user):
    """SEV2 in January: three counted (one of them reported at 23:30 on the 31st), one whose
    acknowledgement is recorded before its report, one dismissed; SEV2 at 00:30 on 1 February;
    SEV1 in January; one in December, outside the range."""
    reporter = make_user(Role.RESPONDER)
    make = lambda **f: make_incident(by=reporter, **f)  # noqa: E731
    return {
        "a": milestones(make(severity="SEV2"), reported=at(2026, 1, 10, 9), occurred=-3 * HOUR, detected=-1 * HOUR,
                        acknowledged=10 * MIN, contained=1 * HOUR, resolved=10 * HOUR, closed=2 * DAY),
        "b": milestones(make(severity="SEV2"), reported=at(2026, 1, 20, 12), acknowledged=30 * MIN,
                        resolved=20 * HOUR),  # never contained, never closed
        "c": milestones(make(severity="SEV2"), reported=at(2026, 1, 31, 23, 30), acknowledged=20 * MIN,
                        contained=3 * HOUR),
        "backwards": milestones(make(severity="SEV2"), reported=at(2026, 1, 15), acknowledged=-5 * MIN,
                                resolved=4 * HOUR),
        "dismissed": milestones(make(severity="SEV2", category="other"), reported=at(2026, 1, 12),
                                acknowledged=1000 * MIN, closed=2000 * MIN),
        "d": milestones(make(severity="SEV2"), reported=at(2026, 2, 1, 0, 30), acknowledged=40 * MIN),
        "f": milestones(make(severity="SEV1", category="security"), reported=at(2026, 1, 5), acknowledged=5 * MIN),
        "december": milestones(make(severity="SEV2"), reported=at(2025, 12, 31, 23, 59), acknowledged=1 * MIN),
    }  # fmt: skip


@pytest.fixture
def dismissed(hand_built):
    Incident.objects.filter(pk=hand_built["dismissed"].pk).update(status="dismissed")
    return hand_built


def report_for(user, filters=FILTERS):
    return next(g for g in metrics_for(user=user, filters=filters).groups if g.group.key == "incidents")


def test_percentile_cont_interpolates_between_the_closest_ranks():
    assert percentile_cont([], 0.5) is None
    assert percentile_cont([7.0], 0.9) == 7.0
    assert percentile_cont([300.0, 600.0, 1200.0, 1800.0], 0.5) == 900.0
    assert percentile_cont([300.0, 600.0, 1200.0, 1800.0], 0.9) == pytest.approx(1620.0)


def test_metrics_are_exact_per_severity_and_month_on_hand_built_incidents(dismissed, make_user):
    m = report_for(make_user(Role.LEADERSHIP))

    # Acknowledge, SEV2, January: 10, 30, 20 minutes (c was reported at 23:30 UTC on the 31st).
    assert m.cell("acknowledge", "SEV2", JAN) == selectors.Cell(3, 20 * MIN, 20 * MIN + 0.8 * 10 * MIN)
    # February holds only d, reported at 00:30 UTC on the 1st.
    assert m.cell("acknowledge", "SEV2", FEB) == selectors.Cell(1, 40 * MIN, 40 * MIN)
    # Every severity in January: SEV1's 5 minutes joins SEV2's three.
    assert m.cell("acknowledge", ALL, JAN).n == 4
    assert m.cell("acknowledge", ALL, JAN).p50 == pytest.approx(15 * MIN)
    assert m.cell("acknowledge", ALL, JAN).p90 == pytest.approx(27 * MIN)
    # SEV2 over the whole range: 10, 20, 30, 40 minutes.
    assert m.cell("acknowledge", "SEV2").n == 4
    assert m.cell("acknowledge", "SEV2").p50 == pytest.approx(25 * MIN)
    assert m.cell("acknowledge", "SEV2").p90 == pytest.approx(37 * MIN)
    assert m.cell("acknowledge", "SEV1", JAN) == selectors.Cell(1, 5 * MIN, 5 * MIN)
    assert m.cell("acknowledge", "SEV3", JAN) == selectors.Cell(0, None, None)


def test_a_skipped_milestone_leaves_the_incident_out_of_that_metric_only(dismissed, make_user):
    m = report_for(make_user(Role.LEADERSHIP))

    # b was never contained: contain counts a (1 h) and c (3 h); resolve counts a (10 h), b (20 h)
    # and "backwards" (4 h: its acknowledgement was recorded before its report, its resolution was not).
    assert m.cell("contain", "SEV2", JAN).n == 2
    assert m.cell("contain", "SEV2", JAN).p50 == pytest.approx(2 * HOUR)
    assert m.cell("contain", "SEV2", JAN).p90 == pytest.approx(1 * HOUR + 0.9 * 2 * HOUR)
    assert m.cell("resolve", "SEV2", JAN).n == 3
    assert m.cell("resolve", "SEV2", JAN).p50 == pytest.approx(10 * HOUR)
    assert m.cell("close", "SEV2", JAN) == selectors.Cell(1, 2 * DAY, 2 * DAY)
    # Only a has occurred and detected times: 2 h to detect, 1 h to report.
    assert m.cell("detect", "SEV2", JAN) == selectors.Cell(1, 2 * HOUR, 2 * HOUR)
    assert m.cell("report", "SEV2", JAN) == selectors.Cell(1, 1 * HOUR, 1 * HOUR)


def test_dismissed_incidents_and_those_outside_the_range_are_not_counted(hand_built, make_user):
    leader = make_user(Role.LEADERSHIP)
    before = report_for(leader)
    assert before.cell("close", "SEV2", JAN).n == 2  # a, and the not-yet-dismissed one (2000 min)

    Incident.objects.filter(pk=hand_built["dismissed"].pk).update(status="dismissed")
    after = report_for(leader)

    assert after.cell("close", "SEV2", JAN) == selectors.Cell(1, 2 * DAY, 2 * DAY)
    assert after.cell("acknowledge", "SEV2", JAN).n == 3
    # The December incident (23:59 UTC on the 31st) is outside a range that starts on 1 January.
    assert after.cell("acknowledge", "SEV2").n == 4


def test_severity_and_category_filters_narrow_every_cell(dismissed, make_user):
    leader = make_user(Role.LEADERSHIP)

    sev1 = report_for(leader, MetricFilters(since=FILTERS.since, until=FILTERS.until, severity="SEV1"))
    security = report_for(leader, MetricFilters(since=FILTERS.since, until=FILTERS.until, category="security"))

    assert sev1.severities == ["SEV1"]
    assert sev1.cell("acknowledge", ALL, JAN) == selectors.Cell(1, 5 * MIN, 5 * MIN)
    assert security.cell("acknowledge", ALL) == selectors.Cell(1, 5 * MIN, 5 * MIN)
    assert security.cell("acknowledge", "SEV2").n == 0


@pytest.mark.postgres
def test_the_database_and_the_python_computation_agree_on_postgresql(dismissed, make_user):
    """PostgreSQL computes percentiles in the query; the SQLite path computes them in Python
    over the same rows. Both, on the same data, give the same cells."""
    rows, durations = selectors._rows(INCIDENT_GROUP, make_user(Role.LEADERSHIP), FILTERS)

    in_database = selectors._cells_in_database(rows, durations)
    in_python = selectors._cells_in_python(rows, durations, len(INCIDENT_GROUP.metrics))

    assert set(in_database) >= set(in_python)
    for key, cells in in_database.items():
        expected = in_python.get(key, [selectors.EMPTY] * len(cells))
        for got, want in zip(cells, expected, strict=True):
            assert got.n == want.n, key
            assert got.p50 == pytest.approx(want.p50), key
            assert got.p90 == pytest.approx(want.p90), key


# --- restricted incidents -------------------------------------------------------------------------


@pytest.fixture
def restricted_sev1(dismissed, make_incident, make_user):
    """A restricted SEV1 in January acknowledged after 100 minutes, reported by `reporter`."""
    reporter = make_user(Role.RESPONDER)
    incident = make_incident(by=reporter, severity="SEV1", restricted=True)
    milestones(incident, reported=at(2026, 1, 6), acknowledged=100 * MIN)
    return reporter


def _api_cell(user, **query):
    client = APIClient()
    client.force_authenticate(user)
    response = client.get("/api/v1/metrics/", {**RANGE, **query})
    assert response.status_code == 200
    return {
        (c["group"], c["metric"], c["severity"], c["month"]): (c["n"], c["p50_seconds"])
        for c in response.json()["cells"]
    }


def _csv_cells(client, user, **query):
    client.force_login(user)
    response = client.get("/metrics/export.csv", {**RANGE, **query})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    return {(r["group"], r["metric"], r["severity"], r["month"]): (int(r["n"]), r["p50_seconds"]) for r in rows}


def test_a_restricted_incident_counts_only_for_those_who_may_see_it(restricted_sev1, make_user, client):
    outsider = make_user(Role.RESPONDER)
    key = ("incidents", "acknowledge", "SEV1", "2026-01")

    # Leadership and the reporter (granted) count it: 5 and 100 minutes.
    assert report_for(make_user(Role.LEADERSHIP)).cell("acknowledge", "SEV1", JAN).n == 2
    assert report_for(restricted_sev1).cell("acknowledge", "SEV1", JAN).n == 2
    # Someone without the grant gets numbers that do not include it, on every channel.
    assert report_for(outsider).cell("acknowledge", "SEV1", JAN) == selectors.Cell(1, 5 * MIN, 5 * MIN)
    assert _api_cell(outsider)[key] == (1, 300.0)
    assert _csv_cells(client, outsider)[key] == (1, "300.000")
    # Narrowing the filters to the restricted incident alone leaves an outsider an empty cell.
    assert _api_cell(outsider, severity="SEV1", category="misuse")[key] == (0, None)
    assert _api_cell(restricted_sev1, severity="SEV1", category="misuse")[key] == (1, 6000.0)


def test_an_auditor_without_a_grant_does_not_count_a_restricted_incident(restricted_sev1, make_user):
    assert report_for(make_user(Role.AUDITOR)).cell("acknowledge", "SEV1", JAN).n == 1


# --- the page, the export and the API say the same ----------------------------------------------------


def test_csv_api_and_page_give_the_same_numbers(dismissed, make_user, client):
    leader = make_user(Role.LEADERSHIP)
    client.force_login(leader)

    page = client.get("/metrics/", RANGE)
    api = APIClient()
    api.force_authenticate(leader)
    cells = api.get("/api/v1/metrics/", RANGE).json()["cells"]
    exported = list(csv.reader(io.StringIO(client.get("/metrics/export.csv", RANGE).content.decode())))

    assert page.status_code == 200
    page_rows = csv_rows(page.context["report"])
    api_rows = [
        [c["group"], c["metric"], c["severity"], c["month"], str(c["n"])]
        + ["" if c[k] is None else f"{c[k]:.3f}" for k in ("p50_seconds", "p90_seconds")]
        for c in cells
    ]
    assert exported[0] == ["group", "metric", "severity", "month", "n", "p50_seconds", "p90_seconds"]
    assert exported[1:] == page_rows == api_rows
    assert ["incidents", "acknowledge", "SEV2", "2026-01", "3", "1200.000", "1680.000"] in exported
    # The page shows the same cell as a person reads it.
    assert '20 min</span> / <span class="metric-p90">28 min' in page.content.decode()


def test_the_page_defines_each_metric_with_its_formula(client, make_user):
    client.force_login(make_user(Role.RESPONDER))

    html = client.get("/metrics/").content.decode()

    for formula in ("detected − occurred", "reported − detected", "acknowledged − reported", "contained − reported",
                    "resolved − reported", "closed − reported", "approved − requested", "enforced − approved",
                    "lifted − enforced"):  # fmt: skip
        assert f"<code>{formula}</code>" in html


def test_the_default_range_is_the_last_twelve_calendar_months():
    filters = MetricFilters.default(today=dt.date(2026, 3, 15))

    assert (filters.since, filters.until) == (dt.date(2025, 4, 1), dt.date(2026, 3, 15))
    assert len(filters.months()) == 12


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "2026-03-01", "until": "2026-01-01"}, "until"),
        ({"since": "2000-01-01", "until": "2026-01-01"}, "until"),
        ({"since": "never"}, "since"),
        ({"until": "9999-12-31"}, "until"),
        ({"severity": "SEV9"}, "severity"),
        ({"category": "\x00"}, "category"),
    ],
)
def test_bad_filters_are_a_400_with_the_field_named_on_every_channel(query, field, client, make_user):
    user = make_user(Role.RESPONDER)
    client.force_login(user)
    api = APIClient()
    api.force_authenticate(user)

    response = api.get("/api/v1/metrics/", query)
    page = client.get("/metrics/", query)
    export = client.get("/metrics/export.csv", query)

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert page.status_code == 400
    assert page.context["form"].errors[field]
    assert export.status_code == 400


def test_metrics_are_read_only_for_everyone(client, make_user):
    client.force_login(make_user(Role.LEADERSHIP))
    api = APIClient()
    api.force_authenticate(make_user(Role.LEADERSHIP))

    assert client.post("/metrics/").status_code == 403
    assert client.post("/metrics/export.csv").status_code == 403
    assert api.post("/api/v1/metrics/", {}, format="json").status_code == 403


def test_metrics_need_a_role(client, make_user):
    client.force_login(make_user(None))
    api = APIClient()
    api.force_authenticate(make_user(None))

    assert client.get("/metrics/").status_code == 403
    assert client.get("/metrics/export.csv").status_code == 403
    assert api.get("/api/v1/metrics/").status_code == 403


# --- a fixed number of queries ------------------------------------------------------------------------


def _bulk_incidents(count: int, start: int) -> None:
    Incident.objects.bulk_create(
        Incident(
            ref=f"INC-2026-{start + i:05d}", title="bulk", category="misuse", risk_domain="cyber",
            severity=f"SEV{1 + i % 4}", reported_at=at(2026, 1 + i % 2, 1 + i % 27, i % 24),
            acknowledged_at=at(2026, 1 + i % 2, 1 + i % 27, i % 24, 30), restricted=i % 5 == 0,
        )
        for i in range(count)
    )  # fmt: skip


def _page_queries(client) -> tuple[int, int]:
    """(all the page's queries, those reading metric rows)."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/metrics/", RANGE).status_code == 200
    return len(queries), sum('"m_severity"' in q["sql"] for q in queries.captured_queries)


@pytest.mark.parametrize("role", [Role.LEADERSHIP, Role.RESPONDER])
def test_the_page_costs_the_same_queries_at_any_data_size(role, client, make_user, registry):
    client.force_login(make_user(role))
    _bulk_incidents(5, start=10000)
    small = _page_queries(client)

    _bulk_incidents(300, start=20000)
    large = _page_queries(client)

    assert small == large
    assert large[1] == len(registered_groups()) == 2  # one query per group: incidents, corrections


# --- the charts ---------------------------------------------------------------------------------------


def test_a_chart_is_well_formed_accessible_svg_with_a_gap_for_a_month_without_data():
    markup = svg.line_chart(
        chart_id="chart-x",
        title="Time to <acknowledge> & more",
        description="p50 and p90",
        labels=["Jan 26", "Feb 26", "Mar 26"],
        series=[svg.Series("p50", "metric-p50", [60.0, None, 300.0]), svg.Series("p90", "metric-p90", [90, 120, 600])],
    )

    root = ET.fromstring(str(markup))
    assert root.tag == f"{SVG_NS}svg"
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "chart-x-title chart-x-desc"
    assert root.find(f"{SVG_NS}title").text == "Time to <acknowledge> & more"
    assert root.find(f"{SVG_NS}desc").text == "p50 and p90"
    series = root.findall(f".//{SVG_NS}g[@class='chart-series metric-p50']")[0]
    assert len(series.findall(f"{SVG_NS}polyline")) == 2  # broken by the empty February
    assert len(series.findall(f"{SVG_NS}circle")) == 2
    labels = [t.text for t in root.iter(f"{SVG_NS}text")]
    assert {"Jan 26", "Feb 26", "Mar 26", "Month (UTC)", "Duration (minutes)"} <= set(labels)
    assert not [e for e in root.iter() if "style" in e.attrib]


def test_every_chart_on_the_page_parses_as_svg(dismissed, client, make_user):
    client.force_login(make_user(Role.LEADERSHIP))

    html = client.get("/metrics/", RANGE).content.decode()
    charts = re.findall(r"<svg\b.*?</svg>", html, flags=re.DOTALL)

    assert len(charts) == 10  # six incident metrics, four correction phases
    for chart in charts:
        root = ET.fromstring(chart)
        assert root.find(f"{SVG_NS}title") is not None and root.find(f"{SVG_NS}desc") is not None


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "—"), (45, "45 s"), (12 * MIN, "12 min"), (3.5 * HOUR, "3.5 h"), (2.1 * DAY, "2.1 d")]
)
def test_durations_read_as_people_say_them(seconds, text):
    assert svg.format_duration(seconds) == text


@pytest.mark.postgres
@pytest.mark.parametrize("role", [Role.LEADERSHIP, Role.RESPONDER])
def test_the_metric_rows_are_read_through_the_metrics_index_on_postgresql(role, make_user, registry):
    """A date range of incidents is found through an index (incident_metrics, which also holds every
    column the rows need, or the list's index on reported_at: the planner picks by its statistics),
    never a scan of the whole table."""
    user = make_user(role)
    _bulk_incidents(300, start=30000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE incidents_incident")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        rows, _ = selectors._rows(INCIDENT_GROUP, user, FILTERS)
        plan = rows.explain()

    assert "Seq Scan on incidents_incident" not in plan
    assert re.search(r"Index (Only )?Scan using (incident_metrics|incident_list_order) on incidents_incident", plan)
