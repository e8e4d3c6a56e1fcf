"""The ledger moves to accounts, the lowest app every other app may import (issue 9: one-way layers).

State only: the tables, their indexes and the append-only trigger (incidents 0003) stay exactly as
they are, under their first names.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_idempotency"),
        ("incidents", "0005_signal_open"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="LedgerHead",
                    fields=[
                        ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                        ("seq", models.BigIntegerField(default=0)),
                        ("hash", models.CharField(default="0" * 64, max_length=64)),
                    ],
                    options={"db_table": "incidents_ledgerhead"},
                ),
                migrations.CreateModel(
                    name="LedgerEvent",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("seq", models.BigIntegerField(unique=True)),
                        ("at", models.DateTimeField()),
                        ("actor_type", models.CharField(max_length=16)),
                        ("actor_id", models.CharField(blank=True, max_length=64)),
                        ("actor_name", models.CharField(max_length=150)),
                        ("actor_roles", models.JSONField(default=list)),
                        ("source", models.CharField(max_length=16)),
                        ("verb", models.CharField(db_index=True, max_length=64)),
                        ("object_type", models.CharField(max_length=64)),
                        ("object_id", models.CharField(max_length=64)),
                        ("incident_ref", models.CharField(blank=True, db_index=True, max_length=20)),
                        ("before", models.JSONField(blank=True, null=True)),
                        ("after", models.JSONField(blank=True, null=True)),
                        ("reason", models.TextField(blank=True)),
                        ("request_id", models.CharField(blank=True, max_length=64)),
                        ("client_ip", models.CharField(blank=True, max_length=64)),
                        ("prev_hash", models.CharField(max_length=64)),
                        ("hash", models.CharField(max_length=64, unique=True)),
                    ],
                    options={
                        "db_table": "incidents_ledgerevent",
                        "ordering": ["seq"],
                        "indexes": [
                            models.Index(fields=["object_type", "object_id"], name="incidents_l_object__24ef7f_idx"),
                            models.Index(fields=["at"], name="incidents_l_at_c20a57_idx"),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
