from django.db import migrations

WRITERS = ["responder", "incident_commander", "leadership", "admin"]
COMMANDERS_UP = ["incident_commander", "leadership", "admin"]

# DESIGN §3: the default approval policy of each tier.
DEFAULTS = {
    1: {"requester_roles": WRITERS, "requirements": []},
    2: {"requester_roles": WRITERS, "requirements": [{"roles": ["incident_commander", "leadership"], "count": 1}]},
    3: {
        "requester_roles": WRITERS,
        "requirements": [{"roles": ["leadership"], "count": 1}, {"roles": ["incident_commander"], "count": 1}],
    },
    4: {
        "requester_roles": COMMANDERS_UP,
        "requirements": [{"roles": ["leadership"], "count": 2}],
        "requires_second_factor": True,
        "requires_typed_confirmation": True,
    },
}


def create(apps, schema_editor):
    ApprovalPolicy = apps.get_model("corrections", "ApprovalPolicy")
    for tier, fields in DEFAULTS.items():
        ApprovalPolicy.objects.get_or_create(
            tier=tier,
            version=1,
            defaults={
                "is_current": True,
                "break_glass_roles": ["leadership"],
                "sev1_commander_may_break_glass": True,
                **fields,
            },
        )


def remove(apps, schema_editor):
    apps.get_model("corrections", "ApprovalPolicy").objects.filter(version=1).delete()


class Migration(migrations.Migration):
    dependencies = [("corrections", "0001_initial")]
    operations = [migrations.RunPython(create, remove)]
