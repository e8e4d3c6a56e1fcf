"""The ledger's models now belong to accounts (accounts 0004); state only, the tables stay."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0005_signal_open"),
        ("accounts", "0004_ledger"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="LedgerEvent"), migrations.DeleteModel(name="LedgerHead")],
            database_operations=[],
        ),
    ]
