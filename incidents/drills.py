"""Drills are incidents marked `is_drill` (DESIGN §8a): they run the real sign-off and dispatch, but
nothing about them may pass for a real incident. This module is the one place that says how:

- every message about one carries DRILL_PREFIX in its subject (incidents.notifications.notify);
- metrics leave them out (incidents.metrics.selectors, through `real_incidents_q`);
- nothing meant for outsiders is made about one: the regulator bundle refuses it, and regulator
  reports and clocks, and customer notices when they exist, must ask `reaches_outsiders` first.

Drill runs, their reports and their schedule belong to corrections (corrections/drills/), which
reads the corrections they time.
"""

from __future__ import annotations

from django.db.models import Q

from incidents.models import Incident

DRILL_PREFIX = "[DRILL]"


def real_incidents_q(path: str = "") -> Q:
    """Rows that are (or belong to) a real incident; `path` names the foreign key to it, e.g. "incident"."""
    return Q(**{f"{path}__is_drill" if path else "is_drill": False})


def subject_for(incident: Incident | None, subject: str) -> str:
    """A message's subject, marked when it is about a drill (idempotent: never marked twice)."""
    if incident is None or not incident.is_drill or subject.startswith(DRILL_PREFIX):
        return subject
    return f"{DRILL_PREFIX} {subject}"


def reaches_outsiders(incident: Incident) -> bool:
    """Whether anything about this incident may go to regulators or customers (reports, clocks,
    bundles, customer notices). The hook every such writer calls: a drill never does."""
    return not incident.is_drill
