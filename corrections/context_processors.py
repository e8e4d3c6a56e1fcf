"""The approvals count in the header, and the overdue break-glass banner, on every page.

Both are lazy and computed at most once per request: a page that never shows them costs nothing,
one that does costs a fixed number of queries (selectors prefetch what they need), and an
anonymous visitor costs none.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property

from accounts.models import User
from corrections import selectors
from corrections.models import Correction

_ATTR = "_failsafe_approval_inbox"


class ApprovalInbox:
    def __init__(self, user: User):
        self.user = user

    @cached_property
    def items(self) -> list[Correction]:
        """Corrections waiting for a decision this user could give (auditors decide nothing): requests
        to approve or ratify, then early lifts to approve."""
        if not self.user.can_write:
            return []
        return [*selectors.approvals_pending_for(user=self.user), *selectors.lifts_pending_for(user=self.user)]

    def matching(self, among: QuerySet[Correction]) -> list[Correction]:
        """The inbox narrowed by a filter over selectors.inbox_candidates_for, requests and lifts alike
        (the header still counts the whole inbox)."""
        if not self.user.can_write:
            return []
        return [
            *selectors.approvals_pending_for(user=self.user, among=among),
            *selectors.lifts_pending_for(user=self.user, among=among),
        ]

    @property
    def count(self) -> int:
        return len(self.items)

    @cached_property
    def overdue(self) -> list[Correction]:
        """Break-glass corrections whose ratification is overdue, that this user may see."""
        return list(selectors.ratification_overdue_for(user=self.user).order_by("ratification_due_at", "id"))


def inbox_for(request: HttpRequest) -> ApprovalInbox:
    """One per request, shared by the header and the inbox page."""
    inbox = getattr(request, _ATTR, None)
    if inbox is None:
        inbox = ApprovalInbox(request.user)
        setattr(request, _ATTR, inbox)
    return inbox


def approval_inbox(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"approval_inbox": inbox_for(request)}
