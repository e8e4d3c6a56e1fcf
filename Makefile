# Two commands do all the set-up on a fresh machine with Python >= 3.11:
#   make run   - the app with demo data (SQLite, filesystem broker, real worker and beat)
#   make test  - the whole suite (uses DATABASE_URL / REDIS_URL when set)
# Both install .venv from the hashed lock (requirements-dev.txt, a superset of requirements.txt):
# every package, pip and setuptools included, must match a sha256 in the lock, and nothing
# unlisted is pulled in (--no-deps). `make lock` regenerates the locks from requirements*.in.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

LOAD_VENV := .venv-load
# pip-compile as `make lock` runs it; LOCK_ARGS="--upgrade" (or "--upgrade-package NAME") moves pins.
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(VENV)/bin/pip-compile --quiet --generate-hashes \
	--allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS)

.PHONY: run test lint typecheck check-deploy audit lock clean

# No `pip install --upgrade pip` first: pip itself is pinned and hashed in the lock, so the venv's
# own pip installs the locked one along with everything else.
$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements-dev.txt
	$(PY) -m pip check
	touch $@

# The load test's own venv (locust), kept out of .venv and CI.
$(LOAD_VENV)/.installed-stamp: requirements-load.txt
	test -x $(LOAD_VENV)/bin/python || $(PYTHON) -m venv $(LOAD_VENV)
	$(LOAD_VENV)/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements-load.txt
	touch $@

# Regenerate the hashed locks. The runtime lock first: the dev lock is constrained by it.
lock: $(STAMP)
	$(PIP_COMPILE) --output-file requirements.txt requirements.in
	$(PIP_COMPILE) --output-file requirements-dev.txt requirements-dev.in
	$(PIP_COMPILE) --output-file requirements-load.txt requirements-load.in

# Known vulnerabilities in the locks (pip-audit); see .ci/audit.py for what each outcome means.
audit: $(STAMP)
	$(PY) .ci/audit.py

run: $(STAMP)
	$(PY) -m config.devstack

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# mypy, strict on the modules listed in pyproject.toml ([tool.mypy] files).
typecheck: $(STAMP)
	$(VENV)/bin/mypy

# Production settings must pass Django's deployment checklist.
check-deploy: $(STAMP)
	DJANGO_SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') \
	DJANGO_ALLOWED_HOSTS=failsafe.example DJANGO_DEBUG=0 $(PY) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) $(LOAD_VENV) var staticfiles
