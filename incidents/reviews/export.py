"""The review as Markdown: a download that stands on its own (what the printable page shows)."""

from __future__ import annotations

from django.http import HttpResponse

from incidents.models.reviews import FollowUpStatus, Review, ReviewVersion
from incidents.reviews.selectors import is_overdue


def _block(text: str) -> str:
    return text.strip() or "_Nothing written._"


def review_markdown(review: Review, version: ReviewVersion) -> str:
    incident = review.incident
    state = (
        f"Version {version.number}, published {version.published_at:%Y-%m-%d %H:%M} UTC by "
        f"{version.published_by.username if version.published_by else '—'}"
        if version.is_published
        else f"Version {version.number}, DRAFT (not published)"
    )
    lines = [
        f"# Post-incident review: {incident.ref} {incident.title}",
        "",
        f"- Severity: {incident.severity}",
        f"- Status: {incident.get_status_display()}",
        f"- {state}",
        f"- Content hash: `{version.content_hash}`",
    ]
    if version.amendment_reason:
        lines.append(f"- Amends version {version.number - 1}: {version.amendment_reason}")
    approvals = [a for a in version.approvals.all() if a.voided_at is None and a.content_hash == version.content_hash]
    if approvals:
        lines.append("- Approved by: " + ", ".join(a.approver.username for a in approvals))
    for _, label, text in version.sections():
        lines += ["", f"## {label}", "", _block(text)]
    lines += ["", "## Timeline excerpt", ""]
    if version.timeline_excerpt:
        lines += [
            f"- {item['at'][:16].replace('T', ' ')} UTC, {item['actor']}: {item['text']}"
            for item in version.timeline_excerpt
        ]
    else:
        lines.append("_No timeline items picked._")
    lines += ["", "## Follow-up actions", ""]
    if version.is_published:
        actions = [(a["title"], a["owner"], a["due_date"], a["status"], False) for a in version.follow_ups_snapshot]
        note = "As they stood when this version was published."
    else:
        actions = [
            (a.title, a.owner.username, a.due_date.isoformat(), a.status, is_overdue(a))
            for a in review.follow_ups.all()
        ]
        note = ""
    if actions:
        if note:
            lines += [f"_{note}_", ""]
        lines += ["| Action | Owner | Due | Status |", "|---|---|---|---|"]
        for title, owner, due, status, overdue in actions:
            label = FollowUpStatus(status).label if status in FollowUpStatus.values else status
            cell = title.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {cell} | {owner} | {due} | {label}{' (overdue)' if overdue else ''} |")
    else:
        lines.append("_None._")
    return "\n".join(lines) + "\n"


def latest_version(review: Review) -> ReviewVersion:
    """What an export shows by default: the latest published version, or the draft if none is."""
    versions = list(review.versions.all())
    published = [v for v in versions if v.is_published]
    return published[-1] if published else versions[-1]


def markdown_response(review: Review, version: ReviewVersion) -> HttpResponse:
    response = HttpResponse(review_markdown(review, version), content_type="text/markdown; charset=utf-8")
    name = f"{review.incident.ref}-review-v{version.number}.md"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
