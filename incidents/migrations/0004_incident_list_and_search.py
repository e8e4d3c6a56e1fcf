"""Incident list, search and dashboard at a million rows (issue 9).

An index in the list's order, a partial index on the few restricted incidents, a partial index
on open incidents for the dashboard, and a stored full-text search vector. On PostgreSQL a
trigger keeps the vector current on every insert and update (so bulk and raw writes are covered
too), a GIN index serves `@@`, and existing rows are filled in. SQLite keeps the column empty:
search there falls back to substring matching (incidents.selectors).
"""

import django.contrib.postgres.search
from django.conf import settings
from django.db import migrations, models


TABLE = "incidents_incident"
TRIGGER = "incidents_incident_search_vector"
FUNCTION = "incidents_incident_search_vector_update"
INDEX = "incident_search"

INSTALL = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector :=
        setweight(to_tsvector('english'::regconfig, coalesce(NEW.title, '')), 'A')
        || setweight(to_tsvector('english'::regconfig, coalesce(NEW.summary, '')), 'B');
    RETURN NEW;
END;
$$;
CREATE TRIGGER {TRIGGER}
    BEFORE INSERT OR UPDATE OF title, summary ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION {FUNCTION}();
UPDATE {TABLE} SET title = title;
CREATE INDEX {INDEX} ON {TABLE} USING gin (search_vector);
"""

REMOVE = f"""
DROP INDEX IF EXISTS {INDEX};
DROP TRIGGER IF EXISTS {TRIGGER} ON {TABLE};
DROP FUNCTION IF EXISTS {FUNCTION}();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INSTALL, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REMOVE, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0003_ledger_append_only"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="incident",
            name="search_vector",
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name="incident",
            index=models.Index(fields=["severity", "-reported_at", "-id"], name="incident_list_order"),
        ),
        migrations.AddIndex(
            model_name="incident",
            index=models.Index(condition=models.Q(("restricted", True)), fields=["id"], name="incident_restricted"),
        ),
        migrations.AddIndex(
            model_name="incident",
            index=models.Index(
                condition=models.Q(("status__in", ["reported", "triaged", "responding", "contained"])),
                fields=["severity", "-updated_at"],
                include=("restricted", "id"),
                name="incident_open",
            ),
        ),
        migrations.RunPython(install, remove, elidable=False),
    ]
