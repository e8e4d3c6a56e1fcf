"""The shared page pieces: `{% when %}` for every moment shown, one home for form partials, and the
correction page's action panels drawn by one partial that still opens the right one."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template
from django.template.loader import get_template
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from corrections import services
from corrections.models import Correction, State

TEMPLATES_DIR = Path(settings.BASE_DIR) / "templates"
TEMPLATES = sorted(TEMPLATES_DIR.rglob("*.html"))
MOMENT = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)


def render(source: str, **context) -> str:
    return Template("{% load failsafe %}" + source).render(Context(context))


# --- {% when %} ------------------------------------------------------------------------------------


def test_when_gives_machine_time_the_full_time_on_hover_and_the_chosen_format():
    html = render("{% when at %}", at=MOMENT)
    assert html == (
        '<time datetime="2026-03-04T05:06:07.890000+00:00" title="4 Mar 2026, 05:06:07 UTC">4 Mar 2026, 05:06</time>'
    )


def test_when_takes_a_format_a_utc_suffix_and_a_class():
    html = render('{% when at "H:i:s" utc=True css="muted" %}', at=MOMENT)
    assert html == (
        '<time class="muted" datetime="2026-03-04T05:06:07.890000+00:00" title="4 Mar 2026, 05:06:07 UTC">'
        "05:06:07 UTC</time>"
    )


def test_when_ago_says_how_long_ago_and_keeps_the_moment_on_hover():
    at = timezone.now() - timedelta(hours=3, minutes=1)
    html = render('{% when at "ago" %}', at=at)
    assert ">3\xa0hours, 1\xa0minute ago</time>" in html
    assert f'datetime="{at.isoformat()}"' in html
    assert f'title="{at:%-d %b %Y, %H:%M:%S} UTC"' in html


def test_when_shows_the_moment_in_the_current_time_zone():
    with timezone.override("Europe/Paris"):
        html = render("{% when at %}", at=MOMENT)
    assert 'datetime="2026-03-04T06:06:07.890000+01:00"' in html and ">4 Mar 2026, 06:06</time>" in html


def test_when_renders_nothing_for_a_missing_moment():
    assert render("[{% when at %}]", at=None) == "[]"


def test_when_reads_a_day_as_a_day_and_iso_text_as_its_moment():
    from datetime import date

    assert (
        render("{% when day %}", day=date(2026, 12, 1))
        == '<time datetime="2026-12-01" title="1 Dec 2026">1 Dec 2026</time>'
    )
    html = render('{% when at "Y-m-d H:i" utc=True %}', at="2026-01-31T12:00:00.000000Z")
    assert html.startswith('<time datetime="2026-01-31T12:00:00+00:00"') and html.endswith(
        ">2026-01-31 12:00 UTC</time>"
    )
    assert render("[{% when at %}]", at="not a time") == "[]"


def test_when_escapes_the_class_it_is_given():
    html = render("{% when at css=cls %}", at=MOMENT, cls='x" onclick="alert(1)')
    assert html.startswith('<time class="x&quot; onclick=&quot;alert(1)" datetime=')


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(TEMPLATES_DIR)))
def test_no_template_writes_time_markup_by_hand(template):
    """Every moment goes through {% when %}, so each carries its machine time and its full time."""
    assert "<time" not in template.read_text(), "use {% when value %} (incidents/templatetags/failsafe.py)"


# --- one home for the partials ----------------------------------------------------------------------

INCLUDE = re.compile(r"""\{%\s*include\s+["']([^"']+)["']""")


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(TEMPLATES_DIR)))
def test_every_included_template_exists(template):
    """A branch that still includes a partial from its old place fails here, not as a 500 on one page."""
    for name in INCLUDE.findall(template.read_text()):
        get_template(name)


def test_the_shared_partials_live_only_in_templates_partials():
    moved = ("incidents/_field.html", "incidents/_form_errors.html", "incidents/_pagination.html")
    assert not [name for name in moved if (TEMPLATES_DIR / name).exists()]
    for template in TEMPLATES:
        assert not any(name in template.read_text() for name in moved), template


# --- the correction page's action panels ------------------------------------------------------------


@pytest.fixture
def correction(make_incident, people, actor_for):
    incident = make_incident(by=people["responder"], severity="SEV1")
    return services.correction_request(
        actor=actor_for(people["responder"]), incident=incident, type="pause_deployment",
        deployment="atlas-chat", params={}, rationale="Under way.",
    )  # fmt: skip


def _panel(page: str, name: str) -> str:
    match = re.search(rf'<details id="act-{name}"[^>]*>.*?</details>', page, re.DOTALL)
    assert match, f"no act-{name} panel"
    return match.group(0)


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def people(make_user):
    from accounts.roles import Role

    return {"responder": make_user(Role.RESPONDER), "commander": make_user(Role.INCIDENT_COMMANDER)}


def test_refused_action_comes_back_open_with_its_errors_and_the_others_closed(people, correction):
    page = _signed_in(people["commander"])
    response = page.post(reverse("correction-reject", args=[correction.pk]), {"reject-comment": ""})
    assert response.status_code == 400
    html = response.content.decode()
    reject, cancel = _panel(html, "reject"), _panel(html, "cancel")
    assert reject.startswith('<details id="act-reject" class="action" open>')
    assert "Say why you reject it." in reject and 'class="form-errors" role="alert"' in reject
    assert f'action="{reverse("correction-reject", args=[correction.pk])}#act-reject" novalidate' in reject
    assert cancel.startswith('<details id="act-cancel" class="action">') and "form-errors" not in cancel


def test_active_correction_opens_lift_and_a_failed_one_opens_retry_naming_what_it_repeats(people, correction):
    page = _signed_in(people["commander"])
    Correction.objects.filter(pk=correction.pk).update(state=State.ACTIVE)
    lift = _panel(page.get(reverse("correction-detail", args=[correction.pk])).content.decode(), "lift")
    assert lift.startswith('<details id="act-lift" class="action" open>') and ">Lift…</button>" in lift

    Correction.objects.filter(pk=correction.pk).update(state=State.FAILED, failed_action="lift")
    retry = _panel(page.get(reverse("correction-detail", args=[correction.pk])).content.decode(), "retry")
    assert retry.startswith('<details id="act-retry" class="action" open>')
    assert "Sends the lift back to the worker." in retry and ">Retry lift</button>" in retry


def test_incident_page_actions_keep_the_browser_checks(make_incident, make_user):
    from accounts.roles import Role

    commander = make_user(Role.INCIDENT_COMMANDER)
    incident = make_incident(by=commander)
    html = _signed_in(commander).get(reverse("incident-detail", args=[incident.ref])).content.decode()
    for name in ("escalate", "status", "details", "assign"):
        panel = _panel(html, name)
        assert "novalidate" not in panel, name
        assert 'class="errorlist"' not in panel and "<label" in panel, name
