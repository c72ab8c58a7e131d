# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export PORT

.PHONY: run test install migrate browser openapi clean

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

# The committed OpenAPI document (tests/test_openapi.py fails when it is stale),
# with the fixed public URL the test expects.
openapi: install
	PUBLIC_URL=https://patchgate.example.com $(PY) manage.py spectacular --format openapi-json --file openapi.json

clean:
	rm -rf $(VENV) var
