"""What each regime's report asks, as data (DESIGN §8, /shared/reference/regulators.md): one
template per regime, a list of fields, from which the JSON Schema that validates a report's
fields is built. A draft is checked against the shapes (types, lengths, choices) on every save;
a submission also against what the regime requires.

Every template starts with the facts pre-filled from the incident (COMMON); the regime's own
fields follow. The field lists follow regulators.md, which marks how sure each fact is: the
Art. 73 template is a draft of the Commission's [U], so its fields are those the Article itself
implies. Bump SCHEMA_VERSION when a template changes: every submitted record names the version
it was checked against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from incidents.models.reports import Regime, ReportKind

SCHEMA_VERSION = "2026-11-30"
TEXT_MAX = 20000
LINE_MAX = 500
LIST_MAX = 500


@dataclass(frozen=True)
class Field:
    """One field of a report. `type`: text (one line), long (paragraphs), datetime, choice, bool,
    list (of lines), or records (a list of objects pre-filled from the incident, shown read-only
    on the page and refreshed from the incident on request)."""

    name: str
    label: str
    type: str = "long"
    required: bool = False
    # Required only in these kinds (e.g. the code's root-cause analysis in the final report).
    required_in: tuple[str, ...] = ()
    help: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    max_length: int = TEXT_MAX

    def required_for(self, kind: str) -> bool:
        return self.required or kind in self.required_in


@dataclass(frozen=True)
class Template:
    regime: str
    title: str
    regulator: str
    basis: str
    fields: tuple[Field, ...] = field(default_factory=tuple)

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


_CORRECTION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "target", "state"],
    "properties": {
        "id": {"type": "integer"},
        "type": {"type": "string", "maxLength": 64},
        "target": {"type": "string", "maxLength": LINE_MAX},
        "state": {"type": "string", "maxLength": 32},
        "requested_at": {"type": ["string", "null"], "format": "date-time"},
        "approved_at": {"type": ["string", "null"], "format": "date-time"},
        "activated_at": {"type": ["string", "null"], "format": "date-time"},
        "lifted_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
_DECISION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["at", "actor", "text"],
    "properties": {
        "at": {"type": "string", "format": "date-time"},
        "actor": {"type": "string", "maxLength": 200},
        "text": {"type": "string", "maxLength": TEXT_MAX},
        "kind": {"type": "string", "enum": ["event", "decision"]},
    },
}
RECORD_SCHEMAS = {"corrections": _CORRECTION, "decisions": _DECISION}

COMMON = (
    Field("title", "Title", "text", required=True, max_length=200),
    Field("description", "Description", required=True, help="What happened, in plain words."),
    Field("models", "Models", "list", help="One per line: the models involved."),
    Field("deployments", "Deployments", "list", help="One per line: the deployments involved."),
    Field("occurred_at", "Occurred", "datetime"),
    Field("detected_at", "Detected", "datetime"),
    Field("reported_at", "Reported internally", "datetime"),
    Field("contained_at", "Contained", "datetime"),
    Field("resolved_at", "Resolved", "datetime"),
    Field("corrections", "Corrections taken", "records", help="From the incident: each correction, its state, times."),
    Field("decisions", "Decisions timeline", "records", help="From the incident's ledger and its recorded decisions."),
    Field("submitter_contact", "Submitter and contact", "text", required=True, max_length=LINE_MAX,
          help="Who files this for the developer, and how the regulator reaches them."),
)  # fmt: skip

_LIMBS_349 = (
    ("a_death_or_health", "3(49)(a) death, or serious harm to a person's health"),
    ("b_critical_infrastructure", "3(49)(b) serious, irreversible disruption of critical infrastructure"),
    ("c_fundamental_rights", "3(49)(c) infringement of fundamental-rights obligations"),
    ("d_property_or_environment", "3(49)(d) serious harm to property or the environment"),
)
_CSI_LIMBS = (
    ("weights_access_injury", "Unauthorised access to or exfiltration of weights causing death or bodily injury"),
    ("catastrophic_risk", "Harm from a catastrophic risk materialising"),
    ("loss_of_control_injury", "Loss of control causing death or bodily injury"),
    ("deceptive_subversion", "Deceptive techniques against the developer, outside an evaluation"),
)
_CSI_FIELDS = (
    Field("csi_date", "Date of the critical safety incident", "datetime", required=True),
    Field("csi_limb", "Which limb of the definition applies", "choice", required=True, choices=_CSI_LIMBS),
    Field("why_qualifies", "Why it qualifies as a critical safety incident", required=True),
    Field("short_description", "Short, plain description", required=True, max_length=2000),
    Field("internal_use", "Linked to internal use of a frontier model", "bool", required=True),
)

TEMPLATES: dict[str, Template] = {
    Regime.EU_AI_ACT_ART73: Template(
        Regime.EU_AI_ACT_ART73,
        "Serious incident report (AI Act Art. 73)",
        "Market surveillance authority of each Member State where it occurred",
        "Regulation (EU) 2024/1689 Art. 73 and Art. 3(49); fields implied by the Article (the "
        "Commission's template is a draft).",
        (
            *COMMON,
            Field("provider", "Provider", "text", required=True, max_length=LINE_MAX),
            Field("ai_system", "AI system", "text", required=True, max_length=LINE_MAX),
            Field("member_states", "Member States where it occurred", "list", required=True),
            Field("aware_at", "Provider became aware", "datetime", required=True),
            Field(
                "causal_link",
                "Causal link",
                "choice",
                required=True,
                choices=(("established", "Established"), ("suspected", "Suspected (reasonable likelihood)")),
            ),
            Field("causal_link_at", "Causal link established or suspected", "datetime", required=True),
            Field("limb", "Which limb of Art. 3(49) applies", "choice", required=True, choices=_LIMBS_349),
            Field("death", "A person died", "bool"),
            Field("widespread_infringement", "Widespread infringement", "bool"),
            Field("harm", "Harm", required=True),
            Field("immediate_measures", "Immediate measures", required=True),
            Field("corrective_action", "Corrective action", required_in=(ReportKind.FINAL,)),
            Field("investigation", "Investigation and risk assessment", required_in=(ReportKind.FINAL,)),
        ),
    ),  # fmt: skip
    Regime.EU_GPAI_CODE: Template(
        Regime.EU_GPAI_CODE,
        "Serious incident report (GPAI code of practice, Measure 9.2)",
        "EU AI Office (and national competent authorities where appropriate)",
        "AI Act Art. 55(1)(c); Code of Practice, Safety & Security chapter, Commitment 9.",
        (
            *COMMON,
            Field(
                "incident_type",
                "Incident type",
                "choice",
                required=True,
                choices=(
                    ("critical_infrastructure", "Critical-infrastructure disruption (2 days)"),
                    ("cybersecurity_breach", "Serious cybersecurity breach incl. weight exfiltration (5 days)"),
                    ("death", "Death of a person (10 days)"),
                    ("other_serious_harm", "Other serious harm (15 days)"),
                ),
            ),
            Field("aware_of_involvement_at", "Became aware of the model's involvement", "datetime", required=True),
            Field("start_date", "Start (or best estimate)", "datetime", required=True),
            Field("end_date", "End (or best estimate)", "datetime"),
            Field("harm_and_affected", "Resulting harm and the affected people or groups", required=True),
            Field("chain_of_events", "Chain of events", required=True),
            Field("model_involved", "Model involved", "text", required=True, max_length=LINE_MAX),
            Field("evidence_of_involvement", "Evidence of the model's involvement", required=True),
            Field("actions", "What we have done or intend to do", required=True),
            Field("recommendations", "What we recommend the AI Office or authorities do", required=True),
            Field(
                "root_cause_analysis",
                "Root-cause analysis",
                required_in=(ReportKind.FINAL,),
                help="Contributing outputs and inputs, mitigations that failed or were circumvented, "
                "post-market-monitoring patterns (near misses, anomaly trends).",
            ),
            Field("redactions", "Redactions made for data protection"),
        ),
    ),  # fmt: skip
    Regime.CA_SB53: Template(
        Regime.CA_SB53,
        "Critical safety incident report (SB 53)",
        "California Office of Emergency Services",
        "Bus. & Prof. Code §22757.13; definition §22757.11(d).",
        (
            *COMMON,
            *_CSI_FIELDS,
            Field("discovered_at", "Discovered", "datetime", required=True),
            Field("imminent_risk", "Imminent risk of death or serious physical injury (24 h path)", "bool"),
        ),
    ),  # fmt: skip
    Regime.NY_RAISE: Template(
        Regime.NY_RAISE,
        "Safety incident report (RAISE Act)",
        "New York DFS office",
        "GBL Article 44-B §1422 (as amended by S8828).",
        (
            *COMMON,
            *_CSI_FIELDS,
            Field("determined_at", "Determined (or reasonable belief formed)", "datetime", required=True),
            Field(
                "law_enforcement_disclosure",
                "Disclosure to law enforcement or public safety (24 h path)",
                help="Which authority was told, and when, for an imminent risk of death or serious injury.",
            ),
        ),
    ),  # fmt: skip
}


def template_for(regime: str) -> Template:
    return TEMPLATES[regime]


def _shape(f: Field) -> dict[str, Any]:
    if f.type in ("text", "long"):
        return {"type": "string", "maxLength": f.max_length}
    if f.type == "datetime":
        return {"type": ["string", "null"], "format": "date-time"}
    if f.type == "choice":
        return {"enum": ["", *(value for value, _ in f.choices)]}
    if f.type == "bool":
        return {"type": ["boolean", "null"]}
    if f.type == "list":
        return {"type": "array", "maxItems": LIST_MAX, "items": {"type": "string", "maxLength": LINE_MAX}}
    if f.type == "records":
        return {"type": "array", "maxItems": LIST_MAX, "items": RECORD_SCHEMAS[f.name]}
    raise ValueError(f"unknown field type {f.type!r}")


def _present(f: Field) -> dict[str, Any]:
    """What `required` adds: JSON Schema's own `required` only asks for the key; an empty value is absent too."""
    if f.type in ("text", "long"):
        return {"type": "string", "minLength": 1, "pattern": r"\S"}
    if f.type == "datetime":
        return {"type": "string"}
    if f.type == "choice":
        return {"minLength": 1}
    if f.type == "bool":
        return {"type": "boolean"}
    return {"type": "array", "minItems": 1}


def json_schema(regime: str, *, kind: str | None = None) -> dict[str, Any]:
    """The JSON Schema (2020-12) of a regime's fields: the shapes only (a draft), or with what a
    submission of `kind` must fill in."""
    template = template_for(regime)
    properties = {}
    required = []
    for f in template.fields:
        shape = {"title": f.label, **_shape(f)}
        if f.help:
            shape["description"] = f.help
        if kind is not None and f.required_for(kind):
            shape = {"allOf": [shape, _present(f)], "title": f.label}
            required.append(f.name)
        properties[f.name] = shape
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"failsafe:report:{regime}:{SCHEMA_VERSION}",
        "title": template.title,
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "required": required,
    }
