"""Shapes of the reviews API: input serializers check types and lengths only; every rule (who
may, in which state, which hash) lives in incidents.reviews.services."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from config.strict import StrictSerializer, TextField
from incidents.models.reviews import (
    SECTION_MAX,
    SECTIONS,
    FollowUpAction,
    FollowUpStatus,
    Review,
    ReviewApproval,
    ReviewVersion,
)
from incidents.reviews import selectors

HASH_HELP = "The `content_hash` of the draft as you read it (from GET …/review/); a mismatch is 409."


def _owner_field(**kwargs) -> TextField:
    return TextField(max_length=150, help_text="Username of the person who owns the action.", **kwargs)


class _OwnerLookup:
    """`owner` arrives as a username, checked as text (length, no NUL) first, then looked up."""

    def validate_owner(self, username: str) -> User:
        owner = User.objects.filter(username=username, is_active=True).first()
        if owner is None:
            raise serializers.ValidationError(f"No active user {username!r}.")
        return owner


class ReviewDraftSerializer(StrictSerializer):
    """Any of the sections, and the timeline excerpt as the keys of picked timeline items."""

    summary = TextField(max_length=SECTION_MAX, allow_blank=True, required=False)
    impact = TextField(max_length=SECTION_MAX, allow_blank=True, required=False)
    root_cause = TextField(max_length=SECTION_MAX, allow_blank=True, required=False)
    contributing_causes = TextField(max_length=SECTION_MAX, allow_blank=True, required=False)
    went_well = TextField(max_length=SECTION_MAX, allow_blank=True, required=False)
    went_badly = TextField(max_length=SECTION_MAX, allow_blank=True, required=False)
    lessons = TextField(max_length=SECTION_MAX, allow_blank=True, required=False)
    timeline_excerpt = serializers.ListField(
        child=TextField(max_length=40),
        max_length=200,
        required=False,
        help_text='Timeline items to quote, as "event:<ledger seq>" or "entry:<timeline entry id>" '
        "(see `excerpt_choices`). Replaces the whole excerpt.",
    )
    content_hash = TextField(max_length=64, required=False, allow_blank=True, default="", help_text=HASH_HELP)


class ReviewHashSerializer(StrictSerializer):
    content_hash = TextField(max_length=64, help_text=HASH_HELP)


class ReviewApproveSerializer(ReviewHashSerializer):
    comment = TextField(max_length=2000, required=False, allow_blank=True, default="")


class ReviewAmendSerializer(StrictSerializer):
    reason = TextField(max_length=2000, help_text="Why the published review is amended.")


class ExcerptItemSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["event", "entry"])
    id = serializers.IntegerField()
    at = serializers.CharField()
    actor = serializers.CharField()
    text = serializers.CharField()


class ReviewApprovalSerializer(serializers.ModelSerializer):
    approver = serializers.CharField(source="approver.username")
    voided = serializers.SerializerMethodField()

    class Meta:
        model = ReviewApproval
        fields = ["approver", "content_hash", "comment", "created_at", "voided", "voided_at"]

    def get_voided(self, approval) -> bool:
        return approval.voided_at is not None


class FollowUpSnapshotSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    owner = serializers.CharField()
    due_date = serializers.DateField()
    status = serializers.ChoiceField(choices=FollowUpStatus.choices)


class DiffLineSerializer(serializers.Serializer):
    field = serializers.CharField()
    change = serializers.CharField()
    before = serializers.CharField()
    after = serializers.CharField()


class ReviewVersionSerializer(serializers.ModelSerializer):
    state = serializers.SerializerMethodField()
    timeline_excerpt = ExcerptItemSerializer(many=True)
    created_by = serializers.CharField(source="created_by.username")
    published_by = serializers.CharField(source="published_by.username", allow_null=True, default=None)
    editors = serializers.SerializerMethodField()
    approvals = ReviewApprovalSerializer(many=True)
    follow_ups_snapshot = FollowUpSnapshotSerializer(many=True, help_text="The follow-ups when it was published.")
    changes = serializers.SerializerMethodField(help_text="What changed from the previous version.")

    class Meta:
        model = ReviewVersion
        fields = [
            "number", "state", *[name for name, _ in SECTIONS], "timeline_excerpt", "content_hash",
            "amendment_reason", "editors", "approvals", "created_by", "created_at", "updated_at",
            "published_at", "published_by", "follow_ups_snapshot", "changes",
        ]  # fmt: skip

    def get_state(self, version) -> str:
        return "published" if version.is_published else "draft"

    def get_editors(self, version) -> list[str]:
        return sorted(user.username for user in version.editors.all())

    @extend_schema_field(DiffLineSerializer(many=True))
    def get_changes(self, version):
        previous = self.context.get("previous", {}).get(version.number)
        lines = selectors.version_diff(previous, version)
        return [{"field": d.field, "change": d.change, "before": d.before, "after": d.after} for d in lines]


class FollowUpSerializer(serializers.ModelSerializer):
    incident = serializers.CharField(source="review.incident.ref")
    owner = serializers.CharField(source="owner.username")
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = FollowUpAction
        fields = ["id", "incident", "title", "owner", "due_date", "status", "overdue", "published", "updated_at"]

    def get_overdue(self, action) -> bool:
        return selectors.is_overdue(action)


class ReviewSerializer(serializers.ModelSerializer):
    incident = serializers.CharField(source="incident.ref")
    published = serializers.SerializerMethodField()
    versions = serializers.SerializerMethodField()
    follow_ups = serializers.SerializerMethodField()

    class Meta:
        model = Review
        fields = ["incident", "published", "created_at", "versions", "follow_ups"]

    def get_published(self, review) -> bool:
        return any(v.is_published for v in review.versions.all())

    @extend_schema_field(ReviewVersionSerializer(many=True))
    def get_versions(self, review):
        versions = list(review.versions.all())
        previous = {v.number: versions[i - 1] if i else None for i, v in enumerate(versions)}
        return ReviewVersionSerializer(versions, many=True, context={"previous": previous}).data

    @extend_schema_field(FollowUpSerializer(many=True))
    def get_follow_ups(self, review):
        if "follow_ups" not in getattr(review, "_prefetched_objects_cache", {}):
            return []  # the list leaves them out; GET …/review/ and /follow-ups/ have them
        for action in review.follow_ups.all():
            action.review = review  # the incident ref without a query per action
        return FollowUpSerializer(review.follow_ups.all(), many=True).data


class ExcerptChoiceSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="What to send in `timeline_excerpt`.")
    at = serializers.DateTimeField()
    actor = serializers.CharField()
    text = serializers.CharField()


class ReviewDetailSerializer(ReviewSerializer):
    excerpt_choices = serializers.SerializerMethodField()

    class Meta(ReviewSerializer.Meta):
        fields = [*ReviewSerializer.Meta.fields, "excerpt_choices"]

    @extend_schema_field(ExcerptChoiceSerializer(many=True))
    def get_excerpt_choices(self, review):
        return ExcerptChoiceSerializer(selectors.excerpt_choices(incident=review.incident), many=True).data


class FollowUpCreateSerializer(_OwnerLookup, StrictSerializer):
    title = TextField(max_length=200)
    owner = _owner_field()
    due_date = serializers.DateField()


class FollowUpUpdateSerializer(_OwnerLookup, StrictSerializer):
    title = TextField(max_length=200, required=False)
    owner = _owner_field(required=False)
    due_date = serializers.DateField(required=False)
    status = serializers.ChoiceField(choices=FollowUpStatus.choices, required=False)


class FollowUpFilterSerializer(serializers.Serializer):
    owner = TextField(
        max_length=150, required=False, allow_blank=True, help_text="`me`, or a username: actions owned by them."
    )
    overdue = serializers.BooleanField(
        required=False, default=False, help_text="Only open actions past their due date."
    )
    status = serializers.ChoiceField(choices=FollowUpStatus.choices, required=False, allow_blank=True)
    incident = TextField(max_length=20, required=False, allow_blank=True, help_text="An incident ref.")
