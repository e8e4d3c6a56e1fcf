"""Version 1 of each regime's rule (DESIGN §8; ../shared/reference/regulators.md). Effective dates
are each law's start in its own time zone. Later changes are new versions (admin or API), never edits."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import migrations

BRUSSELS, CALIFORNIA, NEW_YORK = (
    ZoneInfo("Europe/Brussels"),
    ZoneInfo("America/Los_Angeles"),
    ZoneInfo("America/New_York"),
)

RULES = [
    {
        "regime": "eu_ai_act_art73",
        "effective_from": datetime(2026, 8, 2, tzinfo=BRUSSELS),
        "starts_from": "aware",
        "deadlines": {
            "widespread_infringement": "P2D",
            "critical_infrastructure_disruption": "P2D",
            "death": "P10D",
            "default": "P15D",
        },
        "source": "Regulation (EU) 2024/1689 Art. 73(2)-(4) [V], https://eur-lex.europa.eu/eli/reg/2024/1689/oj. "
        "High-risk obligations as enacted apply from 2 Aug 2026; the Digital Omnibus reportedly moves Annex III "
        "to 2 Dec 2027 and Annex I to 2 Aug 2028 [S, unverified]: publish a new version once checked in the OJ.",
    },
    {
        "regime": "eu_gpai_code",
        "effective_from": datetime(2025, 8, 2, tzinfo=BRUSSELS),
        "starts_from": "model_involvement",
        "deadlines": {
            "critical_infrastructure_disruption": "P2D",
            "serious_cybersecurity_breach": "P5D",
            "death": "P10D",
            "default": "P15D",
        },
        "intermediate_every": "P28D",
        "final_after_resolution": "P60D",
        "source": "GPAI Code of Practice, Safety & Security chapter, Measure 9.3 [S]; AI Act Art. 55(1)(c) "
        "(no number of days) [V]. Intermediate reports at least every 4 weeks while unresolved, final within "
        "60 days of resolution [S]: check against the official PDF.",
    },
    {
        "regime": "ca_sb53",
        "effective_from": datetime(2026, 1, 1, tzinfo=CALIFORNIA),
        "starts_from": "discovered",
        "deadlines": {"imminent_risk_of_death_or_serious_injury": "PT24H", "default": "P15D"},
        "source": "Cal. Bus. & Prof. Code §22757.13 [V]: Cal OES within 15 days of discovery; imminent risk of "
        "death or serious physical injury: within 24 hours to an appropriate authority.",
    },
    {
        "regime": "ny_raise",
        "effective_from": datetime(2027, 1, 1, tzinfo=NEW_YORK),
        "starts_from": "determined",
        "deadlines": {"imminent_risk_of_death_or_serious_injury": "PT24H", "default": "PT72H"},
        "source": "N.Y. GBL §1422 as amended by S8828 [V]: within 72 hours of determining a safety incident; "
        "imminent risk: within 24 hours to law enforcement or public safety. In effect 1 Jan 2027.",
    },
]


def seed(apps, schema_editor):
    RuleVersion = apps.get_model("incidents", "RuleVersion")
    for rule in RULES:
        RuleVersion.objects.get_or_create(regime=rule["regime"], version=1, defaults=rule)


class Migration(migrations.Migration):
    dependencies = [("incidents", "0016_reporting")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
