# Two commands do everything on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test test-faults test-fast lint format venv migrate demo clean compose-check

# The venv is rebuilt only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

migrate: venv
	$(PY) manage.py migrate --noinput

# Sets everything up, then starts the sandboxes, web, worker and beat. Ctrl-C stops them all.
run: migrate
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py run_demo

test: venv
	@# The browser tests (tests/e2e/test_browser.py) drive Debian's Chromium; they skip, saying so, without it.
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) || echo "chromium could not be installed: the browser tests will be skipped"
	$(PY) -m pytest --ignore=tests/faults

# The fault-injection suite (workers killed, broker and database restarted, flaky systems): each test
# starts its own PostgreSQL cluster, Redis, sandboxes and Celery workers. Not part of `make test`.
test-faults: venv
	$(PY) -m pytest tests/faults

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Validates docker/compose.yml with Debian's docker-compose, installed with apt when missing (CI runs this
# as root; there is no Docker engine here, and `config` needs none). Dummy secrets satisfy the ${VAR:?}s.
compose-check:
	@command -v docker-compose >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose; }
	SECRET_KEY=compose-check HUB_ENCRYPTION_KEYS=compose-check docker-compose -f docker/compose.yml config --quiet
	@echo "docker/compose.yml is valid"

clean:
	rm -rf data staticfiles .pytest_cache .mypy_cache .ruff_cache

# Benchmarks against the sandboxes on loopback (docs/performance.md); BENCH_SCALE=0.1 for a quick run.
# Writes bench-results/latest.json and latest.md.
.PHONY: bench
bench: venv
	$(PY) -m bench

# The two-way sync state machine with 2,000 examples instead of the normal run's 200 (several minutes).
# Checks every installed dependency against PyPI's vulnerability data. It needs pypi.org's JSON API, which a
# machine that reaches only a package mirror does not have; there pip-audit reports "could not be audited".
.PHONY: audit
audit: venv
	$(PY) -m pip install --quiet pip-audit
	$(VENV)/bin/pip-audit --strict --skip-editable

.PHONY: test-deep
test-deep: venv
	HYPOTHESIS_PROFILE=deep $(PY) -m pytest tests/workflows/sync
