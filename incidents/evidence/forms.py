"""The evidence upload form: it parses input only; every rule is incidents.evidence.services."""

from __future__ import annotations

from django import forms

from config.forms import OneShotForm
from incidents.evidence.services import DESCRIPTION_MAX


class EvidenceUploadForm(OneShotForm):
    file = forms.FileField(
        label="File",
        help_text="A screenshot (PNG, JPEG, GIF, WebP), a PDF, or a text log or transcript (UTF-8 text, JSON, CSV).",
        error_messages={"required": "Choose a file to upload.", "empty": "This file is empty."},
        allow_empty_file=True,  # the service says "empty" in its own words, beside the other refusals
    )
    description = forms.CharField(
        label="Description",
        required=False,
        max_length=DESCRIPTION_MAX,
        help_text="What it shows and where it came from.",
    )
