"""One store for a person's Slack member id (SlackIdentity): ids saved on the preferences page move
there (unless the person has one, or another person holds that id), then the field goes. And the
Need a notification was sent with, for redacted webhook payloads."""

from django.db import migrations, models


def move_member_ids(apps, schema_editor):
    preference = apps.get_model("incidents", "NotificationPreference")
    identity = apps.get_model("incidents", "SlackIdentity")
    taken = set(identity.objects.values_list("member_id", flat=True))
    have = set(identity.objects.values_list("user_id", flat=True))
    for user_id, member_id in preference.objects.exclude(slack_member_id="").values_list("user_id", "slack_member_id"):
        if user_id in have or member_id in taken:
            continue
        identity.objects.create(user_id=user_id, member_id=member_id)
        taken.add(member_id)
        have.add(user_id)


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0017_seed_rule_versions"),
    ]

    operations = [
        migrations.RunPython(move_member_ids, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="notificationpreference",
            name="slack_member_id",
        ),
        migrations.AddField(
            model_name="notification",
            name="needs",
            field=models.CharField(blank=True, max_length=32),
        ),
    ]
