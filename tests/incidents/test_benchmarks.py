"""The benchmark commands run end to end on a tiny scratch database, so a change that breaks one is
caught here rather than on the day someone needs its figures (they are not timed here)."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from tests.e2e.stack import database_url

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_bench_incidents_seeds_measures_every_page_for_both_users_and_drops_its_database(db):
    env = os.environ | {"DATABASE_URL": database_url(connection.settings_dict), "DJANGO_DEBUG": "0"}
    run = subprocess.run(
        [sys.executable, "manage.py", "bench_incidents", "--n", "100", "--requests", "2"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    rows = [line.split() for line in run.stdout.splitlines()]
    measured = {(" ".join(r[:-4]), r[-4]) for r in rows if len(r) >= 5 and r[-1].isdigit()}
    for page in ("list", "search", "detail", "API list", "API create", "dashboard", "metrics"):
        assert (page, "leadership") in measured and (page, "responder") in measured, page
    assert "dropped " in run.stdout
