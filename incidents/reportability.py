"""Whether an incident is known not to be reportable to any regulator: the question the evidence
gate asks before a rollback, a capability restriction or a shutdown (DESIGN §8, issue 13 §4).

The answer belongs to the reportability assessments (incidents/reporting/). This module only
holds the hook, so the gate works before they exist and never imports them: they register the
function that answers, from their AppConfig.ready():

    reportability.register(lambda incident: <every regime assessed "does not apply">)

With nothing registered the answer is False: an incident is possibly reportable until someone
has decided it is not, so the gate asks.
"""

from __future__ import annotations

from collections.abc import Callable

from incidents.models import Incident

_ANSWER: list[Callable[[Incident], bool]] = []


def register(answer: Callable[[Incident], bool]) -> None:
    """Install the function that says an incident's reportability is "no" (replaces any earlier one)."""
    _ANSWER[:] = [answer]


def reportability_is_no(incident: Incident) -> bool:
    """True only when the incident has been assessed as reportable under no regime."""
    return bool(_ANSWER) and bool(_ANSWER[0](incident))
