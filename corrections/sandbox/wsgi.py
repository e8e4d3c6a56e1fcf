"""`application`: the sandbox gateway configured from the environment, for any WSGI server.

    FAILSAFE_SANDBOX_STATE_DIR=var/sandbox FAILSAFE_SANDBOX_SECRET=... \\
        gunicorn corrections.sandbox.wsgi:application --workers 1 --threads 8

One worker process only (fault injection lives in its memory). The secret must be a real one:
this path has no debug mode, so the public development secret and short secrets are refused.
`python manage.py run_sandbox_gateway` is the usual way in; it serves through serve.py instead.
"""

from __future__ import annotations

import os

from corrections.connectors.sandbox_secret import SANDBOX_SECRET_ENV, sandbox_secret_problem
from corrections.sandbox.app import create_application

STATE_DIR_ENV = "FAILSAFE_SANDBOX_STATE_DIR"


def _from_environment():
    state_dir, secret = os.environ.get(STATE_DIR_ENV), os.environ.get(SANDBOX_SECRET_ENV)
    if not state_dir:
        raise RuntimeError(f"Set {STATE_DIR_ENV} to the gateway's state directory.")
    problem = sandbox_secret_problem(secret)
    if problem:
        raise RuntimeError(f"The sandbox gateway refuses to start: {problem}.")
    return create_application(state_dir=state_dir, secret=secret)


application = _from_environment()
