# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export PORT

.PHONY: run test lint install migrate browser openapi chaos clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstalled whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --no-input -v0
	$(PY) manage.py createcachetable

# Local use: Django's debug pages on (DEBUG=false make run turns them off).
run: export DEBUG ?= true
run: migrate
	$(PY) manage.py bootstrap
	$(PY) manage.py serve --port $(PORT)

# Debian's chromium for the browser tests (never a browser download); when it
# cannot be installed (not root, offline) the browser tests skip and say why.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; then :; \
		else echo "chromium is missing and could not be installed: the browser tests will be skipped"; fi; \
	fi

test: install browser
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff (format and check) and mypy with the Django and DRF stubs; CI runs it beside `make test`.
lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Exactly once under kill -9 and a flaky GitHub (bench/chaos.py): PostgreSQL on
# 127.0.0.1:5432 and Redis on 127.0.0.1:6379, a few minutes; not part of `make test`.
chaos: install
	$(PY) -m bench.chaos $(CHAOS_ARGS)

# The committed OpenAPI document (tests/test_openapi.py fails when it is stale),
# with the fixed public URL the test expects.
openapi: install
	PUBLIC_URL=https://patchgate.example.com $(PY) manage.py spectacular --format openapi-json --file openapi.json

# Throughput and footprint side by side (bench/throughput.py; PostgreSQL and Redis on
# 127.0.0.1): wrk from Debian's package, installed when missing. BENCH_ARGS passes options.
bench: install
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq wrk; } \
		|| { echo "wrk is missing and could not be installed (apt-get install wrk)"; exit 1; }
	$(PY) -m bench.throughput $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var
