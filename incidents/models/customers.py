"""Customer organisations, their agreements and contacts (issue 13 §5; DESIGN §8).

An organisation holds accounts (CustomerAccount.organisation) and uses deployments. Its agreements
say which correction types it accepted and the notice each needs ("terms"); the checks against a
correction live in corrections.customers (incidents never imports corrections). Written only by
incidents.customers.services, which validates and ledgers every change.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Timing(models.TextChoices):
    BEFORE = "before", "Before the correction starts"
    AFTER = "after", "After the correction starts"


class CustomerOrganisation(models.Model):
    slug = models.SlugField(max_length=64, unique=True, help_text="e.g. acme-health")
    name = models.CharField(max_length=200)
    deployments = models.ManyToManyField("incidents.Deployment", related_name="customers", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Agreement(models.Model):
    """What one organisation agreed to, from `effective_from` (until `effective_until`, when set).

    `terms` is a list of {"type": <correction type>, "timing": "before"|"after", "minutes": N}: a type
    not listed was never accepted. Agreements of one organisation never overlap (the service refuses).
    """

    organisation = models.ForeignKey(CustomerOrganisation, on_delete=models.PROTECT, related_name="agreements")
    reference = models.CharField(max_length=100, blank=True, help_text="The contract's own reference.")
    terms = models.JSONField(default=list)
    effective_from = models.DateField()
    effective_until = models.DateField(null=True, blank=True, help_text="Last day in effect; blank: open-ended.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organisation_id", "-effective_from", "-id"]

    def __str__(self) -> str:
        return f"{self.organisation_id} from {self.effective_from}"

    def term_for(self, correction_type: str) -> dict | None:
        return next((t for t in self.terms if isinstance(t, dict) and t.get("type") == correction_type), None)


class Contact(models.Model):
    """Who at the organisation is told; not a Failsafe user (mailed through notify's `to=`)."""

    organisation = models.ForeignKey(CustomerOrganisation, on_delete=models.PROTECT, related_name="contacts")
    name = models.CharField(max_length=200)
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=100, blank=True, help_text="e.g. CTO, trust & safety lead")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["organisation_id", "name", "id"]
        constraints = [models.UniqueConstraint(fields=["organisation", "email"], name="contact_email_per_org")]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"
