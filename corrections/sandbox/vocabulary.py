"""The words of the correction catalogue, as the gateway needs them without Django.

These mirror corrections/catalogue.py (a test keeps the two equal): the gateway validates the
parameters it receives exactly as Failsafe validated them before sending.
"""

from __future__ import annotations

CORRECTION_TYPES = (
    "block_accounts",
    "restrict_access_tier",
    "rate_limit",
    "disable_capability",
    "tighten_safeguard",
    "restrict_use_case",
    "rollback_model",
    "pause_deployment",
    "withdraw_model",
    "destroy_weights",
)
# Acts on every deployment of a model rather than on one deployment.
MODEL_WIDE_TYPES = frozenset({"withdraw_model", "destroy_weights"})
# Recorded and confirmed by hand in Failsafe; an actuator refuses it.
NEVER_DISPATCHED = frozenset({"destroy_weights"})

CAPABILITIES = frozenset(
    {"tool_use", "browsing", "code_execution", "fine_tuning", "long_context", "image_input", "audio"}
)
SAFEGUARDS = frozenset({"cbrn_classifier", "cyber_classifier", "jailbreak_detector", "csam_filter", "self_harm_filter"})
SAFEGUARD_SETTINGS = frozenset({"standard", "strict", "maximum", "block"})
USE_CASES = frozenset(
    {
        "bio_research",
        "chem_synthesis",
        "exploit_development",
        "autonomous_agents",
        "persuasion_at_scale",
        "surveillance",
    }
)
ACCESS_TIERS = frozenset({"free", "standard", "verified", "enterprise"})
RATE_LIMIT_SCOPES = frozenset({"account", "tier", "deployment"})
MAX_REQUESTS_PER_MINUTE = 1_000_000

# Safeguard settings at which the toy edge refuses a flagged prompt outright.
BLOCKING_SETTINGS = frozenset({"block", "maximum"})
# A deliberately tiny keyword list per safeguard: enough to show a tightened filter biting.
FLAGGED_WORDS: dict[str, tuple[str, ...]] = {
    "cbrn_classifier": ("nerve agent", "sarin", "anthrax", "pathogen", "enrich uranium"),
    "cyber_classifier": ("ransomware", "keylogger", "botnet", "zero-day exploit"),
    "jailbreak_detector": ("ignore previous instructions", "jailbreak", "dan mode"),
    "csam_filter": ("csam",),
    "self_harm_filter": ("self-harm", "suicide method"),
}
