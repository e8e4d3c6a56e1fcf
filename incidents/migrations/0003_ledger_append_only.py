"""On PostgreSQL, make the ledger table append-only in the database itself (DESIGN §6).

A statement-level trigger refuses every UPDATE, DELETE and TRUNCATE on incidents_ledgerevent,
whoever runs it, so a bug or a stray console session cannot rewrite history; the hash chain
still detects what a superuser could do by disabling the trigger. Other databases (SQLite for
`make run`) rely on the hash chain alone.
"""

from django.db import migrations

TABLE = "incidents_ledgerevent"
TRIGGER = "incidents_ledgerevent_append_only"
FUNCTION = "incidents_ledgerevent_refuse_change"

INSTALL = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on {TABLE} is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Ledger events are never changed or removed; record a new event instead.';
END;
$$;
CREATE TRIGGER {TRIGGER}
    BEFORE UPDATE OR DELETE OR TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}();
"""

REMOVE = f"""
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
    dependencies = [("incidents", "0002_customer_account")]
    operations = [migrations.RunPython(install, remove, elidable=False)]
