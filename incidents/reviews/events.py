"""The review's ledger verbs, each with the phrase the incident history tells it with.

One enumeration, registered with the ledger's vocabulary (accounts.events), so every verb is checked.
"""

from __future__ import annotations

from enum import StrEnum

from accounts.events import register_verbs


@register_verbs
class ReviewEvent(StrEnum):
    phrase: str

    def __new__(cls, value: str, phrase: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.phrase = phrase
        return member

    STARTED = "review.started", "started the post-incident review"
    DRAFT_SAVED = "review.draft_saved", "edited the review draft"
    APPROVED = "review.approved", "approved the review for publication"
    PUBLISHED = "review.published", "published the review"
    AMENDED = "review.amended", "started an amendment of the review"
    FOLLOW_UP_ADDED = "review.follow_up_added", "added a follow-up action"
    FOLLOW_UP_UPDATED = "review.follow_up_updated", "updated a follow-up action"
    FOLLOW_UP_REMOVED = "review.follow_up_removed", "removed a follow-up action"


def _versioned(event: ReviewEvent):
    def phrase(ledger_event) -> str:
        after = ledger_event.after if isinstance(ledger_event.after, dict) else {}
        version = after.get("version")
        return f"{event.phrase} (version {version})" if version else event.phrase

    return phrase


def _titled(event: ReviewEvent):
    def phrase(ledger_event) -> str:
        after = ledger_event.after if isinstance(ledger_event.after, dict) else {}
        before = ledger_event.before if isinstance(ledger_event.before, dict) else {}
        title = after.get("title") or before.get("title")
        return f"{event.phrase}: “{title}”" if title else event.phrase

    return phrase


def register() -> None:
    """Teach the incident history (incidents.audit) how to tell each event; called from ready()."""
    from incidents import audit

    for event in ReviewEvent:
        phrase = _titled(event) if "follow_up" in event.value else _versioned(event)
        audit.register_phrase(event.value, phrase)
