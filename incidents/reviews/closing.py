"""An incident is not closed before its post-incident review is published (DESIGN §4), unless a
commander records a reasoned exception: the review's blocker, registered with incidents.closing."""

from __future__ import annotations

from django.urls import reverse

from incidents.closing import Blocker, register_blocker
from incidents.models import Incident, Status
from incidents.reviews.selectors import review_published


def _unpublished(incident: Incident) -> list[Blocker]:
    if review_published(incident):
        return []
    return [Blocker("No post-incident review has been published.", url=reverse("review-detail", args=[incident.ref]))]


def register() -> None:
    register_blocker(
        "review", _unpublished, title="Post-incident review unpublished", blocks=(Status.CLOSED,), overridable=True
    )
