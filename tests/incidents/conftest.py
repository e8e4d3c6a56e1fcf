import contextlib

import pytest
from django.db import connection

from accounts.models import LedgerEvent
from tests.conftest import LEDGER_TRIGGER

LEDGER = LedgerEvent._meta.db_table


@contextlib.contextmanager
def _trigger_disabled():
    """As a superuser would: switch the append-only trigger off (PostgreSQL), then back on."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {LEDGER} DISABLE TRIGGER {LEDGER_TRIGGER}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {LEDGER} ENABLE TRIGGER {LEDGER_TRIGGER}")


@pytest.fixture
def tamper():
    """Run raw SQL against the ledger behind the application's back (an attacker with SQL)."""

    def run(sql: str, params: list | None = None) -> None:
        with _trigger_disabled(), connection.cursor() as cursor:
            cursor.execute(sql.format(ledger=LEDGER), params)

    return run
